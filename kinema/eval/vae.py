"""`kinema eval vae`: reconstruction quality, judged semantics, compression, speed and memory of a VAE."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch

from ..models.vae import VideoVAE, pad_frames
from ..train.videos import to_frames, to_tensor
from .metrics import psnr, ssim

DEFAULT_VAE = Path(__file__).resolve().parent.parent / "assets" / "vae"
# Latent refinement steps at quality encodes (eval vae, vae roundtrip): on the shipped VAE, 10 steps recover the
# small shapes its one-pass encoder loses (judge 0.973 -> 0.993 on 32 held-out clips) at about 1/20 of its speed.
REFINE = 10
EVAL_SEED_OFFSET = 1_000_003  # held-out scenes: seeds training never draws


def load_vae(checkpoint: str | Path | None = "default") -> VideoVAE:
    """A VAE folder, a training run folder (its latest EMA), or 'default' for the one shipped with the package."""
    path = DEFAULT_VAE if checkpoint in (None, "default") else Path(checkpoint)
    if (path / "checkpoint" / "ema.safetensors").is_file() and not (path / "model.safetensors").is_file():
        from ..train.vae import load_run_ema

        return load_run_ema(path)  # a training run folder: its latest EMA weights
    return VideoVAE.from_pretrained(path)


@torch.no_grad()
def roundtrip(
    vae: VideoVAE, frames: np.ndarray, chunk: int | None = None, refine: int = 0
) -> tuple[np.ndarray, torch.Tensor]:
    """Encode (with `refine` steps of latent refinement) and decode uint8 frames (T, H, W, 3) of any size and
    length; returns frames of the same shape and the latent. Frames are padded to what the VAE takes and cropped
    back."""
    x, (t, h, w) = pad_frames(to_tensor(frames)[None], vae.config.spatial_stride, vae.config.temporal_stride)
    z = vae.encode(x, chunk=chunk, refine=refine)
    y = vae.decode(z, chunk=None if chunk is None else max(1, chunk // vae.config.temporal_stride))
    return to_frames(y[0, :, :t, :h, :w]), z


def compression(vae: VideoVAE, t: int, h: int, w: int) -> float:
    c = vae.config
    lt, lh, lw = 1 + (t - 1) // c.temporal_stride, h // c.spatial_stride, w // c.spatial_stride
    return 3 * t * h * w / (c.latent_channels * lt * lh * lw)


@torch.no_grad()
def eval_vae(
    checkpoint: str | Path | None = "default",
    n: int = 32,
    seed: int = 0,
    data: str = "world",
    frames: int = 25,
    progress: bool = True,
    crop: int = 256,
    refine: int = REFINE,
) -> dict:
    """PSNR/SSIM of reconstructions, judge pass rate on them (world data), compression, speed, peak memory. Encoding
    includes `refine` steps of latent refinement (`VideoVAE.refine_latents`; 0 = the encoder's one pass), and its
    time counts in encode_frames_per_s."""
    from ..world.judge import judge
    from ..world.render import render
    from ..world.sample import sample_scenes

    vae = load_vae(checkpoint)
    clips: list[tuple[np.ndarray, object]] = []
    if data == "world":
        for s in sample_scenes(n, EVAL_SEED_OFFSET + seed, seconds=frames / 12.0, fps=12.0):
            clips.append((render(s), s))
    else:
        from ..train.videos import ManifestBatches

        mb = ManifestBatches(data, seed)
        for p in mb.paths[:n]:
            v = mb._video(p)[: 1 + 4 * ((min(len(mb._video(p)), frames) - 1) // 4)]
            h, w = v.shape[1:3]
            c = min(crop, h, w)  # a centre crop keeps real footage at a size a CPU encodes in seconds
            y0, x0 = (h - c) // 2, (w - c) // 2
            clips.append((v[:, y0 : y0 + c, x0 : x0 + c], None))
    ps, ss, passed, total = [], [], 0, 0
    by_category: dict[str, list[bool]] = {}  # the judge's checks on reconstructions, per category
    enc_t = dec_t = 0.0
    n_frames = 0
    it = clips
    if progress:
        from rich.progress import track

        it = track(clips, description="evaluating the VAE")
    for video, scene in it:
        x, (t, h, w) = pad_frames(to_tensor(video)[None], vae.config.spatial_stride, vae.config.temporal_stride)
        t0 = time.perf_counter()
        z = vae.encode(x, chunk=8, refine=refine)  # chunked: bounded memory (tested equal to whole-clip unrefined)
        t1 = time.perf_counter()
        y = vae.decode(z, chunk=2)
        t2 = time.perf_counter()
        enc_t, dec_t, n_frames = enc_t + t1 - t0, dec_t + t2 - t1, n_frames + x.shape[2]
        rec = to_frames(y[0, :, :t, :h, :w])
        ps.append(psnr(video, rec))
        ss.append(ssim(video, rec))
        if scene is not None:
            rep = judge(rec, scene.fps, scene)
            passed += sum(c.passed for c in rep.checks)
            total += len(rep.checks)
            for c in rep.checks:
                by_category.setdefault(c.category, []).append(c.passed)
    t, h, w = clips[0][0].shape[:3]
    cfg = vae.config
    return {
        "psnr": round(float(np.mean(ps)), 3),
        "ssim": round(float(np.mean(ss)), 4),
        "judge_pass": round(passed / total, 4) if total else None,
        "judge_categories": {k: round(float(np.mean(v)), 4) for k, v in by_category.items()},
        "compression": round(compression(vae, t, h, w), 2),
        "stride": [cfg.temporal_stride, cfg.spatial_stride, cfg.spatial_stride],
        "latent_channels": cfg.latent_channels,
        "encode_frames_per_s": round(n_frames / enc_t, 1),
        "decode_frames_per_s": round(n_frames / dec_t, 1),
        "peak_mem_mb": round(peak_rss_mb(), 1),
        "refine": refine,
        "n": len(clips),
        "frames": t,
        "size": f"{w}x{h}",
        "data": data,
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB); on a GPU, peak allocated device memory."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
