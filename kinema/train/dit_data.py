"""Captioned training examples for the DiT: the world stream, a manifest of real videos, or a precomputed latent cache.

A source is called as `source(step, batch, indices)` and returns the examples `indices` (a slice of the global
batch of `batch`) of step `step`. Every choice is drawn from (seed, step) for the batch's bucket and from
(seed, step, i) for example i, so a batch is the same whether one process or many build it, and a resumed run sees
exactly what it would have seen. Each step's batch has one (frames, height, width) bucket: aspect ratios are kept,
not cropped to a square.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..io import read_video
from .videos import WORLD_BUCKETS, small_object_map, to_tensor

LEVELS = (1, 2, 3, 4)  # the world's scene levels (kinema.world.sample)
PLAIN = ("red", "charcoal")  # the `plain` palette: every object's colour, the background's

# (width, height, frames, weight) for real footage on a GPU: square, landscape and portrait.
MANIFEST_BUCKETS = ((256, 256, 17, 1.0), (320, 192, 17, 1.0), (192, 320, 17, 1.0))
HELD_OUT_STEP = 10**9 + 7  # the step whose examples the sample sheets show; training never reaches it
VAL_STEP = 2 * 10**9 + 11  # the first of the steps whose examples give the validation loss (VAL_STEP + k)


@dataclass
class Examples:
    """Frames (B, 3, T, H, W) in [-1, 1] to encode, or latents (B, C, t, h, w) already scaled for the DiT; their
    captions; from a latent cache, the prompt states (B, L, D) with their mask (B, L); from the world with
    `objects`, the frames' small-object maps (B, 1, T, H, W) (`small_object_map`)."""

    captions: list[str]
    frames: Tensor | None = None
    latents: Tensor | None = None
    text: Tensor | None = None
    mask: Tensor | None = None
    objects: Tensor | None = None


def _pick_bucket(rng: np.random.Generator, buckets) -> int:
    """The index of a bucket, drawn by the buckets' weights."""
    p = np.array([b[3] for b in buckets], dtype=float)
    return int(rng.choice(len(buckets), p=p / p.sum()))


def check_buckets(buckets, stride: int, temporal: int, patch: tuple[int, int, int]) -> None:
    """Each bucket must encode to latents the DiT can patchify; name the nearest sizes that would."""
    m = stride * max(patch[1], patch[2])
    for w, h, t, _ in buckets:
        if w % m or h % m:
            raise ValueError(
                f"bucket {w}x{h}: width and height must be multiples of {m} (VAE stride {stride} x patch); "
                f"try {w // m * m or m}x{h // m * m or m} or {-(-w // m) * m}x{-(-h // m) * m}"
            )
        lat = 1 + (t - 1) // temporal
        if (t - 1) % temporal or lat % patch[0]:
            raise ValueError(f"bucket of {t} frames: the VAE takes 1 + {temporal}k frames that the DiT can patch")


