"""What the server asks of a video generator, and the two generators it knows.

A generator takes a `Request` (task, prompt, native size, seconds, seed, optional image or source video) and returns
a clip: anything with `.frames` (T, H, W, 3), `.fps` and `.save(path)`. It reports progress through
`on_progress(fraction)`; when that callback raises `Cancelled` (the job was deleted) the generator lets it propagate.

- `WorldGenerator`: a procedural stand-in, not a learned model. It renders a scene of the world (kinema/world) drawn
  from the prompt and seed, in `steps` progress steps of `step_delay` seconds each, so tests see real queueing,
  progress and restarts in milliseconds. Image-to-video fades from the image into the scene; extend appends a new
  scene to the source; edit blends a new scene into the source (its structure stays).
- `PipelineGenerator`: an adapter to `kinema.pipeline` (the real model): text-to-video, image-to-video, extend
  (mode extend-forward) and edit, at the model's native size closest to the one asked for. The pipeline's safety
  Guard (on by default; `safety=` as the Pipeline takes it) checks the texts and frames, watermarks the frames and
  C2PA-signs the saved video; a refusal inside it becomes `ModerationBlocked`.

`moderate(prompt)` is the moderation hook: it returns a reason when a prompt is blocked (the job then fails with the
error code `moderation_blocked`); a generator may also raise `ModerationBlocked` for frames it will not return.
`make_moderator(safety)` gives the hook for an operator's configuration (or the Guard a PipelineGenerator holds).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from kinema.io import read_video, write_video

TASKS = ("text-to-video", "image-to-video", "extend", "edit")
log = logging.getLogger("kinema.serve")


class Cancelled(Exception):
    """The job was deleted while it ran; the generator stops."""


class ModerationBlocked(Exception):
    """Safety refused the prompt or the frames; the message says why."""


@dataclass(frozen=True)
class Request:
    """One generation, in the generator's own terms (native size, seconds as a number)."""

    task: str
    prompt: str
    width: int
    height: int
    seconds: float  # the new footage's length (extend: the extension only)
    seed: int
    image: Path | None = None  # image-to-video: the first frame
    video: Path | None = None  # extend and edit: the source video


@dataclass
class Clip:
    """Frames (T, H, W, 3) uint8 at `fps`."""

    frames: np.ndarray
    fps: float

    def save(self, path: str | Path) -> None:
        write_video(path, self.frames, self.fps)


class Generator(Protocol):
    """What the server needs from a model."""

    name: str
    sizes: tuple[tuple[int, int], ...]  # native (width, height), the first one the default
    seconds: tuple[str, ...]  # native lengths accepted besides OpenAI's
    max_seconds: float  # longer requests are cut to this (documented in the API's size/seconds table)

    def generate(self, request: Request, on_progress: Callable[[float], None]) -> Any: ...


# ---------------------------------------------------------------------------------------------------- moderation


def moderate(prompt: str) -> str | None:
    """MODERATION HOOK: the reason a prompt is blocked, or None to allow it.

    Uses the safety stack (`kinema.safety.Guard`, default configuration, built once on first use) when it is
    installed; without it every prompt is allowed. The server calls this for every job before generation; frame
    checks belong to the pipeline's exit, and a generator raises `ModerationBlocked` for frames it will not return.
    """
    guard = _guard()
    if guard is None:
        return None
    decision = guard.check_prompt(prompt)
    return None if decision.allowed else decision.reason


def make_moderator(safety: Any = None) -> Callable[[str], str | None]:
    """The moderation hook for an operator's safety configuration: None, the default `moderate`; a Guard (e.g. a
    PipelineGenerator's `guard`), a SafetyConfig, a dict or a JSON file path, that Guard; False, no moderation
    (every prompt allowed, logged)."""
    if safety is None:
        return moderate
    if safety is False:
        log.warning("prompt moderation is off for this server")
        return lambda prompt: None
    from kinema.safety import Guard

    guard = safety if hasattr(safety, "check_prompt") else Guard.from_config(safety)

    def moderate_with(prompt: str) -> str | None:
        decision = guard.check_prompt(prompt)
        return None if decision.allowed else decision.reason

    return moderate_with


@functools.cache
def _guard():
    if importlib.util.find_spec("kinema.safety") is None:
        return None
    safety = importlib.import_module("kinema.safety")
    return safety.Guard.from_config(None) if hasattr(safety, "Guard") else None


# ---------------------------------------------------------------------------------------------------- world


