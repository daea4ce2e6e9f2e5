"""Captioners for `kinema data caption`: sidecar files, any OpenAI-compatible vision chat endpoint, a local HF VLM.

Each is a callable `row -> (caption, raw)`; `raw` (the sidecar's text, the endpoint's whole JSON answer, the model's
decoded output) is kept beside the captioned manifest.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_text, evenly_spaced
from .clips import read_clip
from .manifest import (
    CLIP_COLUMNS,
    OPEN_SORA_COLUMNS,
    Result,
    StageOutput,
    read_manifest,
    row_key,
    run_stage,
    take_shard,
    write_outputs,
)

CAPTIONERS = ("sidecar", "openai", "hf")
SIDECAR_KEYS = ("dense_caption", "caption", "text")  # in a .json sidecar (the world's own sidecars have the first)

PROMPT = (
    "These are {n} frames, in order, from one video clip of {seconds:.1f} seconds. Write one dense paragraph that "
    "describes the clip for training a text-to-video model: every visible object or person with size, colour and "
    "position (left/right, top/bottom, in front of/behind), what each one does over time and how fast, any contact "
    "or interaction and when it happens, the background and lighting, and what the camera does (still, pans, "
    "zooms, follows). State only what is visible; no guesses about story or intent. Use plain present tense, "
    "no lists and no preamble. End with: The clip lasts {seconds:.1f} seconds."
)


def clip_frames(row: dict, n: int, short_side: int | None) -> tuple[np.ndarray, float]:
    """`n` evenly spaced frames of a row's clip, and the clip's length in seconds."""
    end = row.get("end")
    frames, fps = read_clip(
        row["path"], float(row.get("start") or 0), None if end in (None, "") else float(end), short_side=short_side
    )
    return evenly_spaced(frames, n), len(frames) / fps


class SidecarCaptioner:
    """The caption in VIDEO.txt, or in VIDEO.json under one of SIDECAR_KEYS, beside the video."""

    name = ident = "sidecar"

    def __call__(self, row: dict) -> tuple[str, Any]:
        video = Path(row["path"])
        txt, js = video.with_suffix(".txt"), video.with_suffix(".json")
        if txt.is_file():
            text = txt.read_text(encoding="utf-8").strip()
            return text, text
        if js.is_file():
            meta = json.loads(js.read_text(encoding="utf-8"))
            for key in SIDECAR_KEYS:
                if isinstance(meta, dict) and isinstance(meta.get(key), str) and meta[key].strip():
                    return meta[key].strip(), {key: meta[key]}
            raise ValueError(f"sidecar '{js}' has none of the keys {', '.join(SIDECAR_KEYS)}")
        raise ValueError(f"no sidecar caption ('{txt.name}' or '{js.name}' beside the video)")


class RateLimit:
    """At most `per_minute` calls a minute across all threads (evenly spaced); None for no limit."""

    def __init__(self, per_minute: float | None):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        time.sleep(max(0.0, at - now))


class OpenAICaptioner:
    """Frames as JPEG data URLs in one chat completion per clip, to any OpenAI-compatible endpoint (`base_url` up to
    and including `/v1`). Retries 429, 5xx and network errors with exponential backoff and jitter, honouring
    Retry-After; `rate_limit` caps requests per minute over all threads."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        frames: int = 4,
        short_side: int = 384,
        retries: int = 5,
        backoff: float = 1.0,
        rate_limit: float | None = None,
        timeout: float = 120.0,
        max_tokens: int = 400,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"--base-url '{base_url}': expected an http(s) URL such as http://localhost:8000/v1")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.ident = f"openai:{self.url}:{model}"
        self.model, self.api_key, self.frames, self.short_side = model, api_key, frames, short_side
        self.retries, self.backoff, self.timeout, self.max_tokens = retries, backoff, timeout, max_tokens
        self.limit = RateLimit(rate_limit)

    def request_body(self, frames: np.ndarray, seconds: float) -> dict:
        content: list[dict] = [{"type": "text", "text": PROMPT.format(n=len(frames), seconds=seconds)}]
        for f in frames:
            content.append({"type": "image_url", "image_url": {"url": _jpeg_data_url(f)}})
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.max_tokens,
            "temperature": 0.2,
        }

    def __call__(self, row: dict) -> tuple[str, Any]:
        frames, seconds = clip_frames(row, self.frames, self.short_side)
        answer = self.post(self.request_body(frames, seconds))
        try:
            text = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"endpoint answer has no choices[0].message.content: {json.dumps(answer)[:200]}") from e
        if isinstance(text, list):  # some servers answer in content parts
            text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
        if not isinstance(text, str) or not text.strip():
            raise ValueError("endpoint answered an empty caption")
        return " ".join(text.split()), answer

    def post(self, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.retries + 1):
            self.limit.wait()
            wait = self.backoff * 2**attempt * (0.5 + random.random())
            try:
                req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as e:
                if e.code != 429 and e.code < 500:
                    raise ValueError(f"endpoint {self.url} refused the request: HTTP {e.code} {_body(e)}") from e
                error = f"HTTP {e.code} {_body(e)}"
                wait = _retry_after(e) or wait
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                error = str(getattr(e, "reason", e))
            except json.JSONDecodeError as e:
                error = f"answer is not JSON ({e})"
            if attempt < self.retries:
                time.sleep(wait)
        raise ValueError(f"endpoint {self.url}: gave up after {self.retries + 1} tries (last: {error})")


