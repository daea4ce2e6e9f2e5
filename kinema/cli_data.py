"""`kinema data ...`: the real-video pipeline, scan -> split -> score -> filter -> caption -> cache (flags in,
library calls, one summary line out). Every stage is resumable, idempotent and takes `--shard I/N` and `--workers`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from kinema.cli_models import AsJson, fail, report

data_app = typer.Typer(
    help="Turn folders of real videos into training manifests and latent caches.", no_args_is_help=True
)

Out = Annotated[Path, typer.Option("-o", "--output", help="Output manifest CSV.")]
Shard = Annotated[str, typer.Option("--shard", help="I/N: this job's share of the input (writes OUT.shard-I-of-N).")]
Workers = Annotated[int, typer.Option("--workers", help="Parallel worker processes (threads for caption).")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]


def _setup(manifest: Path | None, shard: str, workers: int, out: Path) -> tuple[int, int]:
    from kinema.data.manifest import parse_shard

    if manifest is not None and not manifest.is_file():
        fail(f"manifest '{manifest}': no such file")
    if workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    if out.is_dir():
        fail(f"-o '{out}': is a folder; give a CSV file name")
    try:
        return parse_shard(shard)
    except ValueError as e:
        fail(str(e))


def _stage(stage: str, manifest: Path | None, output: Path, shard: str, workers: int, work, unit: str = "videos"):
    """Check the common flags, run `work(out, shard)` into this shard's output and print one summary line."""
    from kinema.data.manifest import rejects_path, shard_path

    sh = _setup(manifest, shard, workers, output)
    out = shard_path(output, sh)
    t0 = time.perf_counter()
    try:
        result = work(out, sh)
    except (ValueError, ImportError) as e:
        fail(str(e))
    typer.echo(
        f"{stage}: {len(result.rows)} rows to {out} ({len(result.rejects)} rejected, listed in {rejects_path(out)}); "
        f"{result.done_now} {unit} processed now in {time.perf_counter() - t0:.1f} s"
    )


@data_app.command("scan")
def scan_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Folders (searched recursively) or video files.")],
    output: Out,
    shard: Shard = "0/1",
    workers: Workers = 1,
    quiet: Quiet = False,
) -> None:
    """Probe every video: duration, frames, fps, size, codec, rotation; unreadable files go to the rejects file."""
    from kinema.data.scan import scan

    _stage("scan", None, output, shard, workers, lambda out, sh: scan(inputs, out, sh, workers, not quiet))


@data_app.command("split")
def split_cmd(
    manifest: Annotated[Path, typer.Argument(help="A manifest from `kinema data scan`.")],
    output: Out,
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="Drop scenes shorter than this.")] = 0.5,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Cut longer scenes into equal pieces.")
    ] = None,
    detector: Annotated[str, typer.Option("--detector", help="content or adaptive (PySceneDetect).")] = "content",
    threshold: Annotated[float | None, typer.Option("--threshold", help="The detector's threshold.")] = None,
    export: Annotated[Path | None, typer.Option("--export", help="Also write each clip as an MP4 here.")] = None,
    shard: Shard = "0/1",
    workers: Workers = 1,
    quiet: Quiet = False,
) -> None:
    """Cut videos into scenes at hard cuts: one (path, start, end) row per clip, nothing re-encoded by default."""
    from kinema.data.scenes import split

    def work(out, sh):
        return split(manifest, out, min_seconds, max_seconds, detector, threshold, export, sh, workers, not quiet)

    _stage("split", manifest, output, shard, workers, work)


@data_app.command("score")
def score_cmd(
    manifest: Annotated[Path, typer.Argument(help="A clips (or scan) manifest.")],
    output: Out,
    shard: Shard = "0/1",
    workers: Workers = 1,
    quiet: Quiet = False,
) -> None:
    """Add motion, sharpness, brightness, black and static columns (OpenCV; no downloaded weights)."""
    from kinema.data.scores import score

    _stage(
        "score", manifest, output, shard, workers, lambda out, sh: score(manifest, out, sh, workers, not quiet), "clips"
    )


@data_app.command("filter")
def filter_cmd(
    manifest: Annotated[Path, typer.Argument(help="Any manifest.")],
    expressions: Annotated[list[str], typer.Argument(help="Keep rows where every expression holds.")],
    output: Out,
) -> None:
    """Keep rows by expressions over the columns, e.g. 'motion > 0.5 and height >= 256'."""
    from kinema.data.select import filter_manifest

    _setup(manifest, "0/1", 1, output)
    try:
        kept, total = filter_manifest(manifest, output, expressions)
    except ValueError as e:
        fail(str(e))
    typer.echo(f"filter: kept {kept} of {total} rows in {output}")


