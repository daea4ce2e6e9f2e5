"""`kinema train dit` and `kinema bench train`: the DiT's commands (flags in, library calls, prints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kinema.cli_models import AsJson, bench, fail, report, train
from kinema.io import VideoError


@train.command("dit")
def train_dit_cmd(
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoint, samples, log, curves).")],
    preset: Annotated[str, typer.Option("--preset", help="tiny (CPU), small, base or large.")] = "tiny",
    vae: Annotated[str, typer.Option("--vae", help="A VAE folder, a VAE run folder, or 'default'.")] = "default",
    data: Annotated[str, typer.Option("--data", help="'world', a manifest CSV, or a latent cache folder.")] = "world",
    steps: Annotated[int, typer.Option("--steps", help="Total optimiser steps.")] = 1000,
    batch: Annotated[int, typer.Option("--batch", help="Clips per step (global, over all processes).")] = 8,
    nproc: Annotated[int, typer.Option("--nproc", help="Processes on this machine (one per GPU).")] = 1,
    parallel: Annotated[str, typer.Option("--parallel", help="ddp or fsdp (FSDP2, a unit per block).")] = "ddp",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 3e-4,
    warmup: Annotated[int, typer.Option("--warmup", help="Warmup steps.")] = 100,
    every: Annotated[int, typer.Option("--every", help="Checkpoint and sample every N steps.")] = 200,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    text: Annotated[str, typer.Option("--text", help="'minilm' or a local Hugging Face encoder folder.")] = "minilm",
    text_dropout: Annotated[float, typer.Option("--text-dropout", help="Null-prompt rate (for CFG).")] = 0.1,
    context_noise: Annotated[
        float,
        typer.Option(
            "--context-noise", help="Noise conditioning frames of half the examples to a time in [0, X] (long video)."
        ),
    ] = 0.0,
    objects: Annotated[
        float,
        typer.Option(
            "--object-weight",
            help="Weigh the loss at latent positions of small objects by 1 + X x their object map (world data only), "
            "so small shapes count like large ones.",
        ),
    ] = 0.0,
    levels: Annotated[
        str | None,
        typer.Option(
            "--levels",
            help="World levels to draw scenes from, e.g. 1 or 1,2 (default all four); 1 alone is a curriculum where "
            "the object's words carry most of the loss.",
        ),
    ] = None,
    plain: Annotated[
        float,
        typer.Option(
            "--plain",
            help="Fraction of level-1 world scenes drawn as a red object on charcoal: on one palette, place words "
            "lower the loss by themselves, so a small model learns them, then keeps them on every colour.",
        ),
    ] = 0.0,
    placed: Annotated[
        float,
        typer.Option(
            "--placed",
            help="Fraction of level-1 world scenes drawn with the object clearly in one region, captioned densely, "
            "so that the caption names its place.",
        ),
    ] = 0.0,
    time_mean: Annotated[
        float,
        typer.Option(
            "--time-mean",
            help="Mean of the logit-normal training times (0 = SD3's); above 0 trains more near noise, where the "
            "layout is decided.",
        ),
    ] = 0.0,
    contrast: Annotated[
        float,
        typer.Option(
            "--contrast",
            help="Weight of the counterfactual-prompt loss: each world caption also goes in with one kind of word "
            "changed (shape, left-right or up-down, size, colour) and the model is asked to fit its video worse with "
            "it, which it can only do by reading those words; 0 = off.",
        ),
    ] = 0.0,
    contrast_beta: Annotated[
        float,
        typer.Option(
            "--contrast-beta",
            help="Sharpness of the counterfactual loss: softplus(-beta * gap) on each example's loss gap.",
        ),
    ] = 100.0,
    image_batch: Annotated[
        int | None,
        typer.Option(
            "--image-batch",
            help="Examples in a step of an image bucket (1 frame; default --batch): an image costs a fraction of a "
            "clip, so images can come in larger batches, as in joint image-video training.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="Processes that render (world) or decode (manifest) each batch, each a share of it; 0 = in the "
            "loading thread. The batches are the same either way.",
        ),
    ] = 0,
    echo: Annotated[
        int,
        typer.Option(
            "--echo",
            help="Steps each loaded batch serves, each with new times, noise and masks (data echoing: for a GPU "
            "that trains faster than batches render).",
        ),
    ] = 1,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            help="Stop after this many seconds of training, with a checkpoint and OUT/final; --resume goes on.",
        ),
    ] = None,
    stop_at: Annotated[
        int | None,
        typer.Option("--stop-at", help="Stop after this step of the --steps schedule (a --time-limit by steps)."),
    ] = None,
    checkpointing: Annotated[bool, typer.Option("--checkpointing", help="Activation checkpointing per block.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile each block.")] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast on CPU too (always on a GPU).")] = False,
    init: Annotated[
        str | None, typer.Option("--init", help="Warm start from a DiT folder (e.g. kinema/assets/dit).")
    ] = None,
    prefetch: Annotated[
        bool,
        typer.Option(
            "--prefetch/--no-prefetch",
            help="Load the next batch (render, VAE-encode, text-encode) on a background thread during the step.",
        ),
    ] = True,
    val_batches: Annotated[
        int,
        typer.Option(
            "--val-batches",
            help="Held-out batches whose loss (EMA weights, fixed times and noise) is logged as val_loss at each "
            "checkpoint; 0 = none.",
        ),
    ] = 2,
) -> None:
    """Train the diffusion transformer on VAE latents (rectified flow); the EMA weights land in OUT/final."""
    from kinema.models.dit import PRESETS
    from kinema.train.dit import train_dit

    if preset not in PRESETS:
        fail(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if min(steps, batch, every, nproc) < 1 or warmup < 0 or val_batches < 0 or not lr > 0:
        fail(
            "--steps, --batch, --every and --nproc must be at least 1, --warmup and --val-batches 0 or more and --lr "
            "positive"
        )
    if not 0 <= text_dropout < 1:
        fail(f"--text-dropout {text_dropout}: must be in [0, 1)")
    if not 0 <= context_noise < 1:
        fail(f"--context-noise {context_noise}: must be in [0, 1)")
    if data != "world" and not Path(data).exists():
        fail(f"--data '{data}': expected 'world', an existing manifest CSV or a latent cache folder")
    kw = dict(lr=lr, warmup=warmup, every=every, seed=seed, text=text, text_dropout=text_dropout)
    kw.update(checkpointing=checkpointing, compile=compile, bf16=bf16, init=init, context_noise=context_noise)
    kw.update(prefetch=prefetch, val_batches=val_batches, objects=objects, image_batch=image_batch, workers=workers)
    kw.update(echo=echo, time_limit=time_limit, stop_at=stop_at, plain=plain, placed=placed, time_mean=time_mean)
    kw.update(contrast=contrast, contrast_beta=contrast_beta)
    if levels is not None:
        try:
            kw["levels"] = tuple(int(v) for v in levels.split(","))
        except ValueError:
            fail(f"--levels {levels!r}: expected levels separated by commas, e.g. 1,2")
    try:
        run = train_dit(preset, vae, data, out, steps, batch, resume, nproc, parallel, **kw)
    except (ValueError, FloatingPointError, VideoError) as e:
        fail(str(e))
    done = json.loads((run / "checkpoint" / "state.json").read_text())["step"]
    if done < steps:
        typer.echo(f"stopped after step {done} of {steps}; --resume goes on")
    typer.echo(f"trained: {run / 'final'} (log {run / 'log.jsonl'}, curve {run / 'loss_curve.png'})")


@bench.command("train")
def bench_train_cmd(
    preset: Annotated[str, typer.Option("--preset")] = "tiny",
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens per clip (latent patches).")] = 1024,
    head_dim: Annotated[int | None, typer.Option("--head-dim", help="Override the preset's head size.")] = None,
    profile: Annotated[
        bool, typer.Option("--profile", help="Also where each model's step time goes (torch.profiler).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Our DiT vs diffusers' WanTransformer3DModel (same shape, random weights): forward + backward tokens/s."""
    from kinema.eval.bench_train import bench_train

    try:
        r = bench_train(preset, tokens, head_dim, profile=profile)
    except ImportError as e:
        fail(f"the training benchmark needs diffusers: pip install -e '.[bench]' ({e})")
    except ValueError as e:
        fail(str(e))
    report(r, as_json, f"DiT training benchmark ({preset})")
