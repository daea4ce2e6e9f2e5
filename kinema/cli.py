"""The `kinema` command: parses flags, calls library functions, prints.

Bad input (an unknown level, a malformed size, a missing or unreadable file) prints one `error: ...` line on stderr
and exits with status 2. The world's heavier modules are imported inside the commands that use them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import kinema
import kinema.cli_dit  # noqa: F401 (registers `train dit` and `bench train`)
import kinema.cli_generate
import kinema.cli_safety
from kinema import cli_data, cli_models, cli_serve
from kinema.io import VideoError, atomic_write_text, evenly_spaced, read_video, write_contact_sheet_rows, write_video
from kinema.world.scene import Scene
from kinema.world.vocab import LEVELS

SHEET_FRAMES = 8  # frames per clip in the contact sheet of `world sample`
SHEET_MAX_ROWS = 64  # clips shown in that sheet (the first ones); `world dataset` is for bulk

app = typer.Typer(
    help="Kinema: an open text-to-video system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
world = typer.Typer(help="The procedural video world: sample scenes, judge videos against them.", no_args_is_help=True)
app.add_typer(world, name="world")
app.add_typer(cli_models.train, name="train")
app.add_typer(cli_models.evaluate, name="eval")
app.add_typer(cli_models.vae_app, name="vae")
app.add_typer(cli_models.bench, name="bench")
app.command("generate")(kinema.cli_generate.generate)  # also registers `eval generate`
app.add_typer(cli_data.data_app, name="data")
app.command("serve")(cli_serve.serve)
kinema.cli_safety.register(app)  # moderate, detect, verify, safety ...

out = Console()
err = Console(stderr=True)

N = Annotated[int, typer.Option("--n", help="Number of scenes.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed; scene i is drawn from (seed, i).")]
Level = Annotated[int | None, typer.Option("--level", help="Difficulty 1-4 (default: mixed).")]
Size = Annotated[str, typer.Option("--size", help="Frame size WIDTHxHEIGHT.")]
Seconds = Annotated[float | None, typer.Option("--seconds", help="Clip length (default: the level's).")]
Fps = Annotated[float, typer.Option("--fps", help="Frames per second.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def parse_size(text: str) -> tuple[int, int]:
    """'96x64' -> (96, 64): width then height, both at least 1."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"size '{text}': expected WIDTHxHEIGHT, e.g. 96x64")
    width, height = int(m.group(1)), int(m.group(2))
    if width < 1 or height < 1:
        raise ValueError(f"size '{text}': width and height must be at least 1, e.g. 64x64")
    return width, height


def _world_args(n: int, seed: int, level: int | None, size: str, seconds: float | None, fps: float) -> dict[str, Any]:
    """Check the flags shared by `sample` and `dataset`; return them as keyword arguments of the world's sampler."""
    if n < 1:
        cli_models.fail(f"--n {n}: must be at least 1")
    if seed < 0:
        cli_models.fail(f"--seed {seed}: must be 0 or more")
    if level is not None and level not in LEVELS:
        cli_models.fail(f"--level {level}: unknown level; choose one of {', '.join(map(str, LEVELS))}")
    try:
        width, height = parse_size(size)
    except ValueError as e:
        cli_models.fail(str(e))
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        cli_models.fail(f"--seconds {seconds:g}: must be a positive number of seconds")
    if not (math.isfinite(fps) and fps > 0):
        cli_models.fail(f"--fps {fps:g}: must be a positive number")
    args = dict(seed=seed, level=level, width=width, height=height, seconds=seconds, fps=fps)
    from kinema.world.sample import sample_scenes

    try:  # the sampler checks the rest (e.g. its minimum size) when it draws the first scene
        next(sample_scenes(1, **args))
    except ValueError as e:
        cli_models.fail(str(e))
    return args


def _check_out_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        cli_models.fail(f"--out '{path}': exists and is not a folder")


def _load_scene(path: Path) -> Scene:
    if not path.is_file():
        cli_models.fail(f"scene file '{path}': no such file")
    try:
        return Scene.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        cli_models.fail(f"scene file '{path}': not a valid scene JSON ({e})")


