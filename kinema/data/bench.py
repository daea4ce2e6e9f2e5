"""What a latent cache buys: DiT training steps fed from the cache vs from clips encoded on the fly, in one run."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .cache import INDEX, CachedLatents, bucket_of, load_frames, make_text_encoder
from .manifest import read_manifest


class OnTheFlyLatents:
    """The same batches as CachedLatents promises, made the slow way: decode each clip, encode it with the VAE and
    its caption with the text encoder at every step (what a trainer without a cache does)."""

    def __init__(self, manifest: str | Path, vae, text_encoder: str, resolution: int, frames: int, seed: int = 0):
        self.rows, self.vae, self.seed = read_manifest(manifest), vae, seed
        self.encoder = make_text_encoder(text_encoder)
        self.resolution, self.frames = resolution, frames
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(self.rows):
            groups.setdefault(bucket_of(r["height"], r["width"], resolution, 2 * vae.config.spatial_stride), []).append(
                i
            )
        self.groups = [v for _, v in sorted(groups.items())]

    @torch.no_grad()
    def __call__(self, step: int, batch: int) -> dict[str, Any]:
        from ..models.text import pad_states
        from ..train.videos import to_tensor

        cfg = self.vae.config
        rng = np.random.default_rng([self.seed, step])
        sizes = np.array([len(g) for g in self.groups], dtype=np.float64)
        group = self.groups[int(rng.choice(len(self.groups), p=sizes / sizes.sum()))]
        rows = [self.rows[group[int(i)]] for i in rng.integers(len(group), size=batch)]
        clips = [
            load_frames(r, self.resolution, self.frames, cfg.spatial_stride, cfg.temporal_stride).raw for r in rows
        ]
        n = min(len(c) for c in clips)  # one shape per batch
        z = self.vae.encode(torch.stack([to_tensor(c[:n]) for c in clips]), chunk=4 * cfg.temporal_stride)
        states, mask = self.encoder.encode([str(r.get("text") or "") for r in rows])
        text, mask = pad_states([s[m] for s, m in zip(states, mask)])
        return {
            "latents": (z - cfg.shift) * cfg.scale,
            "text": text,
            "mask": mask,
            "captions": [r["text"] for r in rows],
        }


def cache_speed(manifest: Path, cache_dir: Path, vae_path: str, steps: int = 5, batch: int = 2) -> dict:
    """Seconds per DiT training step (data + forward + backward + AdamW) from the cache and on the fly, timed in
    alternation in one process so both see the same machine load; the ratio is on-the-fly / cached."""
    from ..eval.vae import load_vae
    from ..flow import flow_loss, path, sample_timesteps
    from ..models.dit import DiT, preset

    cached = CachedLatents(cache_dir, seed=0)
    index = json.loads((Path(cache_dir) / INDEX).read_text())
    vae = load_vae(vae_path).eval()
    if json.loads(json.dumps(dataclasses.asdict(vae.config))) != index["vae"]["config"]:
        raise ValueError(f"--vae '{vae_path}' is not the VAE the cache '{cache_dir}' was made with")
    fly = OnTheFlyLatents(manifest, vae, index["text_encoder"], index["resolution"], index["frames"], seed=0)
    torch.manual_seed(0)
    model = DiT(preset("tiny", latent_channels=cached.latent_channels, text_dim=cached.text_dim))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step(source, step: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        b = source(step, batch)
        t1 = time.perf_counter()
        x0 = b["latents"]
        noise = torch.randn_like(x0)
        t = sample_timesteps(x0.shape[0])
        loss = flow_loss(model(path(x0, noise, t), t, b["text"], b["mask"]), x0, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return t1 - t0, time.perf_counter() - t0

    train_step(cached, 10**9), train_step(fly, 10**9)  # warm-up: first calls pay for loading and allocation
    times = {"cached": [], "on_the_fly": []}
    data = {"cached": [], "on_the_fly": []}
    for step in range(steps):
        for name, source in (("cached", cached), ("on_the_fly", fly)):
            d, total = train_step(source, step)
            data[name].append(d)
            times[name].append(total)
    c, f = float(np.median(times["cached"])), float(np.median(times["on_the_fly"]))
    return {
        "cached_s_per_step": round(c, 4),
        "on_the_fly_s_per_step": round(f, 4),
        "speedup": round(f / c, 2),
        "cached_data_s": round(float(np.median(data["cached"])), 4),
        "on_the_fly_data_s": round(float(np.median(data["on_the_fly"])), 4),
        "steps": steps,
        "batch": batch,
        "latent_shape": list(cached(0, 1)["latents"].shape[1:]),
    }