@data_app.command("caption")
def caption_cmd(
    manifest: Annotated[Path, typer.Argument(help="A clips manifest.")],
    output: Out,
    captioner: Annotated[str, typer.Option("--captioner", help="sidecar, openai or hf.")] = "sidecar",
    model: Annotated[str | None, typer.Option("--model", help="openai: the model name; hf: a VLM folder.")] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="openai: the endpoint, up to /v1 (e.g. a local vLLM server).")
    ] = "http://localhost:8000/v1",
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="openai: env variable with the key.")] = (
        "OPENAI_API_KEY"
    ),
    frames: Annotated[int, typer.Option("--frames", help="Frames shown to the captioner per clip.")] = 4,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", help="openai: requests per minute.")] = None,
    retries: Annotated[int, typer.Option("--retries", help="openai: retries with backoff on 429/5xx.")] = 5,
    shard: Shard = "0/1",
    workers: Workers = 1,
    quiet: Quiet = False,
) -> None:
    """Recaption clips (the `text` column); raw answers are kept in OUT.responses.jsonl."""
    from kinema.data.captioners import caption, make_captioner

    if frames < 1 or retries < 0:
        fail("--frames must be at least 1 and --retries at least 0")
    options: dict = {}
    if captioner == "openai":
        options = dict(base_url=base_url, model=model, api_key=os.environ.get(api_key_env), frames=frames)
        options.update(rate_limit=rate_limit, retries=retries)
    elif captioner == "hf":
        options = dict(folder=model, frames=frames)

    def work(out, sh):
        return caption(manifest, out, make_captioner(captioner, **options), sh, workers, not quiet)

    _stage("caption", manifest, output, shard, workers, work, "clips")


@data_app.command("cache")
def cache_cmd(
    manifest: Annotated[Path, typer.Argument(help="A captioned clips manifest.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Cache folder.")],
    vae: Annotated[str, typer.Option("--vae", help="A VAE folder, a VAE run folder, or 'default'.")] = "default",
    text_encoder: Annotated[
        str, typer.Option("--text-encoder", help="minilm, a local HF encoder folder, or random (tests).")
    ] = "minilm",
    resolution: Annotated[int, typer.Option("--resolution", help="Bucket area is about this squared.")] = 256,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip at most (cut to 1 + 4k).")] = 17,
    shard_size: Annotated[int, typer.Option("--shard-size", help="Samples per safetensors shard.")] = 64,
    dtype: Annotated[str, typer.Option("--dtype", help="float32, float16 or bfloat16.")] = "bfloat16",
    shard: Shard = "0/1",
    workers: Workers = 1,
    quiet: Quiet = False,
) -> None:
    """Encode clips to VAE latents and captions to text states, in safetensors shards bucketed by shape."""
    from kinema.data.cache import cache

    if not manifest.is_file():
        fail(f"manifest '{manifest}': no such file")
    if workers < 1:
        fail(f"--workers {workers}: must be at least 1")
    from kinema.data.manifest import parse_shard

    try:
        sh = parse_shard(shard)
        t0 = time.perf_counter()
        index = cache(
            manifest, output, vae, text_encoder, resolution, frames, shard_size, dtype, sh, workers, not quiet
        )
    except (ValueError, OSError) as e:
        fail(str(e))
    shapes = sorted({tuple(s["shape"]) for s in index["shards"]})
    typer.echo(
        f"cache: {index['samples']} samples in {len(index['shards'])} shards, buckets {shapes}, "
        f"{len(index['rejects'])} rejected, in {output} ({time.perf_counter() - t0:.1f} s)"
    )


@data_app.command("merge")
def merge_cmd(
    output: Annotated[Path, typer.Argument(help="The OUT (manifest CSV or cache folder) the shards were written for.")],
) -> None:
    """Join the outputs of `--shard I/N` jobs (OUT.shard-I-of-N.csv, or a cache folder's shard indexes) into OUT."""
    from kinema.data.cache import merge_cache
    from kinema.data.manifest import merge_manifests

    try:
        if output.is_dir():
            index = merge_cache(output)
            typer.echo(f"merge: {index['samples']} samples in {len(index['shards'])} shards in {output}/index.json")
        else:
            rows, rejects = merge_manifests(output)
            typer.echo(f"merge: {rows} rows ({rejects} rejected) in {output}")
    except ValueError as e:
        fail(str(e))


@data_app.command("bench")
def bench_cmd(
    manifest: Annotated[Path, typer.Argument(help="The captioned manifest the cache was made from.")],
    cache_dir: Annotated[Path, typer.Option("--cache", help="Its latent cache folder.")],
    vae: Annotated[str, typer.Option("--vae", help="The VAE the cache was made with.")] = "default",
    steps: Annotated[int, typer.Option("--steps", help="Training steps timed per data source.")] = 5,
    batch: Annotated[int, typer.Option("--batch")] = 2,
    as_json: AsJson = False,
) -> None:
    """DiT training steps from the latent cache vs encoding the clips on the fly, side by side in one run."""
    from kinema.data.bench import cache_speed

    if steps < 1 or batch < 1:
        fail("--steps and --batch must be at least 1")
    try:
        r = cache_speed(manifest, cache_dir, vae, steps=steps, batch=batch)
    except ValueError as e:
        fail(str(e))
    report(r, as_json, "cached vs on-the-fly latents")
