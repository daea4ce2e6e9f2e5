"""Safety and provenance: prompt moderation, per-frame moderation, an invisible watermark, C2PA signing.

The pipeline's entry and exit call one `Guard`:

    guard = Guard.from_config(None)               # defaults; or a dict, a SafetyConfig, or a JSON file path
    d = guard.check_prompt(prompt)                # Decision(allowed, categories, scores, reason)
    if not d.allowed: refuse (the CLI exits 3 with d.reason)
    ... generate frames (T, H, W, 3) uint8 ...
    d = guard.release(path, frames, fps, model_id=..., job=..., prompt=prompt)
    # release = check_frames -> watermark -> write MP4 atomically -> C2PA sign; a blocked video is never written

`Guard.from_config(config, text_encoder=enc)` shares a MiniLM encoder the caller already holds (the pipeline's).
`Blocked(decision)` is what the pipeline raises for a refused prompt or video (the CLI exits 3, the server fails the
job with `moderation_blocked`).

or the steps one by one: `check_frames(frames) -> Decision`, `watermark(frames, payload) -> frames` (payload: 6
bytes from `payload(model_id, job)`), `sign(path, manifest_info)` with `manifest_info` = {"model_id", "prompt"?}.
`kinema.safety.watermark.detect(frames)` reads the mark back; `kinema.safety.provenance.read(path)` the manifest.

Modules: moderation.py (MiniLM + trained head + lists), lists.py (normalised name lists), prompt_data.py (the
shipped prompt set), frames.py (reference matching, torch plug-in), watermark.py, provenance.py, evaluate.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .moderation import Decision

log = logging.getLogger("kinema.safety")
audit = logging.getLogger("kinema.safety.audit")  # for the operator's logs; printed only where logging is configured
audit.addHandler(logging.NullHandler())
_moderation_off_shown = False  # one warning on stderr per process, however many Guards are built with moderation off


def moderation_off(why: str, shown: bool = False) -> None:
    """Record that prompt and frame moderation are off in the audit log, and warn once per process on stderr unless
    the caller has shown its own warning (`shown`)."""
    global _moderation_off_shown
    audit.warning("prompt and frame moderation are off: %s", why)
    if not (shown or _moderation_off_shown):
        log.warning("safety: prompt and frame moderation are off (research use only)")
    _moderation_off_shown = True


@dataclass
class SafetyConfig:
    """What an operator sets. Paths are local files or folders; thresholds per category: strict|default|off|float."""

    thresholds: dict[str, str | float] = field(default_factory=dict)
    people_lists: list[str] = field(default_factory=list)  # extra name files added to the shipped lists
    brand_lists: list[str] = field(default_factory=list)
    default_lists: bool = True
    head: str | None = None  # a head folder (config.json + model.safetensors); None: the shipped one
    references: str | None = None  # folder of images that must not appear in frames
    frame_classifier: str | None = None  # a TorchScript .pt or torch.export .pt2 file
    frame_classifier_categories: list[str] = field(default_factory=list)
    moderation: bool = True  # prompt and frame checks; False only for research (`--unsafe-no-filter`), logged
    frame_min_hits: int = 2  # frames a category must hit before a video is blocked
    frame_stride: int = 1  # check every n-th frame
    watermark: bool = True
    watermark_key: str = "kinema"
    c2pa: bool = True
    c2pa_chain: str | None = None  # PEM chain, leaf first; None: the local development CA
    c2pa_key: str | None = None
    c2pa_include_prompt: bool = False

    @classmethod
    def from_any(cls, config: SafetyConfig | dict | str | Path | None) -> SafetyConfig:
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, (str, Path)):
            path = Path(config)
            if not path.is_file():
                raise ValueError(f"safety config '{path}': no such file (a JSON object of SafetyConfig fields)")
            try:
                config = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ValueError(f"safety config '{path}': not valid JSON ({e})") from e
        if not isinstance(config, dict):
            raise ValueError(f"safety config: expected a dict, a JSON file or None; got {type(config).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"safety config: unknown keys {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**config)


class Blocked(Exception):
    """Safety refused a prompt or a video; `decision` says why (str(e) is its one-line reason)."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


