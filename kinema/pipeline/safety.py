"""The pipeline's safety gate (kinema.safety): the Guard it is built with, the texts it checks at the entry, and the
job key that the watermark's payload hashes at the exit."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from ..models.text import MiniLMEncoder, TextEncoder

log = logging.getLogger("kinema.safety")

Safety = Any  # None | bool | a Guard (or an object with its methods) | SafetyConfig | dict | a JSON file path


def load_guard(safety: Safety, text_encoder: TextEncoder | None = None):
    """The Guard for a pipeline's `safety=` argument: None or True, the default configuration; False, no safety at
    all (logged); a Guard (or an object with its check_prompt, check_frames, watermark and sign, and a `config`)
    as it is; a SafetyConfig, a dict or a JSON file path, that configuration. A MiniLM text
    encoder is shared with the prompt classifier instead of loading a second copy."""
    if safety is False:
        log.warning("safety is off: prompts and frames are not checked, videos are neither watermarked nor signed")
        return None
    from kinema.safety import Guard

    if isinstance(safety, Guard) or hasattr(safety, "check_prompt"):
        return safety
    shared = text_encoder if isinstance(text_encoder, MiniLMEncoder) else None
    return Guard.from_config(None if safety is True else safety, text_encoder=shared)


def check_texts(guard, texts: list[tuple[str, str]], checked: set[str]) -> None:
    """Check (what, text) pairs not checked before; raise kinema.safety.Blocked, naming what, on the first refusal."""
    from kinema.safety import Blocked

    for what, text in texts:
        if not isinstance(text, str) or not text.strip() or text in checked:
            continue
        decision = guard.check_prompt(text)
        checked.add(text)
        if not decision.allowed:
            where = "" if what == "prompt" else f" (in the {what})"
            raise Blocked(dataclasses.replace(decision, reason=decision.reason + where))


def job_key(model_id: str, info: dict) -> str:
    """What the watermark's job hash covers: the model, the prompts as generated, the seed and the settings."""
    keep = ("task", "prompts", "seed", "num_steps", "guidance", "sampler", "size", "fps", "frames")
    return json.dumps({"model": model_id, **{k: info[k] for k in keep if k in info}}, sort_keys=True)


def model_id_of(folder: str | Path) -> str:
    """A model folder's id: kinema-<folder name>."""
    return f"kinema-{Path(folder).resolve().name}"
