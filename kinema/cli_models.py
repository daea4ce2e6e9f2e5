"""`kinema train ...`, `kinema eval ...` and `kinema vae ...`: the model commands (flags in, library calls, prints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from kinema.io import VideoError

train = typer.Typer(help="Train models (resumable runs with logs, samples and curves).", no_args_is_help=True)
evaluate = typer.Typer(help="Measure models.", no_args_is_help=True)
vae_app = typer.Typer(help="Use the video VAE.", no_args_is_help=True)

Checkpoint = Annotated[str, typer.Option("--checkpoint", help="A model folder, or 'default' (shipped).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
Refine = Annotated[
    int | None,
    typer.Option(
        "--refine",
        help="Latent refinement steps after the encoder (analysis by synthesis; 0 = one pass) [default: 10].",
        show_default=False,
    ),
]


def fail(message: str) -> NoReturn:
    """Bad input: one `error: ...` line on stderr, exit status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def report(result: dict, as_json: bool, title: str) -> None:
    """One JSON object on stdout, or a two-column table for people."""
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("measure", "value", title=title)
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


def _check_data(data: str) -> None:
    if data != "world" and not Path(data).is_file():
        fail(f"--data '{data}': expected 'world' or an existing manifest CSV")


@train.command("vae")
def train_vae_cmd(
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoint, samples, log, curves).")],
    preset: Annotated[str, typer.Option("--preset", help="tiny (CPU, 64-px world) or base (GPU).")] = "tiny",
    data: Annotated[str, typer.Option("--data", help="'world' or a manifest CSV of videos.")] = "world",
    steps: Annotated[int, typer.Option("--steps", help="Total optimiser steps.")] = 2000,
    batch: Annotated[int, typer.Option("--batch", help="Clips per step.")] = 4,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 1e-3,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    every: Annotated[int, typer.Option("--every", help="Checkpoint and sample every N steps.")] = 200,
    crop: Annotated[int, typer.Option("--crop", help="World only: train on CROP x CROP windows (0 = whole).")] = 0,
    chroma: Annotated[float, typer.Option("--chroma-weight", help="Extra loss weight on coloured pixels.")] = 0.0,
    edge: Annotated[
        float, typer.Option("--edge-weight", help="Weight of an L1 loss on pixel differences (sharper edges).")
    ] = 0.0,
    objects: Annotated[
        float,
        typer.Option(
            "--object-weight",
            help="World only: extra loss weight on small objects' pixels (from the renderer's masks), keeps shapes.",
        ),
    ] = 0.0,
    anchor: Annotated[
        float,
        typer.Option(
            "--anchor-weight",
            help="With --init, encoder trained: weight of an MSE keeping latents near the init's (a DiT reads them).",
        ),
    ] = 0.0,
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast on CPU too (always on a GPU).")] = False,
    init: Annotated[
        Path | None, typer.Option("--init", help="Warm start from a VAE folder or run (fresh optimiser/schedule).")
    ] = None,
    decoder_only: Annotated[
        bool,
        typer.Option("--decoder-only", help="Freeze the encoder (keeps the latent space a DiT was trained on)."),
    ] = False,
    encoder_only: Annotated[
        bool,
        typer.Option(
            "--encoder-only",
            help="Freeze the decoder (latents a DiT makes decode as before); the encoder learns what it loses.",
        ),
    ] = False,
    decoder_channels: Annotated[
        str | None,
        typer.Option(
            "--decoder-channels",
            help="The decoder's widths per level, encoder order (e.g. 32,64,96); grown from --init's decoder.",
        ),
    ] = None,
    decoder_blocks: Annotated[
        int | None, typer.Option("--decoder-blocks", help="Residual blocks per decoder level (default: blocks + 1).")
    ] = None,
) -> None:
    """Train a causal video VAE; the EMA weights land in OUT/final."""
    from kinema.models.vae import PRESETS
    from kinema.train.vae import train_vae

    if preset not in PRESETS:
        fail(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if steps < 1 or batch < 1 or every < 1 or not lr > 0:
        fail("--steps, --batch and --every must be at least 1 and --lr positive")
    if crop and (crop < 16 or crop > 64 or crop % 8):
        fail(f"--crop {crop}: must be 0 or a multiple of 8 from 16 to 64 (the world's smallest frames are 64 px)")
    if chroma < 0 or edge < 0:
        fail(f"--chroma-weight {chroma:g} / --edge-weight {edge:g}: must be 0 or more")
    # --object-weight and --anchor-weight are checked by train_vae itself (one error line, exit 2, nothing written)
    _check_data(data)
    dec_ch = None
    if decoder_channels is not None:
        try:
            dec_ch = tuple(int(c) for c in decoder_channels.split(","))
        except ValueError:
            fail(f"--decoder-channels {decoder_channels!r}: expected comma-separated widths, e.g. 32,64,96")
        if len(dec_ch) != len(PRESETS[preset].channels) or min(dec_ch) < 1:
            fail(
                f"--decoder-channels {decoder_channels!r}: preset {preset!r} needs "
                f"{len(PRESETS[preset].channels)} positive widths"
            )
    if decoder_blocks is not None and decoder_blocks < 1:
        fail(f"--decoder-blocks {decoder_blocks}: must be at least 1")
    try:
        run = train_vae(
            preset,
            data,
            out,
            steps=steps,
            batch=batch,
            resume=resume,
            lr=lr,
            seed=seed,
            every=every,
            crop=crop,
            chroma=chroma,
            edge=edge,
            objects=objects,
            anchor=anchor,
            bf16=bf16,
            init=init,
            decoder_only=decoder_only,
            encoder_only=encoder_only,
            decoder_channels=dec_ch,
            decoder_blocks=decoder_blocks,
        )
    except (ValueError, FloatingPointError, VideoError) as e:
        fail(str(e))
    typer.echo(f"trained: {run / 'final'} (log {run / 'log.jsonl'}, curve {run / 'loss_curve.png'})")


def _refine_steps(refine: int | None) -> int:
    """--refine: the eval's default when not given; one error line when negative."""
    from kinema.eval.vae import REFINE

    if refine is not None and refine < 0:
        fail(f"--refine {refine}: must be 0 or more")
    return REFINE if refine is None else refine


@evaluate.command("vae")
def eval_vae_cmd(
    checkpoint: Checkpoint = "default",
    n: Annotated[int, typer.Option("--n", help="Clips.")] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    data: Annotated[str, typer.Option("--data", help="'world' (held-out scenes) or a manifest CSV.")] = "world",
    refine: Refine = None,
    as_json: AsJson = False,
) -> None:
    """PSNR, SSIM, judge pass rate, compression, speed and memory of a VAE."""
    from kinema.eval.vae import eval_vae

    if n < 1:
        fail(f"--n {n}: must be at least 1")
    refine = _refine_steps(refine)
    _check_data(data)
    try:
        r = eval_vae(checkpoint, n=n, seed=seed, data=data, progress=not as_json, refine=refine)
    except (ValueError, OSError, VideoError) as e:
        fail(str(e))
    report(r, as_json, f"VAE {checkpoint} on {data}")


@vae_app.command("roundtrip")
def roundtrip_cmd(
    video: Annotated[Path, typer.Argument(help="Any video PyAV reads (or an image).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the reconstruction.")],
    checkpoint: Checkpoint = "default",
    chunk: Annotated[int, typer.Option("--chunk", help="Frames per chunk (constant memory).")] = 16,
    refine: Refine = None,
) -> None:
    """Encode and decode a video to see what the VAE keeps; prints PSNR and writes a side-by-side contact sheet."""
    from kinema.eval.metrics import psnr
    from kinema.eval.vae import load_vae, roundtrip
    from kinema.io import read_video, write_contact_sheet_rows, write_video

    refine = _refine_steps(refine)
    try:
        frames, fps = read_video(video)
        vae = load_vae(checkpoint)
        rec, z = roundtrip(vae, frames, chunk=chunk, refine=refine)
        write_video(output, rec, fps)
        write_contact_sheet_rows(output.with_suffix(".png"), [frames, rec])
    except (VideoError, ValueError) as e:
        fail(str(e))
    typer.echo(
        f"{output}: PSNR {psnr(frames, rec):.2f} dB, latent {tuple(z.shape[1:])}; sheet {output.with_suffix('.png')}"
    )


bench = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)


