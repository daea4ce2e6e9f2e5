"""`kinema bench train`: training speed of our DiT against diffusers' WanTransformer3DModel, side by side.

Both are built with random weights and the same width, depth, heads, FFN size, patch, text width and token count,
then run forward + backward on the same latents in alternation (bf16 autocast on a GPU); the best time of a few
repeats gives tokens/s. MFU uses our FLOPs per token (6N + attention) and the GPU's dense bf16 peak.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import torch

from ..models.dit import DiT, DiTConfig
from ..models.dit import preset as dit_preset
from ..train.dist import peak_flops


def wan_like(cfg: DiTConfig):
    """diffusers' Wan transformer shaped like our config."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=cfg.patch,
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.head_dim,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        text_dim=cfg.text_dim,
        ffn_dim=int(cfg.hidden * cfg.mlp_ratio),
        num_layers=cfg.depth,
    )


def grid_for(tokens: int, patch: tuple[int, int, int]) -> tuple[int, int, int]:
    """A latent (T, H, W) of about `tokens` patches: 4 patch frames (1 below 64 tokens), a square frame."""
    frames = 4 if tokens >= 64 else 1
    side = max(1, round(math.sqrt(tokens / frames)))
    return frames * patch[0], side * patch[1], side * patch[2]


KERNELS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")  # + every scaled_dot_product op


def kernel_profile(fn, runs: int = 2) -> dict:
    """Where a training step's time goes (torch.profiler, self time): the share spent in matmul and attention
    kernels, and the top ops. Two models built on the same kernels can differ only in the rest."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    kernels = sum(e.self_cpu_time_total for e in events if e.key in KERNELS or "scaled_dot_product" in e.key)
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]
    return {
        "kernel_share": round(kernels / total, 3),
        "top_ops": [[e.key, round(e.self_cpu_time_total / total, 3)] for e in top],
    }


def bench_train(
    preset: str = "tiny",
    tokens: int = 1024,
    head_dim: int | None = None,
    text_len: int = 32,
    repeats: int = 3,
    profile: bool = False,
) -> dict:
    """Forward + backward tokens/s of both models, their ratio, our params, FLOPs per token and MFU (GPU); with
    `profile`, also each model's kernel profile (kernel_profile) and the ratio ours would reach if all of its time
    were the matmul and attention kernels diffusers' model spends (the ceiling for equal-FLOP models)."""
    cfg = dit_preset(preset)
    if head_dim is not None:
        if head_dim <= 0 or cfg.hidden % head_dim:
            raise ValueError(f"--head-dim {head_dim}: must divide the preset's width {cfg.hidden}")
        cfg = dataclasses.replace(cfg, heads=cfg.hidden // head_dim)
    if tokens < 1:
        raise ValueError(f"--tokens {tokens}: must be at least 1")
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    ours, theirs = DiT(cfg).to(dev).train(), wan_like(cfg).to(dev).train()
    t, h, w = grid_for(tokens, cfg.patch)
    seq = (t // cfg.patch[0]) * (h // cfg.patch[1]) * (w // cfg.patch[2])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, cfg.latent_channels, t, h, w, generator=g).to(dev)
    text = torch.randn(1, text_len, cfg.text_dim, generator=g).to(dev)
    times = torch.rand(1, generator=g).to(dev)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()

    def run_ours():
        with autocast:
            out = ours(x, times, text)
        out.float().square().mean().backward()

    def run_theirs():
        with autocast:
            out = theirs(x, times * 1000, text, return_dict=False)[0]
        out.float().square().mean().backward()

    best = {"ours": math.inf, "theirs": math.inf}
    for fn in (run_ours, run_theirs):  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in (("ours", run_ours), ("theirs", run_theirs)):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - t0)
    ours_tps, theirs_tps = seq / best["ours"], seq / best["theirs"]
    flops = ours.flops_per_token(seq, text_len)
    peak = peak_flops(dev)
    result = {
        "ours_tokens_per_s": round(ours_tps, 1),
        "diffusers_tokens_per_s": round(theirs_tps, 1),
        "ratio": round(ours_tps / theirs_tps, 3),
        "params": sum(p.numel() for p in ours.parameters()),
        "flops_per_token": flops,
        "mfu": round(flops * ours_tps / peak, 4) if peak else None,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
    }
    if profile:
        mine, theirs_prof = kernel_profile(run_ours), kernel_profile(run_theirs)
        result["profile"] = {
            "ours": mine,
            "diffusers": theirs_prof,
            "ratio_ceiling": round(1 / theirs_prof["kernel_share"], 3),
        }
    return result