class WorldClips:
    """World scenes with their dense captions, or (for a fraction `short_p`) their short prompts, so that both the
    recaption style and the way users type work. With `objects`, each clip also carries its small-object map (the
    renderer knows which pixel shows which object), for a loss that weighs small shapes up. `levels` are the world
    levels scenes are drawn from, evenly (all four by default; (1,) alone is one object on a plain background, a
    curriculum where the object's words carry most of the loss).

    `plain` is the fraction of level-1 scenes (one object on a solid background) recoloured to one palette, a red
    object on charcoal (`PLAIN`), captions and all. With the world's colours, knowing only where an object is does
    not lower the loss: over all colour pairs the mean image at "upper left" is the mean image anywhere, so place
    words pay off only once bound to the colour words, and a small DiT learns them very slowly. On one palette they
    pay off alone, and in a probe what was learnt there carried over to the world's colours.

    `placed` is the fraction of level-1 scenes drawn again until their object lies clearly inside one region of the
    frame, so that their dense caption (never the short prompt) names its place. A caption that does not name the
    place teaches that it can be anywhere; when most do not, place words were not learnt at all (measured)."""

    def __init__(
        self,
        seed: int = 0,
        buckets=WORLD_BUCKETS,
        fps: float = 12.0,
        short_p: float = 0.3,
        objects: bool = False,
        levels: tuple[int, ...] = LEVELS,
        plain: float = 0.0,
        placed: float = 0.0,
    ):
        if not levels or not set(levels) <= set(LEVELS):
            raise ValueError(f"--levels {','.join(map(str, levels))}: choose among {', '.join(map(str, LEVELS))}")
        for name, value in (("plain", plain), ("placed", placed)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name} {value}: must be a fraction in [0, 1]")
        self.seed, self.buckets, self.fps, self.short_p, self.objects = seed, buckets, fps, short_p, objects
        self.levels, self.plain, self.placed = tuple(levels), plain, placed

    def bucket_at(self, step: int) -> tuple:
        """The (width, height, frames, weight) bucket of step `step`'s batch."""
        return self.buckets[_pick_bucket(np.random.default_rng([self.seed, step]), self.buckets)]

    def scene(self, r: np.random.Generator, w: int, h: int, t: int):
        """The scene behind one clip of t frames at w x h. A clip is a whole scene, so its caption describes exactly
        what the clip shows (an image: the first frame of one)."""
        return self._draw(r, w, h, t)[0]

    def _draw(self, r: np.random.Generator, w: int, h: int, t: int):
        """(scene, whether its dense caption must be used: a `placed` draw)."""
        from ..world.sample import sample_scene
        from ..world.vocab import region_name

        seconds = t / self.fps if t > 1 else float(r.choice([2.0, 3.0, 4.0]))
        level = self.levels[int(r.integers(0, len(self.levels)))]  # all four levels: the stream of earlier stages
        scene = sample_scene(r, level, w, h, seconds=seconds, fps=self.fps)
        placed = self.placed > 0 and level == 1 and r.random() < self.placed
        span = (w / scene.unit, h / scene.unit)
        while placed and any(region_name(o.x, o.y, *span) is None for o in scene.shots[0].objects):
            scene = sample_scene(r, level, w, h, seconds=seconds, fps=self.fps)
        if self.plain > 0 and level == 1 and r.random() < self.plain:
            for shot in scene.shots:
                shot.background.kind, shot.background.colors = "solid", [PLAIN[1]]
                for obj in shot.objects:
                    obj.color = PLAIN[0]
        return scene, placed

    def __call__(self, step: int, batch: int, indices: range) -> Examples:
        from ..world.caption import dense_caption, short_prompt
        from ..world.render import render

        w, h, t, _ = self.bucket_at(step)
        clips, captions, maps = [], [], []
        for i in indices:
            r = np.random.default_rng([self.seed, step, i])
            scene, placed = self._draw(r, w, h, t)
            frames, covers = render(scene, masks=True) if self.objects else (render(scene), [])
            # an image is the scene's first frame, where its caption places things ("in the upper left corner"), not
            # a frame part way along their paths
            s = 0 if t == 1 else int(r.integers(0, max(1, len(frames) - t + 1)))
            clips.append(to_tensor(frames[s : s + t]))
            short = r.random() < self.short_p and not placed
            captions.append(short_prompt(scene) if short else dense_caption(scene))
            if self.objects:
                m = small_object_map(covers) if covers else np.zeros(frames.shape[:3], np.float32)
                maps.append(torch.from_numpy(m[s : s + t])[None])
        return Examples(captions, frames=torch.stack(clips), objects=torch.stack(maps) if maps else None)


