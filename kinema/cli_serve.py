"""`kinema serve`: the HTTP server (OpenAI's Videos API and a web page) over a persistent job queue.

Safety is on: `--safety CONFIG.json` (SafetyConfig fields) goes to every pipeline, and the server's prompt check uses
the first pipeline's Guard (one MiniLM); `--unsafe-no-filter` turns prompt and frame moderation off (logged).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from kinema.cli_models import fail
from kinema.cli_safety import SafetyFile, UnsafeNoFilter


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (without API keys: loopback only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    model: Annotated[
        str, typer.Option("--model", help="A model folder, 'default' (the shipped model) or 'world' (the procedural "
                          "stand-in, no model).")
    ] = "default",
    db: Annotated[Path, typer.Option("--db", help="SQLite job database; files go beside it.")] = Path(
        "kinema-serve/jobs.db"
    ),
    workers: Annotated[int, typer.Option("--workers", help="Worker threads (one per GPU); 0: one per GPU.")] = 0,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", envvar="KINEMA_API_KEYS", help="Accepted bearer key (repeat for more)."),
    ] = None,
    max_active: Annotated[int, typer.Option("--max-active", help="Queued + running jobs per key (429 past).")] = 32,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest request body, MiB (413).")] = 32.0,
    max_prompt: Annotated[int, typer.Option("--max-prompt-chars", help="Longest prompt, characters.")] = 2000,
    ttl_hours: Annotated[float, typer.Option("--ttl-hours", help="Hours a finished video's files are kept.")] = 24.0,
    safety: SafetyFile = None,
    unsafe_no_filter: UnsafeNoFilter = False,
) -> None:  # fmt: skip
    """Serve OpenAI's Videos API (for the `openai` SDK with base_url=http://HOST:PORT/v1) and a web page at /."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        fail("kinema serve needs the serve extra: pip install -e '.[serve]'")
    if not 0 < port < 65536:
        fail(f"--port {port}: must be 1-65535")
    if workers < 0:
        fail(f"--workers {workers}: must be 0 (one per GPU) or more")
    for name, value in (("--max-active", max_active), ("--max-prompt-chars", max_prompt)):
        if value < 1:
            fail(f"{name} {value}: must be at least 1")
    if not (max_upload_mb > 0 and ttl_hours > 0):
        fail("--max-upload-mb and --ttl-hours must be positive")
    keys = tuple(k.strip() for k in api_key or () if k.strip())
    if db.exists() and db.is_dir():
        fail(f"--db '{db}': is a folder; give a file path such as {db / 'jobs.db'}")

    config = _safety_config(safety, unsafe_no_filter)

    from kinema.serve.app import Settings
    from kinema.serve.generate import load_generator, make_moderator, pipeline_available
    from kinema.serve.server import bind_host, run

    devices: list[str | None] = [None]
    if model != "world" and pipeline_available():
        import torch

        if torch.cuda.is_available():
            devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    workers = workers or len(devices)
    try:
        first = load_generator(model, devices[0], safety=config)
    except ValueError as e:
        if model != "default":
            fail(str(e))
        typer.echo(f"{e}: serving the world stand-in instead (--model world)", err=True)
        model, devices = "world", [None]
        first = load_generator(model)
    generators = {0: first}
    # The first pipeline's Guard moderates the server's prompts too: one configuration, one MiniLM. The world
    # stand-in has no Guard; it gets one built from the configuration.
    moderator = make_moderator(getattr(first, "guard", None) or config)

    def make_generator(i: int):
        return generators.pop(i, None) or load_generator(model, devices[i % len(devices)], safety=config)

    settings = Settings(
        db=db,
        api_keys=keys,
        workers=workers,
        max_active_per_key=max_active,
        max_upload_bytes=int(max_upload_mb * 2**20),
        max_prompt_chars=max_prompt,
        ttl_seconds=int(ttl_hours * 3600),
        moderator=moderator,
    )
    bound, note = bind_host(host, keys)
    if note:
        typer.echo(note, err=True)
    auth = f"{len(keys)} API key(s)" if keys else "no API keys (loopback only)"
    typer.echo(f"kinema serve: {first.name}, {workers} worker(s), {auth}, jobs in {db}", err=True)
    typer.echo(f"web page: http://{bound}:{port}/   SDK: OpenAI(base_url='http://{bound}:{port}/v1')", err=True)
    run(settings, make_generator, bound, port)


def _safety_config(path: Path | None, unsafe_no_filter: bool):
    """The operator's SafetyConfig; `--unsafe-no-filter` turns moderation off (logged), keeping watermark and C2PA."""
    import dataclasses

    from kinema.safety import SafetyConfig, moderation_off

    try:
        config = SafetyConfig.from_any(path)
    except ValueError as e:
        fail(f"--safety: {e}")
    if unsafe_no_filter:
        moderation_off("kinema serve --unsafe-no-filter")
        config = dataclasses.replace(config, moderation=False)
    return config
