"""What a generation returns: frames, their rate, and how they were made; saved as a video and a contact sheet."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..io import atomic_path, write_contact_sheet, write_video

log = logging.getLogger("kinema.safety")


@dataclass
class Video:
    """uint8 frames (T, H, W, 3) at `fps`; `info` records the prompt(s), seed and settings; `guard` (the pipeline's
    kinema.safety Guard, None when safety is off) signs what save() writes."""

    frames: np.ndarray
    fps: float
    info: dict[str, Any] = field(default_factory=dict)
    guard: Any = field(default=None, repr=False, compare=False)

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    def sheet_path(self, path: str | os.PathLike) -> Path:
        """Where save() puts the contact sheet: beside the video, `<name>.sheet.png`."""
        p = Path(path)
        return p.with_name(p.stem + ".sheet.png")

    def sign(self, path: Path, title: str) -> None:
        """C2PA-sign a written file in place (model id, and the prompt where the operator keeps it)."""
        if self.guard is None or not self.guard.config.c2pa:
            return
        from kinema.safety.provenance import MIME

        if path.suffix.lower() not in MIME:
            log.warning("%s is not C2PA-signed: C2PA holds %s, not %s", title, ", ".join(MIME), path.suffix)
            return
        info = {"model_id": self.info.get("model_id", "kinema"), "prompt": self.info.get("prompt"), "title": title}
        self.guard.sign(path, info)

    def save(self, path: str | os.PathLike, sheet: bool = True) -> tuple[Path, Path | None]:
        """Write the video (format from the suffix; .png takes a single frame) and, unless told not to, a contact
        sheet beside it. Both are written atomically; with a guard the video is C2PA-signed before it appears (every
        format but .webm, which C2PA cannot hold). Returns the paths."""
        p = Path(path)
        with atomic_path(p) as tmp:
            write_video(tmp, self.frames, self.fps)
            self.sign(tmp, p.name)
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