class ManifestClips:
    """Videos of a manifest CSV (`path` relative to it, `text` the caption, optional `short_prompt`). Each video
    belongs to the bucket nearest its aspect ratio; a step draws a bucket, then its videos, scaled to cover the
    bucket (a small centre-weighted random crop takes what is left over) and padded in time by the last frame."""

    def __init__(self, manifest: str | Path, seed: int = 0, buckets=MANIFEST_BUCKETS, short_p: float = 0.3):
        self.manifest = Path(manifest)
        if not self.manifest.is_file():
            raise ValueError(f"manifest '{manifest}': no such file")
        with open(self.manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or "path" not in rows[0] or "text" not in rows[0]:
            raise ValueError(f"manifest '{manifest}': needs a header with 'path' and 'text' columns and a row")
        self.rows = rows
        self.seed, self.short_p = seed, short_p
        aspects = np.array([w / h for w, h, _, _ in buckets])
        groups: dict[int, list[int]] = {}
        for k in range(len(rows)):
            w, h = self._size(k)
            groups.setdefault(int(np.abs(np.log(aspects) - np.log(w / h)).argmin()), []).append(k)
        self.buckets = [(*buckets[b][:3], buckets[b][3] * len(v)) for b, v in sorted(groups.items())]
        self.members = [v for _, v in sorted(groups.items())]

    def _path(self, k: int) -> Path:
        p = Path(self.rows[k]["path"])
        return p if p.is_absolute() else self.manifest.parent / p

    def _size(self, k: int) -> tuple[int, int]:
        row = self.rows[k]
        if row.get("width") and row.get("height"):
            return int(float(row["width"])), int(float(row["height"]))
        v = self._video(k)
        return v.shape[2], v.shape[1]

    @functools.lru_cache(maxsize=8)  # noqa: B019 (the source lives as long as its run)
    def _video(self, k: int) -> np.ndarray:
        return read_video(self._path(k))[0]

    def _bucket_index(self, step: int) -> int:
        return _pick_bucket(np.random.default_rng([self.seed, step]), self.buckets)

    def bucket_at(self, step: int) -> tuple:
        """The (width, height, frames, weight) bucket of step `step`'s batch."""
        return self.buckets[self._bucket_index(step)]

    def __call__(self, step: int, batch: int, indices: range) -> Examples:
        b = self._bucket_index(step)
        w, h, t = self.buckets[b][:3]
        clips, captions = [], []
        for i in indices:
            r = np.random.default_rng([self.seed, step, i])
            k = self.members[b][int(r.integers(len(self.members[b])))]
            v = self._video(k)
            s = int(r.integers(0, max(1, len(v) - t + 1)))
            x = to_tensor(v[s : s + t]).transpose(0, 1)  # (T, 3, H, W)
            scale = max(h / x.shape[2], w / x.shape[3])
            size = (max(h, round(x.shape[2] * scale)), max(w, round(x.shape[3] * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            y0, x0 = int(r.integers(0, size[0] - h + 1)), int(r.integers(0, size[1] - w + 1))
            x = x[:, :, y0 : y0 + h, x0 : x0 + w].transpose(0, 1)  # (3, T, h, w)
            if x.shape[1] < t:
                x = torch.cat([x, x[:, -1:].expand(-1, t - x.shape[1], -1, -1)], 1)
            clips.append(x)
            short = self.rows[k].get("short_prompt")
            captions.append(short if short and r.random() < self.short_p else self.rows[k]["text"])
        return Examples(captions, frames=torch.stack(clips))


class CachedSource:
    """A precomputed latent cache (kinema.data.cache): latents and prompt states straight from disk."""

    def __init__(self, path: str | Path, seed: int = 0):
        from ..data.cache import CachedLatents

        self.cache = CachedLatents(path, seed)

    def __call__(self, step: int, batch: int, indices: range) -> Examples:
        d = self.cache(step, batch)  # the global batch; this process keeps its slice
        sl = slice(indices.start, indices.stop)
        return Examples(list(d["captions"][sl]), latents=d["latents"][sl], text=d["text"][sl], mask=d["mask"][sl])


def _one_thread() -> None:
    torch.set_num_threads(1)


class ParallelSource:
    """A world or manifest source whose batches are built by `workers` processes, each taking a contiguous share of
    the examples: rendering (or decoding) is most of a step's loading, and it is a pure function of (seed, step, i),
    so a batch is the same as the source alone builds it. Close it (or use it as a context manager) to stop them."""

    def __init__(self, source, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if not hasattr(source, "bucket_at"):
            raise ValueError("--workers builds world or manifest batches in parallel; a latent cache is read in line")
        self.source, self.workers = source, workers
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread
        )

    def __getattr__(self, name):  # bucket_at, buckets, ...
        return getattr(self.__dict__["source"], name)

    def __call__(self, step: int, batch: int, indices: range) -> Examples:
        k = -(-len(indices) // self.workers)
        parts = [indices[i : i + k] for i in range(0, len(indices), k)]
        done = [f.result() for f in [self.pool.submit(self.source, step, batch, p) for p in parts]]
        objects = [e.objects for e in done if e.objects is not None]
        return Examples(
            [c for e in done for c in e.captions],
            frames=torch.cat([e.frames for e in done]),
            objects=torch.cat(objects) if objects else None,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_cache(path: Path) -> bool:
    try:
        from ..data.cache import is_cache
    except ImportError:
        return False
    return is_cache(path)


def make_source(
    data: str,
    seed: int = 0,
    buckets=None,
    objects: bool = False,
    levels: tuple[int, ...] | None = None,
    plain: float = 0.0,
    placed: float = 0.0,
):
    """'world', a manifest CSV, or a latent cache folder -> a source (see the module docstring); `objects`: the
    world's clips carry their small-object maps too; `levels`: the world levels drawn from (default all); `plain`,
    `placed`: fractions of level-1 scenes in one palette, and with their place named (WorldClips)."""
    if data == "world":
        levels = tuple(levels or LEVELS)
        return WorldClips(seed, buckets or WORLD_BUCKETS, objects=objects, levels=levels, plain=plain, placed=placed)
    if levels:
        raise ValueError("--levels picks world scenes: it needs --data world")
    if plain or placed:
        raise ValueError("--plain and --placed pick world scenes: they need --data world")
    p = Path(data)
    if p.is_dir() and _is_cache(p):
        return CachedSource(p, seed)
    if p.is_file():
        return ManifestClips(p, seed, buckets or MANIFEST_BUCKETS)
    raise ValueError(f"--data '{data}': expected 'world', a manifest CSV or a latent cache folder")
