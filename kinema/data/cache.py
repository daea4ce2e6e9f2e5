"""`kinema data cache`: VAE latents and text-encoder states of captioned clips, in safetensors shards by shape.

A cache folder holds `index.json` and shards `<bucket>-<k>.safetensors`, each with `latents` (N, C, t, h, w) (the
VAE's posterior means, unscaled), `text` (N, L, D) zero-padded, `text_len` (N,), and the captions and row keys in
its metadata. A bucket is one latent shape: clips are cut to 1 + 4k frames (at most `frames`), and scaled and
centre-cropped to the aspect-ratio bucket nearest to theirs at about `resolution`^2 pixels, so every batch drawn
from one bucket stacks without padding. `CachedLatents` serves training batches from it.

The run writes `index.partial.json` after each shard, so a stopped run resumes without encoding the finished shards
again; the finished run renames it to `index.json` (or `index.shard-i-of-n.json` with `--shard`; `merge` joins them).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from ..io import atomic_path, atomic_write_text
from .manifest import ProgressBar, Result, map_units, read_manifest, row_key, shard_path, take_shard

INDEX = "index.json"
ASPECTS = (1.0, 0.75, 0.5625, 4 / 3, 16 / 9)  # height / width of the buckets: square, 4:3, 16:9 and upright ones
VERSION = 1


def is_cache(path: str | os.PathLike) -> bool:
    """True for a finished latent cache folder (one with index.json)."""
    return (Path(path) / INDEX).is_file()


def bucket_of(height: int, width: int, resolution: int, multiple: int) -> tuple[int, int]:
    """(height, width) of the aspect bucket nearest to height/width, about resolution^2 pixels, multiples of
    `multiple` (the VAE stride times 2, so latents split into 2x2 patches)."""
    ar = min(ASPECTS, key=lambda a: abs(math.log(a) - math.log(height / width)))
    h = max(multiple, round(resolution * math.sqrt(ar) / multiple) * multiple)
    w = max(multiple, round(resolution / math.sqrt(ar) / multiple) * multiple)
    return h, w


def clip_length(frames: int, max_frames: int, temporal: int) -> int:
    """The most frames of the form 1 + temporal * k that fit in min(frames, max_frames)."""
    return 1 + temporal * ((min(frames, max_frames) - 1) // temporal)


def load_frames(row: dict, resolution: int, max_frames: int, spatial: int, temporal: int) -> Result:
    """Decode one clip at its bucket's size and length (runs in worker processes)."""
    from .clips import read_clip

    h, w = bucket_of(int(row["height"]), int(row["width"]), resolution, 2 * spatial)
    end = row.get("end")
    frames, _ = read_clip(
        row["path"], float(row.get("start") or 0), None if end in (None, "") else float(end), cover=(w, h),
        max_frames=max_frames,
    )  # fmt: skip
    return Result(raw=frames[: clip_length(len(frames), max_frames, temporal)])


def make_text_encoder(name: str):
    """'minilm' (shipped weights), 'random' (tests only: no meaning), or a local Hugging Face encoder folder."""
    from ..models.text import HFTextEncoder, MiniLMEncoder, RandomTextEncoder

    if name == "minilm":
        return MiniLMEncoder()
    if name == "random":
        return RandomTextEncoder(dim=64)
    return HFTextEncoder(name)


