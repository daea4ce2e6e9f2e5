"""Video batches for training: from the world stream or from a manifest of real videos, bucketed by shape.

A batch is a function of (seed, step), so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import read_video

# (width, height, frames) buckets for the world, with their weights: images, short and longer clips, 3 aspect ratios.
WORLD_BUCKETS = ((64, 64, 1, 0.15), (64, 64, 9, 0.35), (64, 64, 17, 0.25), (96, 64, 9, 0.125), (64, 96, 9, 0.125))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def to_frames(x: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).cpu().numpy()


def small_object_map(covers: list[np.ndarray], ref_area: float = 64.0, cap: float = 8.0) -> np.ndarray:
    """(T, H, W) map of how much each pixel belongs to a small object: each object's coverage times
    clip(ref_area / its mean area in pixels, 1, cap), summed. A loss weighted by 1 + s * map makes a small cross
    or star count like a large one, where a per-pixel loss lets its few pixels blur into a round blob."""
    out = np.zeros(covers[0].shape if covers else (0,), np.float32)
    for c in covers:
        per_frame = c.sum((1, 2))
        shown = per_frame > 0.5
        if shown.any():
            out += c * float(np.clip(ref_area / per_frame[shown].mean(), 1.0, cap))
    return out


class WorldBatches:
    """Batches of world clips: a bucket (size, frames) per step, then `batch` random windows of fresh scenes.

    With `crop`, each clip is a random crop x crop window of its frames: a convolutional VAE learns the same
    per-pixel map from small windows, at a fraction of the cost, and sees more scenes per step."""

    def __init__(self, seed: int = 0, buckets=WORLD_BUCKETS, fps: float = 12.0, crop: int = 0):
        self.seed, self.buckets, self.fps, self.crop = seed, buckets, fps, crop

    def __call__(self, step: int, batch: int, masks: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """`batch` clips (B, 3, T, H, W) in [-1, 1]; with `masks`, also their small-object maps (B, 1, T, H, W)."""
        from ..world.render import render
        from ..world.sample import sample_scene

        rng = np.random.default_rng([self.seed, step])
        p = np.array([b[3] for b in self.buckets])
        w, h, t, _ = self.buckets[int(rng.choice(len(self.buckets), p=p / p.sum()))]
        clips, maps = [], []
        for i in range(batch):
            r = np.random.default_rng([self.seed, step, i])
            scene = sample_scene(r, int(r.integers(1, 5)), w, h, seconds=float(r.choice([2.0, 3.0, 4.0])), fps=self.fps)
            frames, covers = render(scene, masks=True) if masks else (render(scene), [])
            s = int(r.integers(0, max(1, len(frames) - t + 1)))
            window = (slice(s, s + t), slice(None), slice(None))
            if self.crop:
                y0, x0 = int(r.integers(0, h - self.crop + 1)), int(r.integers(0, w - self.crop + 1))
                window = (window[0], slice(y0, y0 + self.crop), slice(x0, x0 + self.crop))
            clips.append(to_tensor(frames[window]))
            if masks:
                m = small_object_map(covers) if covers else np.zeros(frames.shape[:3], np.float32)
                maps.append(torch.from_numpy(m[window])[None])
        return (torch.stack(clips), torch.stack(maps)) if masks else torch.stack(clips)


class ManifestBatches:
    """Batches of random windows and crops of the videos in a manifest CSV (a `path` column, relative to the CSV)."""

    def __init__(self, manifest: str | Path, seed: int = 0, crops=((128, 128, 9),), cache: int = 8):
        self.manifest = Path(manifest)
        if not self.manifest.is_file():
            raise ValueError(f"manifest '{manifest}': no such file")
        with open(self.manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or "path" not in rows[0]:
            raise ValueError(f"manifest '{manifest}': needs a header with a 'path' column and at least one row")
        self.paths = [
            (self.manifest.parent / r["path"]) if not Path(r["path"]).is_absolute() else Path(r["path"]) for r in rows
        ]
        # Clip manifests (kinema data split/caption) name a window [start, end) in seconds of each file.
        self.windows = [
            (float(r["start"]), float(r["end"])) if r.get("start") not in (None, "") and r.get("end") else None
            for r in rows
        ]
        self._fps: dict[Path, float] = {}
        self.seed, self.crops = seed, crops
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._size = cache

    def _video(self, p: Path) -> np.ndarray:
        if p not in self._cache:
            self._cache[p], self._fps[p] = read_video(p)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(p)
        return self._cache[p]

    def __call__(self, step: int, batch: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step])
        w, h, t = self.crops[int(rng.integers(len(self.crops)))]
        out = []
        for _ in range(batch):
            k = int(rng.integers(len(self.paths)))
            v = self._video(self.paths[k])
            if self.windows[k]:
                a, b = (round(s * self._fps[self.paths[k]]) for s in self.windows[k])
                v = v[a : max(a + 1, b)]
            n = 1 + 4 * ((min(t, len(v)) - 1) // 4)
            s = int(rng.integers(0, len(v) - n + 1))
            x = to_tensor(v[s : s + n])
            scale = max(h / x.shape[2], w / x.shape[3])
            if scale > 1:  # too small for the crop: enlarge
                x = F.interpolate(x, scale_factor=(1, scale, scale), mode="trilinear", align_corners=False)
            y0 = int(rng.integers(0, x.shape[2] - h + 1))
            x0 = int(rng.integers(0, x.shape[3] - w + 1))
            x = x[:, :, y0 : y0 + h, x0 : x0 + w]
            if n < t:
                x = torch.cat([x, x[:, -1:].expand(-1, t - n, -1, -1)], 1)
            out.append(x)
        return torch.stack(out)


def make_batches(data: str, seed: int = 0, crop: int = 0):
    """'world' or a manifest CSV path; `crop` (world only) trains on crop x crop windows."""
    return WorldBatches(seed, crop=crop) if data == "world" else ManifestBatches(data, seed)
