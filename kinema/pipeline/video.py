"""What a generation returns: frames, their rate, and how they were made; saved as a video and a contact sheet."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..io import write_contact_sheet, write_video


@dataclass
class Video:
    """uint8 frames (T, H, W, 3) at `fps`; `info` records the prompt(s), seed and settings."""

    frames: np.ndarray
    fps: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    def sheet_path(self, path: str | os.PathLike) -> Path:
        """Where save() puts the contact sheet: beside the video, `<name>.sheet.png`."""
        p = Path(path)
        return p.with_name(p.stem + ".sheet.png")

    def save(self, path: str | os.PathLike, sheet: bool = True) -> tuple[Path, Path | None]:
        """Write the video (format from the suffix; .png takes a single frame) and, unless told not to, a contact
        sheet beside it. Both are written atomically. Returns the paths."""
        p = Path(path)
        write_video(p, self.frames, self.fps)
        if not sheet:
            return p, None
        write_contact_sheet(self.sheet_path(p), self.frames)
        return p, self.sheet_path(p)


def fit(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Frames (T, H, W, 3) centre-cropped to the aspect ratio of width x height, then resized to it."""
    t, h, w, _ = frames.shape
    if (w, h) == (width, height):
        return frames
    target = width / height
    if w / h > target:  # too wide: crop the sides
        cw, ch = round(h * target), h
    else:
        cw, ch = w, round(w / target)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    out = np.empty((t, height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        im = Image.fromarray(f[y0 : y0 + ch, x0 : x0 + cw])
        out[i] = np.asarray(im.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0))
    return out


def resample(frames: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Frames at src_fps shown at dst_fps (the nearest earlier frame for each new time); a still image stays one
    frame."""
    if len(frames) == 1 or abs(src_fps - dst_fps) < 1e-6:
        return frames
    n = max(1, round(len(frames) * dst_fps / src_fps))
    idx = np.minimum((np.arange(n) * src_fps / dst_fps + 1e-6).astype(int), len(frames) - 1)
    return frames[idx]
