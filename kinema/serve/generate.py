"""What the server asks of a video generator, and the two generators it knows.

A generator takes a `Request` (task, prompt, native size, seconds, seed, optional image or source video) and returns
a clip: anything with `.frames` (T, H, W, 3), `.fps` and `.save(path)`. It reports progress through
`on_progress(fraction)`; when that callback raises `Cancelled` (the job was deleted) the generator lets it propagate.

- `WorldGenerator`: a procedural stand-in, not a learned model. It renders a scene of the world (kinema/world) drawn
  from the prompt and seed, in `steps` progress steps of `step_delay` seconds each, so tests see real queueing,
  progress and restarts in milliseconds. Image-to-video fades from the image into the scene; extend appends a new
  scene to the source; edit blends a new scene into the source (its structure stays).
- `PipelineGenerator`: an adapter to `kinema.pipeline` (the real model), used when that package is installed.

`moderate(prompt)` is the moderation hook: it returns a reason when a prompt is blocked (the job then fails with the
error code `moderation_blocked`); a generator may also raise `ModerationBlocked` for frames it will not return.
"""

from __future__ import annotations

import importlib
import importlib.util
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

    Uses `kinema.safety.moderate(text)` when the safety package is installed (a result with `.blocked`/`.allowed`
    and `.reason`, or a bool meaning allowed); without it every prompt is allowed. The server calls this for every
    job before generation; frame checks belong to the pipeline, which raises `ModerationBlocked`.
    """
    if importlib.util.find_spec("kinema.safety") is None:
        return None
    safety = importlib.import_module("kinema.safety")
    check = getattr(safety, "moderate", None)
    if check is None:
        return None
    result = check(prompt)
    if isinstance(result, bool):
        return None if result else "the prompt was blocked by moderation"
    blocked = getattr(result, "blocked", None)
    if blocked is None:
        blocked = not getattr(result, "allowed", True)
    return (getattr(result, "reason", None) or "the prompt was blocked by moderation") if blocked else None


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
    """Adapter to `kinema.pipeline`: `Pipeline.from_pretrained(dir)` or `kinema.load_default()`."""

    seconds: tuple[str, ...] = ()

    def __init__(self, model: str, device: str | None = None):
        pipeline = importlib.import_module("kinema.pipeline")
        if model == "default":
            import kinema

            self.pipe = kinema.load_default()
        else:
            self.pipe = pipeline.Pipeline.from_pretrained(model)
        if device is not None and hasattr(self.pipe, "to"):
            self.pipe = self.pipe.to(device) or self.pipe
        self.name = f"kinema-{Path(model).name}"
        self.sizes = tuple(tuple(s) for s in getattr(self.pipe, "sizes", ((96, 64), (64, 96), (64, 64))))
        self.max_seconds = float(getattr(self.pipe, "max_seconds", 8.0))

    def generate(self, request: Request, on_progress: Callable[[float], None]) -> Any:
        kwargs: dict[str, Any] = dict(
            task=request.task,
            width=request.width,
            height=request.height,
            seconds=request.seconds,
            seed=request.seed,
            on_progress=on_progress,
        )
        if request.image is not None:
            kwargs["image"] = _load_rgb(request.image, request.width, request.height)
        if request.video is not None:
            kwargs["video"] = read_video(request.video)[0]
        try:
            return self.pipe(request.prompt, **kwargs)
        except Exception as e:  # the pipeline's safety gate, whatever its module calls the error
            if "moderation" in type(e).__name__.lower() or "safety" in type(e).__name__.lower():
                raise ModerationBlocked(str(e)) from e
            raise


def load_generator(model: str, device: str | None = None, **world_options: Any) -> Generator:
    """'world' -> the stand-in; 'default' -> the shipped pipeline, or the stand-in when the pipeline is absent;
    a folder -> that pipeline model."""
    if model == "world" or (model == "default" and not pipeline_available()):
        return WorldGenerator(**world_options)
    if not pipeline_available():
        raise ValueError(f"--model {model!r}: kinema.pipeline is not installed; use --model world (the stand-in)")
    if model != "default" and not Path(model).is_dir():
        raise ValueError(f"--model {model!r}: not a folder; give a model folder, 'default' or 'world'")
    return PipelineGenerator(model, device)