def payload(model_id: str, job: str) -> bytes:
    """The 6-byte watermark payload: 16 bits of the model id's hash + 32 bits of the job's hash."""
    from .watermark import make_payload

    return make_payload(model_id, job)


class Guard:
    """The safety stack for one operator configuration; build it once, reuse it for every job."""

    def __init__(self, config: SafetyConfig, text_encoder=None):
        """`text_encoder`: a MiniLM encoder to share for prompt moderation (default: its own, loaded on first use)."""
        from .frames import FrameModerator, ReferenceMatcher, TorchFrameClassifier
        from .moderation import HEAD_DIR, Head, PromptModerator, load_lists
        from .watermark import Key

        self.config = config
        lists = load_lists(config.people_lists, config.brand_lists, config.default_lists)
        head = Head.load(Path(config.head) if config.head else HEAD_DIR)
        self.prompts = PromptModerator(head, lists, config.thresholds, encoder=text_encoder)
        classifiers = []
        if config.references:
            classifiers.append(ReferenceMatcher.from_folder(config.references))
        if config.frame_classifier:
            classifiers.append(TorchFrameClassifier(config.frame_classifier, config.frame_classifier_categories))
        self.frames = FrameModerator(classifiers, min_frames=config.frame_min_hits, stride=config.frame_stride)
        self.key = Key(config.watermark_key)
        if not config.moderation:
            moderation_off("a Guard built with moderation off")

    @classmethod
    def from_config(cls, config: SafetyConfig | dict | str | Path | None = None, text_encoder=None) -> Guard:
        return cls(SafetyConfig.from_any(config), text_encoder)

    def check_prompt(self, text: str) -> Decision:
        if not self.config.moderation:
            return Decision(True, [], {}, "allowed (moderation off)")
        decision = self.prompts.check(text)
        if not decision.allowed:
            log.info("prompt refused: %s", decision.reason)
        return decision

    def check_frames(self, frames: np.ndarray) -> Decision:
        if not self.config.moderation:
            return Decision(True, [], {}, "allowed (moderation off)")
        return self.frames.check(frames)

    def watermark(self, frames: np.ndarray, payload: bytes) -> np.ndarray:
        if not self.config.watermark:
            return frames
        from .watermark import embed

        return embed(frames, payload, self.key)

    def sign(self, path: str | Path, manifest_info: dict) -> None:
        """Sign an MP4 in place; manifest_info: {"model_id": str, "prompt": str (kept only if the operator allows)}."""
        if not self.config.c2pa:
            return
        from .provenance import dev_credentials, manifest, sign_file

        if self.config.c2pa_chain and self.config.c2pa_key:
            chain, key = Path(self.config.c2pa_chain), Path(self.config.c2pa_key)
        elif self.config.c2pa_chain or self.config.c2pa_key:
            raise ValueError("safety config: set both c2pa_chain and c2pa_key, or neither (development CA)")
        else:
            chain, key, _ = dev_credentials()
        prompt = manifest_info.get("prompt") if self.config.c2pa_include_prompt else None
        title = manifest_info.get("title") or Path(path).name
        sign_file(path, manifest(str(manifest_info.get("model_id", "unknown")), title, prompt), chain, key)

    def release(
        self, path: str | Path, frames: np.ndarray, fps: float, *, model_id: str, job: str, prompt: str | None = None
    ) -> Decision:
        """check_frames -> watermark -> write the MP4 -> sign, all into a temporary file renamed at the end; a blocked
        video is never written (the Decision says why)."""
        from kinema.io import atomic_path, write_video

        decision = self.check_frames(frames)
        if not decision.allowed:
            log.info("video refused: %s", decision.reason)
            return decision
        marked = self.watermark(np.asarray(frames), payload(model_id, job))
        path = Path(path)
        with atomic_path(path) as tmp:
            write_video(tmp, marked, fps)
            if path.suffix.lower() == ".mp4":
                self.sign(tmp, {"model_id": model_id, "prompt": prompt, "title": path.name})
        return decision