class _Writer:
    """Per-bucket buffers flushed to shards of `shard_size` samples; the index is rewritten after every shard."""

    def __init__(self, folder: Path, prefix: str, shard_size: int, dtype: torch.dtype, header: dict, index: Path):
        self.folder, self.prefix, self.size, self.dtype, self.index_path = folder, prefix, shard_size, dtype, index
        self.header = header
        self.shards: list[dict] = []
        self.keys_done: set[str] = set()
        self.buffers: dict[tuple, list] = {}

    def add(self, key: str, latent: Tensor, text: Tensor, caption: str) -> None:
        shape = tuple(latent.shape)
        self.buffers.setdefault(shape, []).append((key, latent, text, caption))
        if len(self.buffers[shape]) >= self.size:
            self.flush(shape)

    def flush(self, shape: tuple) -> None:
        items = self.buffers.pop(shape, [])
        if not items:
            return
        name = f"{self.prefix}{'x'.join(map(str, shape[1:]))}-{sum(s['shape'] == list(shape) for s in self.shards):05d}"
        longest = max(t.shape[0] for _, _, t, _ in items)
        text = torch.zeros(len(items), longest, items[0][2].shape[1])
        for i, (_, _, t, _) in enumerate(items):
            text[i, : t.shape[0]] = t
        tensors = {
            "latents": torch.stack([z for _, z, _, _ in items]).to(self.dtype).contiguous(),
            "text": text.to(self.dtype),
            "text_len": torch.tensor([t.shape[0] for _, _, t, _ in items], dtype=torch.int32),
        }
        meta = {"captions": json.dumps([c for *_, c in items]), "keys": json.dumps([k for k, *_ in items])}
        with atomic_path(self.folder / f"{name}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        self.shards.append({"file": f"{name}.safetensors", "shape": list(shape), "n": len(items)})
        self.keys_done.update(k for k, *_ in items)
        self.write_index(self.index_path)

    def write_index(self, path: Path) -> None:
        index = {**self.header, "samples": sum(s["n"] for s in self.shards), "shards": self.shards}
        index["keys"] = sorted(self.keys_done)
        atomic_write_text(path, json.dumps(index, indent=1) + "\n")


@torch.no_grad()
def cache(
    manifest: Path,
    out: Path,
    vae_path: str = "default",
    text_encoder: str = "minilm",
    resolution: int = 256,
    frames: int = 17,
    shard_size: int = 64,
    dtype: str = "bfloat16",
    shard: tuple[int, int] = (0, 1),
    workers: int = 1,
    progress: bool = True,
    device: str | None = None,
) -> dict:
    """Encode every captioned clip of `manifest` into cache folder `out`; returns the index. Clips that cannot be
    decoded are skipped and listed in the index under `rejects`."""
    from ..eval.vae import load_vae

    if dtype not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"--dtype {dtype!r}: choose float32, float16 or bfloat16")
    if resolution < 16 or frames < 1 or shard_size < 1:
        raise ValueError("--resolution must be at least 16, --frames and --shard-size at least 1")
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o '{out}': exists and is not a folder")
    rows = take_shard(read_manifest(manifest), shard)
    vae = load_vae(vae_path).eval()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    vae.to(dev)
    enc = make_text_encoder(text_encoder)
    cfg = vae.config
    header = {
        "version": VERSION,
        "vae": {"path": str(vae_path), "config": dataclasses.asdict(cfg)},
        "text_encoder": text_encoder,
        "text_dim": enc.dim,
        "resolution": resolution,
        "frames": frames,
        "dtype": dtype,
    }
    final = shard_path(out / INDEX, shard)
    partial_index = final.with_name(final.stem + ".partial.json")
    out.mkdir(parents=True, exist_ok=True)
    prefix = "" if shard[1] == 1 else f"s{shard[0]}of{shard[1]}-"
    writer = _Writer(out, prefix, shard_size, getattr(torch, dtype), header, partial_index)
    rejects: dict[str, dict] = {}
    for old in (final, partial_index):
        if old.is_file():
            prev = json.loads(old.read_text())
            if prev.get("vae", {}).get("config") != json.loads(json.dumps(header["vae"]["config"])) or any(
                prev.get(k) != header[k] for k in ("text_encoder", "resolution", "frames", "dtype")
            ):
                raise ValueError(
                    f"cache '{out}' was made with other settings (VAE, text encoder, resolution, frames or dtype); "
                    "write to a new folder"
                )
            writer.shards, writer.keys_done, rejects = prev["shards"], set(prev["keys"]), prev.get("rejects", {})
            break
    units = [(row_key(r), r) for r in rows]
    todo = [(k, r) for k, r in units if k not in writer.keys_done]
    captions = dict(units)
    load = partial(load_frames, resolution=resolution, max_frames=frames, spatial=cfg.spatial_stride)
    load = partial(load, temporal=cfg.temporal_stride)
    from ..train.videos import to_tensor

    with ProgressBar("cache", len(units), len(units) - len(todo), progress) as advance:
        for key, res in map_units(load, todo, workers, threads=False):
            if res.reject:
                rejects[key] = {"path": captions[key]["path"], "reason": res.reject}
            else:
                x = to_tensor(res.raw)[None].to(dev)
                z = vae.encode(x, chunk=4 * cfg.temporal_stride)[0].float().cpu()
                caption = str(captions[key].get("text") or "")
                states, mask = enc.encode([caption])
                writer.add(key, z, states[0][mask[0]].float().cpu(), caption)
            advance()
    for shape in list(writer.buffers):
        writer.flush(shape)
    writer.header = {**header, "rejects": rejects}
    writer.write_index(final)
    partial_index.unlink(missing_ok=True)
    return json.loads(final.read_text())


