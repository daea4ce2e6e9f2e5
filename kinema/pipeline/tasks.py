"""Requests checked and laid out in frames: which frames are given (images, clips to extend, keyframes, the ends
to connect), how long the result is, and which task it is. Pixel frame i belongs to latent frame ceil(i / 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import PipelineConfig, parse_size
from .script import Script
from .video import fit, resample

MODES = ("extend-forward", "extend-backward", "edit")


@dataclass
class Job:
    """A checked request in pixel frames: what to say when, how long, and what is given."""

    width: int
    height: int
    fps: float
    frames: int  # output frames
    canvas: dict[int, np.ndarray] = field(default_factory=dict)  # given frames by index
    init: np.ndarray | None = None  # edit: the source frames
    strength: float = 1.0
    loop: bool = False
    task: str = "text_to_video"
    script: Script | None = None


def latent_frames(frames: int) -> int:
    """Latent frames for `frames` pixel frames (padded up to 1 + 4k)."""
    return 1 + math.ceil((frames - 1) / 4)


def group(j: int) -> range:
    """The pixel frames latent j stands for."""
    return range(0, 1) if j == 0 else range(4 * j - 3, 4 * j + 1)


def pinned_latents(canvas: dict[int, np.ndarray], length: int) -> list[bool]:
    """For each of `length` latent frames, whether the canvas holds all its pixel frames (so it is given, not made)."""
    return [all(i in canvas for i in group(j)) for j in range(length)]


def make_job(
    cfg: PipelineConfig,
    *,
    seconds: float | None = None,
    num_frames: int | None = None,
    size: str | None = None,
    fps: float | None = None,
    image=None,
    video=None,
    mode: str | None = None,
    strength: float = 1.0,
    keyframes=None,
    connect=None,
) -> Job:
    """Check a request against what the model supports and lay its given images and videos out in frames."""
    size = size or cfg.sizes[0]
    if size.replace(" ", "").lower() not in cfg.sizes:
        raise ValueError(f"size {size} is not supported by this model; choose one of {', '.join(cfg.sizes)}")
    width, height = parse_size(size)
    fps = cfg.fps[0] if fps is None else float(fps)
    if not any(abs(fps - f) < 1e-6 for f in cfg.fps):
        raise ValueError(f"fps {fps:g} is not supported by this model; choose one of {_list(cfg.fps)}")
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode '{mode}': choose one of {', '.join(MODES)}")
    if mode is not None and video is None:
        raise ValueError(f"mode '{mode}' needs a video to work on")
    if video is not None and mode is None:
        raise ValueError(f"a video is given: say what to do with it ({', '.join(MODES)})")
    given = [n for n, v in (("video", video), ("keyframes", keyframes), ("connect", connect)) if v]
    if len(given) > 1:
        raise ValueError(f"give one of video, keyframes and connect, not {' and '.join(given)}")
    if image is not None and (video is not None or connect):
        raise ValueError("an image starts a new video: it cannot be combined with a video or connect")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds {seconds:g}: must be more than 0")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames {num_frames}: must be at least 1")

    def frames_of(s: float) -> int:
        return max(1, round(s * fps))

    def clip(v, what: str) -> np.ndarray:
        if not (isinstance(v, tuple) and len(v) == 2):
            raise ValueError(f"{what}: expected (frames, fps)")
        return fit(resample(_frames(v[0], what), float(v[1]), fps), width, height)

    new = num_frames if num_frames is not None else frames_of(seconds if seconds is not None else cfg.seconds)
    canvas: dict[int, np.ndarray] = {}
    init, task = None, "text_to_video"
    if image is not None:
        canvas[0] = fit(_frames(image, "image"), width, height)[0]
        task = "image_to_video"
    if mode == "edit":
        init = clip(video, "video")
        total, task = len(init), "edit"
    elif mode is not None:
        src = clip(video, "video")
        total = len(src) + new
        at = 0 if mode == "extend-forward" else new
        canvas.update({at + i: f for i, f in enumerate(src)})
        task = mode.replace("-", "_")
    elif connect:
        a, b = clip(connect[0], "video A"), clip(connect[1], "video B")
        total, task = len(a) + new + len(b), "connect"
        canvas.update({i: f for i, f in enumerate(a)})
        canvas.update({len(a) + new + i: f for i, f in enumerate(b)})
    elif keyframes:
        total, task = new, "keyframes"
        for t, item in sorted(keyframes, key=lambda k: k[0]):
            if not (math.isfinite(t) and 0 <= t <= total / fps):
                raise ValueError(f"keyframe at {t:g} s: must lie within the video (0 to {total / fps:g} s)")
            at = min(round(t * fps), total - 1)
            if isinstance(item, tuple):
                fr = clip(item, f"keyframe at {t:g} s")
                canvas.update({at + i: f for i, f in enumerate(fr) if at + i < total})
            else:  # a still stands for the moment around it: the 4 frames of its latent frame
                still = fit(_frames(item, f"keyframe at {t:g} s"), width, height)[0]
                j = math.ceil(at / 4)
                canvas.update({i: still for i in group(j) if i < 4 * latent_frames(total) - 3})
    else:
        total = new
    if total / fps > cfg.max_seconds + 1e-6:
        raise ValueError(f"{total / fps:.1f} s in all is beyond this model's limit of {cfg.max_seconds:g} s")
    if init is not None and not 0 < strength <= 1:
        raise ValueError(f"strength {strength:g}: must be in (0, 1]")
    complete_groups(canvas, total)
    return Job(width, height, fps, total, canvas, init, strength if init is not None else 1.0, task=task)


def complete_groups(canvas: dict[int, np.ndarray], total: int) -> None:
    """Fill in the latent frames that the given frames mostly cover, so that they are kept rather than made anew.

    A latent frame is pinned only when the canvas holds all 4 of its pixel frames, but a clip whose length is not
    1 + 4k ends (or, extended backwards, starts) part-way through a group. Where the given frames are at least half
    of the group's frames inside the video, the missing ones repeat the nearest given frame (as a keyframe still
    fills its group); pixel frames past the end of the video are cropped off and never count as missing.
    """
    for j in range(1, latent_frames(total)):
        inside = [i for i in group(j) if i < total]
        have = [i for i in inside if i in canvas]
        if not have or len(have) == len(group(j)) or 2 * len(have) < len(inside):
            continue
        for i in group(j):
            if i not in canvas:
                canvas[i] = canvas[min(have, key=lambda k: (abs(k - i), k))]


def _frames(a, what: str) -> np.ndarray:
    """uint8 frames (T, H, W, 3) from an image (H, W, 3) or frames; a clear error otherwise."""
    arr = np.asarray(a)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3 or min(arr.shape) < 1 or arr.dtype != np.uint8:
        raise ValueError(f"{what}: expected uint8 frames (H, W, 3) or (T, H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


def _list(values) -> str:
    return ", ".join(f"{v:g}" for v in values)