@bench.command("vae")
def bench_vae_cmd(
    preset: Annotated[str, typer.Option("--preset")] = "tiny",
    threads: Annotated[int, typer.Option("--threads", help="torch threads for both models.")] = 2,
    as_json: AsJson = False,
) -> None:
    """Our VAE vs diffusers' AutoencoderKLWan (same shape, random weights) in one run; memory at 10 s vs 60 s."""
    from kinema.eval import bench_vae

    try:
        r = {**bench_vae.speed(preset, threads=threads), **bench_vae.memory(preset)}
    except ImportError as e:
        fail(f"the VAE benchmark needs diffusers: pip install -e '.[bench]' ({e})")
    report(r, as_json, "VAE benchmark")


@train.command("default")
def train_default_cmd(
    out: Annotated[Path, typer.Option("--out", help="Run folder: vae/, dit/ and the assembled model/.")],
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="Recipe JSON (default: kinema/recipes/default.json).")
    ] = None,
    install: Annotated[bool, typer.Option("--install", help="Copy the model into kinema/assets when done.")] = False,
    from_assets: Annotated[
        Path | None,
        typer.Option(
            "--from-assets",
            help="A model folder with a stages.json (e.g. kinema/assets): its stages count as done, the later ones "
            "start from its weights.",
        ),
    ] = None,
) -> None:
    """Retrain the bundled default model from its recipe: VAE, latent calibration, DiT, pipeline folder."""
    from kinema.recipe import train_default

    try:
        model = train_default(out, recipe, install, from_assets=from_assets)
    except (ValueError, FloatingPointError, VideoError) as e:
        fail(str(e))
    typer.echo(f"model: {model}" + (" (installed in kinema/assets)" if install else ""))