def merge_cache(folder: Path) -> dict:
    """Join the shard indexes (index.shard-i-of-n.json) of a cache folder into index.json."""
    from .manifest import shard_parts

    parts = [json.loads(p.read_text()) for p in shard_parts(folder / INDEX)]
    head = {k: v for k, v in parts[0].items() if k not in ("shards", "keys", "samples", "rejects")}
    for p in parts[1:]:
        if {k: v for k, v in p.items() if k in head} != head:
            raise ValueError(f"merge '{folder}': the shards were made with different settings")
    index = {
        **head,
        "samples": sum(p["samples"] for p in parts),
        "shards": [s for p in parts for s in p["shards"]],
        "keys": sorted(k for p in parts for k in p["keys"]),
        "rejects": {k: v for p in parts for k, v in p.get("rejects", {}).items()},
    }
    atomic_write_text(folder / INDEX, json.dumps(index, indent=1) + "\n")
    return index


class CachedLatents:
    """Training batches from a cache: `(step, batch) -> dict(latents (B, C, t, h, w) as (z - shift) * scale,
    text (B, L, D) float, mask (B, L) bool, captions list[str])`, one bucket (shape) per batch.

    The batch at (seed, step) is always the same: a bucket drawn in proportion to its samples, then `batch` samples
    of it (without repeats while the bucket has enough). Samples are read from the memory-mapped shards on demand.
    """

    def __init__(self, cache_dir: str | os.PathLike, seed: int = 0, open_files: int = 16):
        self.folder = Path(cache_dir)
        if not is_cache(self.folder):
            raise ValueError(f"'{cache_dir}' is not a latent cache (no {INDEX}); make one with `kinema data cache`")
        self.index = json.loads((self.folder / INDEX).read_text())
        if not self.index["shards"]:
            raise ValueError(f"latent cache '{cache_dir}' holds no samples")
        vae = self.index["vae"]["config"]
        self.scale, self.shift = float(vae.get("scale", 1.0)), float(vae.get("shift", 0.0))
        self.latent_channels, self.text_dim = int(vae["latent_channels"]), int(self.index["text_dim"])
        self.seed = seed
        buckets: dict[tuple, list[tuple[int, int]]] = {}
        for s, shard in enumerate(self.index["shards"]):
            buckets.setdefault(tuple(shard["shape"]), []).extend((s, i) for i in range(shard["n"]))
        self.buckets = sorted(buckets.items())
        self._files: OrderedDict[int, Any] = OrderedDict()
        self._captions: dict[int, list[str]] = {}
        self._open = open_files

    def __len__(self) -> int:
        return int(self.index["samples"])

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [shape for shape, _ in self.buckets]

    def _file(self, s: int):
        if s not in self._files:
            f = safe_open(str(self.folder / self.index["shards"][s]["file"]), framework="pt")
            self._files[s] = f
            self._captions[s] = json.loads(f.metadata()["captions"])
            while len(self._files) > self._open:
                self._files.popitem(last=False)
        self._files.move_to_end(s)
        return self._files[s]

    def sample(self, s: int, i: int) -> tuple[Tensor, Tensor, str]:
        """Shard s, item i: scaled latent (C, t, h, w), text states (L_i, D), caption."""
        f = self._file(s)
        z = f.get_slice("latents")[i : i + 1][0].float()
        n = int(f.get_slice("text_len")[i : i + 1][0])
        text = f.get_slice("text")[i : i + 1][0, :n].float()
        return (z - self.shift) * self.scale, text, self._captions[s][i]

    def __call__(self, step: int, batch: int) -> dict[str, Any]:
        from ..models.text import pad_states

        rng = np.random.default_rng([self.seed, step])
        sizes = np.array([len(items) for _, items in self.buckets], dtype=np.float64)
        _, items = self.buckets[int(rng.choice(len(self.buckets), p=sizes / sizes.sum()))]
        picks = rng.choice(len(items), size=batch, replace=batch > len(items))
        got = [self.sample(*items[int(p)]) for p in picks]
        text, mask = pad_states([t for _, t, _ in got])
        return {
            "latents": torch.stack([z for z, _, _ in got]),
            "text": text,
            "mask": mask,
            "captions": [c for *_, c in got],
        }
