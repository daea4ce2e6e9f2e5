"""`kinema train vae`: reconstruction + small KL, AdamW with warmup, EMA, exact resume, samples and curves."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..io import write_contact_sheet_rows
from ..models.folder import config_from_dict
from ..models.vae import PRESETS, VAEConfig, VideoVAE, grow_decoder, kl_divergence
from .common import append_log, ema_update, load_checkpoint, lr_at, plot_curves, save_checkpoint, truncate_log
from .videos import make_batches, to_frames


def chroma_weights(x: torch.Tensor, strength: float) -> torch.Tensor:
    """Per-pixel loss weights 1 + strength * chroma (max - min over RGB, 0..2), normalised to mean 1: small
    coloured objects weigh more than the large grey backgrounds around them, so colours are learned early."""
    w = 1.0 + strength * (x.amax(1, keepdim=True) - x.amin(1, keepdim=True))
    return w / w.mean()


def edge_l1(recon: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 distance between the horizontal and vertical pixel differences of recon and x (B, C, T, H, W): the
    error of edges and corners, which a per-pixel loss lets blur (a small star or ring decoded as a round blob).
    `weight` (broadcastable to x, mean 1) weighs each difference by the mean weight of its two pixels."""

    def grads(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return v[..., :, 1:] - v[..., :, :-1], v[..., 1:, :] - v[..., :-1, :]

    (rx, ry), (gx, gy) = grads(recon), grads(x)
    if weight is None:
        return ((rx - gx).abs().mean() + (ry - gy).abs().mean()) / 2
    wx, wy = _pair_means(weight)
    return (((rx - gx).abs() * wx).mean() + ((ry - gy).abs() * wy).mean()) / 2


def _pair_means(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of horizontally and of vertically adjacent weights: the weight of each pixel difference."""
    return (w[..., :, 1:] + w[..., :, :-1]) / 2, (w[..., 1:, :] + w[..., :-1, :]) / 2


def vae_loss(
    model: VideoVAE,
    x: torch.Tensor,
    kl_weight: float,
    chroma: float = 0.0,
    edge: float = 0.0,
    objects: float = 0.0,
    object_map: torch.Tensor | None = None,
    anchor: float = 0.0,
    anchor_mean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """L1 + MSE reconstruction (optionally chroma-weighted), plus edge * edge_l1 when asked, plus kl_weight * KL;
    returns the loss and its parts. With `objects` and the clips' small-object maps (B, 1, T, H, W), every term is
    weighted by 1 + objects * map too (the edge term included), so small objects keep their shapes. With `anchor`,
    plus anchor * MSE between the latent means and `anchor_mean` (a frozen reference encoder's)."""
    recon, mean, logvar = model(x)
    recon = recon.float()
    err = recon - x
    w = chroma_weights(x, chroma) if chroma > 0 else torch.ones_like(x[:, :1])
    if objects > 0:
        if object_map is None:
            raise ValueError("object weighting needs the clips' small-object maps (world data)")
        w = w * (1 + objects * object_map)
        w = w / w.mean()
    l1 = (err.abs() * w).mean()
    mse = F.mse_loss(recon, x)
    kl = kl_divergence(mean.float(), logvar.float())
    loss = l1 + (err.pow(2) * w).mean() + kl_weight * kl
    parts = {"l1": l1.item(), "mse": mse.item(), "kl": kl.item()}
    if anchor > 0:
        if anchor_mean is None:
            raise ValueError("an anchored loss needs the reference encoder's latent means")
        drift = F.mse_loss(mean.float(), anchor_mean.float())
        loss, parts["anchor"] = loss + anchor * drift, drift.item()
    if edge > 0:
        e = edge_l1(recon, x, w if objects > 0 else None)
        loss, parts["edge"] = loss + edge * e, e.item()
    parts["psnr"] = 10 * math.log10(4.0 / max(mse.item(), 1e-10))  # signal range 2 ([-1, 1])
    return loss, parts


def train_vae(
    preset: str,
    data: str,
    out: str | Path,
    steps: int = 2000,
    batch: int = 4,
    resume: bool = False,
    lr: float = 1e-3,
    warmup: int = 100,
    kl_weight: float = 1e-6,
    ema_decay: float = 0.999,
    seed: int = 0,
    every: int = 200,
    device: str | None = None,
    progress: bool = True,
    config: VAEConfig | None = None,
    crop: int = 0,
    chroma: float = 0.0,
    edge: float = 0.0,
    objects: float = 0.0,
    anchor: float = 0.0,
    bf16: bool = False,
    init: str | Path | None = None,
    decoder_only: bool = False,
    encoder_only: bool = False,
    decoder_channels: tuple[int, ...] | list[int] | None = None,
    decoder_blocks: int | None = None,
) -> Path:
    """Train (or resume) a VAE run in folder `out`; the EMA weights end up in out/final as a model folder.

    `init` warm-starts from a VAE folder (its weights and config, e.g. a calibrated shift/scale; fresh optimiser and
    schedule). `decoder_only` freezes the encoder: the latent space stays exactly what a diffusion model was trained
    on, while the decoder keeps learning to reconstruct (how the shipped decoder was improved after the DiT).
    `anchor` (with `init`, encoder trained) keeps the encoder's latent means near the init's by a weighted MSE: the
    encoder can learn what the decoder lacks (small shapes) while a diffusion model trained on the init's latents
    still reads the new ones. `encoder_only` freezes the decoder instead: latents a diffusion model makes decode
    exactly as before, and the encoder learns to give the latents that decoder turns into the input (small shapes
    the init's encoder loses). `decoder_channels` / `decoder_blocks` give the decoder its own widths (per level,
    encoder order) and depth; from an `init` with a smaller decoder, it is grown first with the same function
    (`grow_decoder`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose from {', '.join(PRESETS)}")
    if objects < 0 or (objects > 0 and data != "world"):
        raise ValueError(f"objects={objects:g}: object weighting is 0 or more, and needs the world data (its masks)")
    if anchor < 0 or (anchor > 0 and (init is None or decoder_only)):
        raise ValueError(
            f"anchor={anchor:g}: an anchored encoder needs --init and a trained encoder (not decoder-only)"
        )
    if decoder_only and init is None:
        raise ValueError("decoder-only training needs --init: the trained VAE whose encoder (latent space) to keep")
    if encoder_only and (init is None or decoder_only or decoder_channels is not None or decoder_blocks is not None):
        raise ValueError(
            "encoder-only training needs --init (the trained VAE whose decoder to keep), and no decoder-only, "
            "--decoder-channels or --decoder-blocks"
        )
    run = Path(out)
    if run.exists() and any(run.iterdir()) and not resume:
        raise ValueError(f"run folder '{run}' is not empty: pass --resume to continue it, or choose another --out")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    base = config or PRESETS[preset]
    if init is None:
        dc = tuple(decoder_channels) if decoder_channels is not None else base.decoder_channels
        model = VideoVAE(
            dataclasses.replace(base, decoder_channels=dc, decoder_blocks=decoder_blocks or base.decoder_blocks)
        )
    else:
        model = _load_init(init)
        if _encoder_arch(model.config) != _encoder_arch(base):
            raise ValueError(f"--init '{init}' holds another VAE shape than preset {preset!r}")
        # The decoder's shape: as asked, else the init's (a grown decoder stays grown).
        have = model.config
        want = (
            tuple(decoder_channels) if decoder_channels is not None else have.dec_channels,
            decoder_blocks or have.dec_blocks,
        )
        if want != (have.dec_channels, have.dec_blocks):
            try:
                model = grow_decoder(model, *want)
            except ValueError as e:
                raise ValueError(f"--init '{init}': its decoder cannot grow to the one asked for ({e})") from e
    model = model.to(dev).train()
    if decoder_only:
        model.encoder.requires_grad_(False)
    if encoder_only:
        model.decoder.requires_grad_(False)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    reference = copy.deepcopy(model).eval().requires_grad_(False) if anchor > 0 else None  # the init, frozen
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01, betas=(0.9, 0.99))
    start = 0
    if resume and (run / "checkpoint").exists():
        start = load_checkpoint(run, model, ema, opt)["step"]
        truncate_log(run, start)
    run.mkdir(parents=True, exist_ok=True)  # only now: a refused init or decoder leaves no empty run folder behind
    (run / "config.json").write_text(
        json.dumps(
            {
                "preset": preset,
                "vae": dataclasses.asdict(model.config),
                "data": data,
                "steps": steps,
                "batch": batch,
                "crop": crop,
                "chroma": chroma,
                "edge": edge,
                "objects": objects,
                "anchor": anchor,
                "init": str(init) if init is not None else None,
                "decoder_only": decoder_only,
                "encoder_only": encoder_only,
            }
        )
    )
    batches = make_batches(data, seed, crop=crop)
    held_out = make_batches(data, seed)  # whole frames for the sample sheets
    # bf16 autocast: always on a GPU; on a CPU when asked (fast where the CPU has bf16 units, e.g. AVX512-BF16)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda" or bf16)
    bar = _bar(progress, steps, start)
    t0, frames_seen, last_good = time.perf_counter(), 0, start
    step = start
    for step in range(start, steps):
        x, object_map = batches(step, batch, masks=True) if objects > 0 else (batches(step, batch), None)
        x = x.to(dev)
        object_map = object_map.to(dev) if object_map is not None else None
        for g in opt.param_groups:
            g["lr"] = lr_at(step, lr, warmup, steps)
        with autocast:
            ref = None
            if reference is not None:
                with torch.no_grad():
                    ref = reference.encode_moments(x)[0]
            loss, parts = vae_loss(model, x, kl_weight, chroma, edge, objects, object_map, anchor, ref)
        if not math.isfinite(loss.item()):
            bar(None, "")
            raise FloatingPointError(
                f"loss became {loss.item()} at step {step}; stopped. The last good checkpoint (step {last_good}) "
                f"is in {run / 'checkpoint'}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(trainable, 1.0).item()
        opt.step()
        ema_update(ema, model, min(ema_decay, (1 + step) / (10 + step)))  # short memory early on
        frames_seen += x.shape[0] * x.shape[2]
        fps = frames_seen / (time.perf_counter() - t0)
        if step % 10 == 0 or step == steps - 1:
            append_log(
                run,
                {
                    "step": step,
                    "loss": loss.item(),
                    **parts,
                    "grad_norm": gnorm,
                    "frames_per_s": fps,
                    "lr": opt.param_groups[0]["lr"],
                },
            )
        bar(1, f"loss {loss.item():.4f} psnr {parts['psnr']:.1f} dB {fps:.0f} frames/s")
        done = step + 1
        if done % every == 0 or done == steps:
            save_checkpoint(run, model, ema, opt, done, {"preset": preset})
            last_good = done
            _samples(run, ema, held_out, done, dev)
    bar(None, "")
    ema.save_pretrained(run / "final")
    plot_curves(run, ("loss", "l1", "mse"))
    return run


def _encoder_arch(cfg: VAEConfig) -> dict:
    """The config fields that shape the encoder (the latent space): all but the calibration and the decoder's own."""
    skip = ("shift", "scale", "decoder_channels", "decoder_blocks")
    return {f: v for f, v in dataclasses.asdict(cfg).items() if f not in skip}


def _load_init(init: str | Path) -> VideoVAE:
    """A VAE folder (config.json + model.safetensors) or a run folder (its final/)."""
    p = Path(init)
    if (p / "final" / "model.safetensors").is_file():
        p = p / "final"
    try:
        return VideoVAE.from_pretrained(p)
    except (OSError, ValueError) as e:
        raise ValueError(f"--init '{init}': not a VAE folder ({e})") from e


@torch.no_grad()
def _samples(run: Path, ema: VideoVAE, batches, step: int, dev: torch.device) -> None:
    """run/samples/step_N.png: held-out clips (top) over their EMA reconstructions (bottom)."""
    x = batches(10**9 + 7, 4).to(dev)
    y = ema(x, sample=False)[0]
    rows = [to_frames(v) for v in x] + [to_frames(v) for v in y]
    (run / "samples").mkdir(exist_ok=True)
    write_contact_sheet_rows(run / "samples" / f"step_{step:07d}.png", rows, frames_per_row=min(8, x.shape[2]))


def _bar(enabled: bool, total: int, start: int):
    if not enabled:
        return lambda k, desc: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(
        TextColumn("train vae"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    p.start()
    task = p.add_task("", total=total, completed=start)

    def step(k, desc):
        if k is None:
            p.stop()
        else:
            p.update(task, advance=k, description=desc)

    return step


def load_run_ema(run: str | Path) -> VideoVAE:
    """The EMA weights of a run's latest checkpoint (while it trains, or after)."""
    from safetensors.torch import load_file

    run = Path(run)
    cfg = json.loads((run / "config.json").read_text())["vae"]
    model = VideoVAE(config_from_dict(VAEConfig, cfg, str(run)))
    model.load_state_dict(load_file(str(run / "checkpoint" / "ema.safetensors")))
    return model.eval()