class WorldGenerator:
    """Procedural stand-in for a model: renders world scenes (see the module docstring)."""

    name = "kinema-world"
    sizes = ((96, 64), (64, 96), (64, 64))
    seconds = ("1", "2")
    max_seconds = 40.0
    fps = 8.0

    def __init__(self, steps: int = 4, step_delay: float = 0.0):
        self.steps = steps
        self.step_delay = step_delay

    def generate(self, request: Request, on_progress: Callable[[float], None]) -> Clip:
        for i in range(self.steps):  # stands in for the sampler's steps
            time.sleep(self.step_delay)
            on_progress((i + 1) / (self.steps + 1))
        source, fps = (None, self.fps) if request.video is None else read_video(request.video)
        width, height = (request.width, request.height) if source is None else (source.shape[2], source.shape[1])
        n = max(1, round(request.seconds * fps))
        scene = self._scene(request, width, height, n / fps, fps)[:n]
        if request.task == "image-to-video" and request.image is not None:
            first = _load_rgb(request.image, width, height).astype(np.float32)
            fade = np.clip(1.0 - np.arange(n) / max(1, n // 2), 0.0, 1.0)[:, None, None, None]
            frames = fade * first + (1 - fade) * scene
        elif request.task == "extend" and source is not None:
            frames = np.concatenate([source, scene])
        elif request.task == "edit" and source is not None:
            frames = 0.5 * source + 0.5 * self._scene(request, width, height, len(source) / fps, fps)[: len(source)]
        else:
            frames = scene
        on_progress(1.0)
        return Clip(np.clip(np.asarray(frames) + 0.5, 0, 255).astype(np.uint8), fps)

    @staticmethod
    def _scene(request: Request, width: int, height: int, seconds: float, fps: float) -> np.ndarray:
        from kinema.world.render import render
        from kinema.world.sample import sample_scene

        rng = np.random.default_rng([request.seed, zlib.crc32(request.prompt.encode())])
        frames = render(sample_scene(rng, 1 + int(rng.integers(0, 2)), width, height, seconds, fps))
        need = round(seconds * fps)
        if len(frames) < need:  # the scene rounds its length; hold the last frame
            frames = np.concatenate([frames, np.repeat(frames[-1:], need - len(frames), axis=0)])
        return frames.astype(np.float32)


def _load_rgb(path: Path, width: int, height: int) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.LANCZOS))


# ---------------------------------------------------------------------------------------------------- pipeline


def pipeline_available() -> bool:
    """Whether `kinema.pipeline` (the real model) is installed."""
    return importlib.util.find_spec("kinema.pipeline") is not None


class PipelineGenerator:
    """Adapter to `kinema.pipeline.Pipeline` (a model folder, or the shipped default)."""

    MODES = {"extend": "extend-forward", "edit": "edit"}

    def __init__(self, model: str, device: str | None = None, safety: Any = None):
        from kinema.pipeline import Pipeline, load_default  # the caller checked pipeline_available()

        if model == "default":
            self.pipe = load_default(device, safety=safety)
        else:
            self.pipe = Pipeline.from_pretrained(model, device, safety=safety)
        self.name = self.pipe.model_id  # kinema-default, or kinema-<folder name>
        self.guard = self.pipe.guard  # None when safety is off
        self.sizes = tuple(parse_size(s) for s in self.pipe.config.sizes)
        self.max_seconds = float(self.pipe.config.max_seconds)
        self.seconds = (f"{self.pipe.config.seconds:g}",)  # the model's default length is accepted natively

    def generate(self, request: Request, on_progress: Callable[[float], None]) -> Any:
        size = closest_size((request.width, request.height), self.sizes)
        kwargs: dict[str, Any] = dict(seconds=request.seconds, size=f"{size[0]}x{size[1]}", seed=request.seed)
        if request.image is not None:
            kwargs["image"] = _load_rgb(request.image, *size)
        if request.video is not None:
            kwargs["video"] = read_video(request.video)
            kwargs["mode"] = self.MODES[request.task]
        from kinema.safety import Blocked

        try:  # the pipeline's Guard checks the texts and the frames inside this call
            return self.pipe(request.prompt, on_progress=on_progress, **kwargs)
        except Blocked as e:
            raise ModerationBlocked(str(e)) from None


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def closest_size(size: tuple[int, int], native: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """`size` if native, else the native size closest in aspect ratio (the larger one on a tie)."""
    if size in native:
        return size
    ratio = math.log(size[0] / size[1])
    return min(native, key=lambda s: (abs(math.log(s[0] / s[1]) - ratio), -s[0] * s[1]))


def load_generator(model: str, device: str | None = None, safety: Any = None, **world_options: Any) -> Generator:
    """'world' -> the stand-in; 'default' -> the shipped model; a folder -> that model (both need kinema.pipeline),
    with `safety` as the Pipeline takes it (None: on, the defaults).

    Raises ValueError saying what is missing (no pipeline package, no bundled default, not a folder).
    """
    if model == "world":
        return WorldGenerator(**world_options)
    if not pipeline_available():
        raise ValueError(f"--model {model}: kinema.pipeline is not installed; use --model world (the stand-in)")
    if model != "default" and not Path(model).is_dir():
        raise ValueError(f"--model {model!r}: not a folder; give a model folder, 'default' or 'world'")
    return PipelineGenerator(model, device, safety)