def _load_video(path: Path) -> tuple[Any, float]:
    try:
        return read_video(path)
    except VideoError as e:
        cli_models.fail(str(e))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kinema {kinema.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Kinema: an open text-to-video system."""


@world.command()
def sample(
    n: N = 4,
    seed: Seed = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("samples"),
    level: Level = None,
    size: Size = "64x64",
    seconds: Seconds = None,
    fps: Fps = 12.0,
) -> None:
    """Sample scenes, render them and write <id>.mp4, <id>.json (scene + captions) and contact_sheet.png."""
    args = _world_args(n, seed, level, size, seconds, fps)
    _check_out_dir(out_dir)
    from kinema.world.caption import dense_caption, short_prompt
    from kinema.world.render import render
    from kinema.world.sample import sample_scenes

    rows, total_seconds = [], 0.0
    with Progress(console=err) as progress:
        task = progress.add_task("rendering", total=n)
        for scene in sample_scenes(n, **args):
            frames = render(scene)
            write_video(out_dir / f"{scene.id}.mp4", frames, scene.fps)
            record = {
                "scene": scene.to_dict(),
                "dense_caption": dense_caption(scene),
                "short_prompt": short_prompt(scene),
            }
            atomic_write_text(out_dir / f"{scene.id}.json", json.dumps(record, indent=2) + "\n")
            if len(rows) < SHEET_MAX_ROWS:
                rows.append(evenly_spaced(frames, SHEET_FRAMES))
            total_seconds += scene.seconds
            progress.advance(task)
    write_contact_sheet_rows(out_dir / "contact_sheet.png", rows, frames_per_row=SHEET_FRAMES)
    typer.echo(
        f"wrote {n} clips ({args['width']}x{args['height']}, {total_seconds:.1f} s in all) to {out_dir}/: "
        "<id>.mp4, <id>.json and contact_sheet.png"
    )


@world.command()
def judge(
    video: Annotated[Path, typer.Argument(help="The video to judge.")],
    scene: Annotated[Path, typer.Option("--scene", help="The scene JSON it should show.")],
    as_json: AsJson = False,
) -> None:
    """Check a video against its scene; prints a report (exit status 0 whether or not it passes)."""
    scene_obj = _load_scene(scene)
    frames, fps = _load_video(video)
    from kinema.world.judge import judge as judge_video

    report = judge_video(frames, fps, scene_obj)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    table = Table("category", "claim", "passed", "evidence")
    for c in report.checks:
        table.add_row(c.category, c.claim, "yes" if c.passed else "NO", json.dumps(c.evidence, default=str))
    out.print(table)
    passed = sum(c.passed for c in report.checks)
    verdict = "passed" if report.passed else "FAILED"
    out.print(f"{verdict}: score {report.score:.3f}, {passed}/{len(report.checks)} checks pass")


@world.command("validate-judge")
def validate_judge(n: N = 50, seed: Seed = 0, as_json: AsJson = False) -> None:
    """Measure the judge: how often it passes true videos and catches mismatched ones, per category."""
    if n < 1:
        cli_models.fail(f"--n {n}: must be at least 1")
    if seed < 0:
        cli_models.fail(f"--seed {seed}: must be 0 or more")
    from kinema.world.validate import validate_judge as run_validation

    result = run_validation(n, seed, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result))
        return
    categories = result["categories"]
    metrics = list(dict.fromkeys(k for stats in categories.values() for k in stats))
    table = Table("category", *metrics, title=f"judge validation, n={result['n']}")
    for name, stats in categories.items():
        table.add_row(name, *(_fmt(stats.get(k)) for k in metrics))
    out.print(table)


@world.command()
def bench(as_json: AsJson = False) -> None:
    """Time the world's renderer."""
    from kinema.world.bench import bench as run_bench

    cli_models.report(run_bench(), as_json, "world bench")


@world.command()
def dataset(
    n: N,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")],
    seed: Seed = 0,
    level: Level = None,
    size: Size = "64x64",
    seconds: Seconds = None,
    fps: Fps = 12.0,
) -> None:
    """Write a dataset of rendered scenes with captions and a manifest; prints the manifest's path."""
    args = _world_args(n, seed, level, size, seconds, fps)
    _check_out_dir(out_dir)
    from kinema.world.stream import write_dataset

    manifest = write_dataset(out_dir, n, progress=True, **args)
    typer.echo(str(manifest))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3f}"
    return "" if value is None else str(value)