def _body(e: urllib.error.HTTPError) -> str:
    try:
        return e.read().decode(errors="replace")[:200]
    except OSError:
        return ""


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    try:
        return float(e.headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def _jpeg_data_url(frame: np.ndarray, quality: int = 90) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class HFCaptioner:
    """A local Hugging Face vision-language model folder (AutoModelForImageTextToText and its processor; chat
    template with images), greedy decoding. Loads from the folder only; never downloads."""

    name = "hf"

    def __init__(self, folder: str | Path, frames: int = 4, short_side: int = 384, max_new_tokens: int = 300):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"--model '{folder}': no such folder (give a local Hugging Face VLM folder)")
        try:
            self.processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(str(folder), local_files_only=True).eval()
        except (OSError, ValueError) as e:
            raise ValueError(f"--model '{folder}': cannot load a vision-language model from it ({e})") from e
        self.ident = f"hf:{folder.resolve()}"
        self.torch, self.frames, self.short_side, self.max_new_tokens = torch, frames, short_side, max_new_tokens
        self.lock = threading.Lock()

    def __call__(self, row: dict) -> tuple[str, Any]:
        from PIL import Image

        frames, seconds = clip_frames(row, self.frames, self.short_side)
        images = [Image.fromarray(f) for f in frames]
        content = [
            *({"type": "image"} for _ in images),
            {"type": "text", "text": PROMPT.format(n=len(images), seconds=seconds)},
        ]
        prompt = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        inputs = self.processor(text=prompt, images=images, return_tensors="pt")
        with self.lock, self.torch.no_grad():  # one generation at a time; torch uses the cores itself
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        text = self.processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
        if not text.strip():
            raise ValueError("the model generated an empty caption")
        return " ".join(text.split()), text


def make_captioner(kind: str, **options) -> SidecarCaptioner | OpenAICaptioner | HFCaptioner:
    if kind == "sidecar":
        return SidecarCaptioner()
    if kind == "openai":
        if not options.get("model"):
            raise ValueError("--captioner openai needs --model (the endpoint's model name)")
        return OpenAICaptioner(**options)
    if kind == "hf":
        if not options.get("folder"):
            raise ValueError("--captioner hf needs --model (a local VLM folder)")
        return HFCaptioner(**options)
    raise ValueError(f"--captioner {kind!r}: choose one of {', '.join(CAPTIONERS)}")


def caption_one(row: dict, captioner) -> Result:
    text, raw = captioner(row)
    return Result(rows=[{**row, "text": text, "captioner": captioner.name}], raw=raw)


def caption(
    manifest: Path, out: Path, captioner, shard: tuple[int, int] = (0, 1), workers: int = 1, progress: bool = True
) -> StageOutput:
    """Caption every clip of `manifest` into `out` (its `text` column), `workers` requests at a time (threads);
    raw answers go to OUT.responses.jsonl, clips without a caption to the rejects file."""
    rows = take_shard(read_manifest(manifest), shard)
    units = [(row_key({**r, "_captioner": captioner.ident}), r) for r in rows]
    result = run_stage("caption", units, partial(caption_one, captioner=captioner), out, workers, progress, True)
    write_outputs(out, result, (*OPEN_SORA_COLUMNS, *CLIP_COLUMNS))
    lines = "".join(json.dumps(r, default=str) + "\n" for r in result.raw)
    atomic_write_text(out.with_name(f"{out.stem}.responses.jsonl"), lines)
    return result
