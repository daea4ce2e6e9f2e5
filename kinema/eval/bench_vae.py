"""`kinema bench vae`: our VAE against diffusers' AutoencoderKLWan, side by side, and memory against video length.

Speed: both models are built with random weights and matching shape (channels, depth, strides, latent channels),
then encode + decode the same clip in alternation on the same threads; frames/s and the ratio are printed.
Memory: encoding + decoding 10 s and 60 s of video, chunked, each in a fresh process; peak memory is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

from ..models.vae import PRESETS, VideoVAE


def _wan_like(preset: str):
    """diffusers' Wan VAE shaped like our preset: same base width, levels, blocks, strides and latent channels."""
    from diffusers import AutoencoderKLWan

    c = PRESETS[preset]
    mult = [ch // c.channels[0] for ch in c.channels]
    return AutoencoderKLWan(
        base_dim=c.channels[0],
        z_dim=c.latent_channels,
        dim_mult=mult,
        num_res_blocks=c.blocks,
        temperal_downsample=list(c.time_down),
        latents_mean=[0.0] * c.latent_channels,
        latents_std=[1.0] * c.latent_channels,
        scale_factor_spatial=c.spatial_stride,
        scale_factor_temporal=c.temporal_stride,
    ).eval()


@torch.no_grad()
def speed(preset: str = "tiny", frames: int = 17, size: int = 64, repeats: int = 3, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = VideoVAE(PRESETS[preset]).eval()
    theirs = _wan_like(preset)
    x = torch.rand(1, 3, frames, size, size) * 2 - 1

    def run_ours():
        ours.decode(ours.encode(x))

    def run_theirs():
        return theirs.decode(theirs.encode(x).latent_dist.mode()).sample

    best = {"ours": float("inf"), "theirs": float("inf")}
    run_ours(), run_theirs()  # warm-up
    for _ in range(repeats):
        for name, fn in (("ours", run_ours), ("theirs", run_theirs)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    f_ours, f_theirs = frames / best["ours"], frames / best["theirs"]
    return {
        "ours_frames_per_s": round(f_ours, 1),
        "diffusers_wan_frames_per_s": round(f_theirs, 1),
        "ratio": round(f_ours / f_theirs, 2),
        "params_ours_m": round(sum(p.numel() for p in ours.parameters()) / 1e6, 2),
        "params_wan_m": round(sum(p.numel() for p in theirs.parameters()) / 1e6, 2),
        "input": f"{frames}x{size}x{size}",
        "threads": threads,
    }


def _memory_child(preset: str, seconds: float, fps: float, size: int, chunk: int) -> None:
    """Run in a fresh process: encode + decode `seconds` of video chunk by chunk, as a long video streams from a
    file and to an encoder; print peak resident memory in MB."""
    import resource

    from ..models.vae import Cache

    torch.set_num_threads(1)
    vae = VideoVAE(PRESETS[preset]).eval()
    t = 1 + 4 * int(seconds * fps / 4)
    with torch.no_grad():
        cache = Cache()
        latents = [vae.encode_moments(torch.rand(1, 3, 1, size, size) * 2 - 1, cache)[0]]
        for s in range(1, t, chunk):
            n = min(chunk, t - s)
            latents.append(vae.encode_moments(torch.rand(1, 3, n, size, size) * 2 - 1, cache)[0])
        z = torch.cat(latents, 2)
        decoded = sum(part.shape[2] for part in vae.decode_chunks(z, max(1, chunk // 4)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": t, "decoded": decoded, "peak_mb": peak}))


def memory(preset: str = "tiny", fps: float = 12.0, size: int = 128, chunk: int = 16) -> dict:
    out = {}
    for secs in (10, 60):
        args = f"{preset!r}, {secs}, {fps}, {size}, {chunk}"
        code = f"from kinema.eval.bench_vae import _memory_child; _memory_child({args})"
        # Large buffers from mmap go back to the system when freed, so peak RSS reflects live tensors, not heap
        # fragmentation.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        out[f"{secs}s"] = json.loads(r.stdout.strip().splitlines()[-1])
    a, b = out["10s"]["peak_mb"], out["60s"]["peak_mb"]
    return {
        "peak_mb_10s": round(a, 1),
        "peak_mb_60s": round(b, 1),
        "ratio_60s_to_10s": round(b / a, 3),
        "frames_10s": out["10s"]["frames"],
        "frames_60s": out["60s"]["frames"],
        "size": f"{size}x{size}",
    }
