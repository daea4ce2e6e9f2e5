"""Rendering speed of the world: frames per second at 64x64 on one core."""

from __future__ import annotations

import time

from .render import render
from .sample import sample_scenes


def bench(n: int = 40, seed: int = 0, width: int = 64, height: int = 64, repeats: int = 3) -> dict:
    """Render n mixed-level scenes `repeats` times; report the best pass (the machine is shared and noisy)."""
    scenes = list(sample_scenes(n, seed, width=width, height=height))
    frames = sum(s.num_frames for s in scenes)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in scenes:
            render(s)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    list(sample_scenes(n, seed + 1, width=width, height=height))
    sample_s = time.perf_counter() - t0
    return {
        "frames_per_s": round(frames / best, 1),
        "size": f"{width}x{height}",
        "frames": frames,
        "scenes": n,
        "scenes_sampled_per_s": round(n / sample_s, 1),
    }
