"""`kinema moderate | detect | verify` and `kinema safety ...`: the safety commands (flags in, library calls, prints).

Generation commands call `refuse_blocked(prompt, unsafe_no_filter)` before they generate: a blocked prompt exits
with status 3 and the reason; `--unsafe-no-filter` skips the check and is logged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kinema.cli_models import fail, report

safety = typer.Typer(help="Safety: the prompt set, the moderation head, measurements.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
Config = Annotated[Path | None, typer.Option("--config", help="A safety configuration JSON (SafetyConfig fields).")]
# The two safety flags of the commands that generate (`generate`, `serve`).
SafetyFile = Annotated[
    Path | None, typer.Option("--safety", help="Safety configuration JSON (kinema.safety.SafetyConfig fields).")
]
UnsafeNoFilter = Annotated[
    bool, typer.Option("--unsafe-no-filter", help="Research only, logged: skip the prompt and frame checks.")
]


def register(app: typer.Typer) -> None:
    """Add `moderate`, `detect`, `verify` and the `safety` group to the main app."""
    app.command()(moderate)
    app.command()(detect)
    app.command()(verify)
    app.add_typer(safety, name="safety")


def _guard(config: Path | None):
    from kinema.safety import Guard

    try:
        return Guard.from_config(config)
    except ValueError as e:
        fail(str(e))


def refuse_blocked(prompt: str, unsafe_no_filter: bool = False, config: Path | None = None):
    """For generation commands: exit 3 with the reason if the prompt is blocked; returns the Guard (None if skipped)."""
    if unsafe_no_filter:
        from kinema.safety import moderation_off

        typer.echo(
            "warning: --unsafe-no-filter: prompt and frame moderation are off (research use only; logged)", err=True
        )
        moderation_off(f"--unsafe-no-filter, prompt {prompt!r}", shown=True)
        return None
    guard = _guard(config)
    decision = guard.check_prompt(prompt)
    if not decision.allowed:
        typer.echo(f"refused: {decision.reason}", err=True)
        raise typer.Exit(3)
    return guard


def moderate(
    prompt: Annotated[str, typer.Argument(help="The prompt to check.")], as_json: AsJson = False, config: Config = None
) -> None:
    """Check a prompt against the usage policy (exit status 0 whether or not it is allowed)."""
    decision = _guard(config).check_prompt(prompt).to_dict()
    if as_json:
        typer.echo(json.dumps(decision))
        return
    report({**{k: v for k, v in decision.items() if k != "scores"}, **decision["scores"]}, False, "moderation")


def _frames(video: Path):
    from kinema.io import VideoError, read_video

    try:
        return read_video(video)[0]
    except VideoError as e:
        fail(str(e))


def detect(
    video: Annotated[Path, typer.Argument(help="The video to check.")], as_json: AsJson = False, config: Config = None
) -> None:
    """Is this a Kinema video? Reads the invisible watermark: detected, payload (hex) and confidence."""
    from kinema.safety import SafetyConfig
    from kinema.safety.watermark import Key
    from kinema.safety.watermark import detect as read_mark

    frames = _frames(video)
    try:
        key = Key(SafetyConfig.from_any(config).watermark_key)
        found = read_mark(frames, key)
    except ValueError as e:
        fail(str(e))
    result = found.to_dict()
    if not as_json:  # people also see how far above chance the sync pattern was
        result["confidence (z-score)"] = round(found.confidence, 2)
    report(result, as_json, f"watermark: {video}")


def verify(
    video: Annotated[Path, typer.Argument(help="The video to verify.")],
    trust: Annotated[Path | None, typer.Option("--trust", help="PEM file of trusted CA certificates.")] = None,
    as_json: AsJson = False,
    config: Config = None,
) -> None:
    """C2PA validation state (Trusted / Valid / Invalid), the manifest summary and the watermark, in one report."""
    from kinema.safety import SafetyConfig, provenance
    from kinema.safety.watermark import Key
    from kinema.safety.watermark import detect as read_mark

    if trust is not None and not trust.is_file():
        fail(f"--trust '{trust}': no such file (a PEM file of trusted CA certificates)")
    frames = _frames(video)
    try:
        c2pa_part = provenance.read(video, trust)
        mark = read_mark(frames, Key(SafetyConfig.from_any(config).watermark_key)).to_dict()
    except ValueError as e:
        fail(str(e))
    result = {"c2pa": c2pa_part, "watermark": {k: mark[k] for k in ("detected", "bit_accuracy", "payload")}}
    if as_json:
        typer.echo(json.dumps(result))
        return
    actions = ", ".join(a.get("action", "?") for a in c2pa_part["actions"]) or "none"
    rows = {
        "c2pa present": c2pa_part["present"],
        "c2pa state": c2pa_part["state"],
        "generator": c2pa_part["generator"],
        "actions": actions,
        **{f"watermark {k}": v for k, v in result["watermark"].items()},
    }
    report(rows, False, f"verify: {video}")


@safety.command("dataset")
def dataset_cmd(
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSONL.")] = Path(
        "kinema/assets/safety/prompts.jsonl"
    ),
) -> None:
    """Write the labelled prompt set (deterministic) that the moderation head trains on."""
    from kinema.safety.prompt_data import build, write

    rows = build()
    write(out, rows)
    typer.echo(f"wrote {len(rows)} prompts to {out}")


@safety.command("train-head")
def train_head_cmd(
    data: Annotated[Path, typer.Option("--data", help="Prompt set JSONL.")] = Path(
        "kinema/assets/safety/prompts.jsonl"
    ),
    out: Annotated[Path | None, typer.Option("--out", help="Head folder (default: the shipped one).")] = None,
    as_json: AsJson = False,
) -> None:
    """Train the moderation head on MiniLM embeddings; prints held-out precision/recall. About 3 CPU minutes on one
    thread (190-200 s, from timed partial runs: encoding the 11,608 prompts 100-110 s, 4 heads x 30 epochs about 90 s);
    longer on a busy machine."""
    from kinema.safety.moderation import HEAD_DIR
    from kinema.safety.train_head import train_head

    if not data.is_file():
        fail(f"--data '{data}': no such file")
    try:
        metrics = train_head(data, out or HEAD_DIR, progress=not as_json)
    except ValueError as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    report(_pr_rows(metrics), False, f"held-out ({metrics['n_test']} prompts), saved to {out or HEAD_DIR}")


def _pr_rows(metrics: dict) -> dict[str, str]:
    rows = {}
    for c, m in metrics["head_and_lists_default"].items():
        head = metrics["head_default"][c]
        with_lists = f"+lists P {m['precision']:.3f} R {m['recall']:.3f}"
        rows[c] = f"head P {head['precision']:.3f} R {head['recall']:.3f} | {with_lists}"
    return rows


@safety.command("eval-head")
def eval_head_cmd(
    data: Annotated[Path, typer.Option("--data", help="Prompt set JSONL.")] = Path(
        "kinema/assets/safety/prompts.jsonl"
    ),
    head: Annotated[Path | None, typer.Option("--head", help="Head folder (default: the shipped one).")] = None,
    as_json: AsJson = False,
) -> None:
    """Held-out precision/recall of a saved head on a prompt set (e.g. an older head on the current set)."""
    from kinema.safety.moderation import HEAD_DIR
    from kinema.safety.train_head import evaluate_head

    if not data.is_file():
        fail(f"--data '{data}': no such file")
    try:
        metrics = evaluate_head(data, head or HEAD_DIR, progress=not as_json)
    except ValueError as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    report(_pr_rows(metrics), False, f"held-out ({metrics['n_test']} prompts), head {head or HEAD_DIR}")


@safety.command("eval-world")
def eval_world_cmd(
    n: Annotated[int, typer.Option("--n", help="World scenes (one short prompt and one dense caption each).")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed (the prompt set uses 101 and 102).")] = 103,
    as_json: AsJson = False,
    config: Config = None,
) -> None:
    """How many of the world model's own prompts (all benign) and of the hard benign cases the moderation blocks."""
    from kinema.safety.evaluate import eval_world_prompts

    if n < 1:
        fail(f"--n {n}: must be at least 1")
    try:
        result = eval_world_prompts(n, seed, config, progress=not as_json)
    except ValueError as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(result))
        return
    report({k: json.dumps(v) for k, v in result.items()}, False, "world prompts blocked")


@safety.command("eval-audit")
def eval_audit_cmd(
    data: Annotated[Path | None, typer.Option("--data", help="Labelled prompts JSONL (default: audit.jsonl).")] = None,
    show_errors: Annotated[
        bool, typer.Option("--show-errors", help="Also list the prompts whose decision differs from their labels.")
    ] = False,
    as_json: AsJson = False,
    config: Config = None,
) -> None:
    """Precision/recall per category of the head alone and of the full `moderate` decision (head + lists + minors
    rule) on hand-labelled prompts nobody tuned on (kinema/assets/safety/audit.jsonl), any category, and the share
    of benign prompts blocked."""
    from kinema.safety.evaluate import eval_audit
    from kinema.safety.moderation import ASSETS

    data = data or ASSETS / "audit.jsonl"
    if not data.is_file():
        fail(f"--data '{data}': no such file")
    try:
        result = eval_audit(data, config, errors=show_errors)
    except ValueError as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(result))
        return
    rows = {}
    for c, full in result["full"].items():
        head = result["head"][c]
        rows[c] = f"{_pr(head)} | {_pr(full)}"
    fpr, blocked = result["benign_false_positive_rate"], result["benign_blocked"]
    n = result["n_benign"]
    rows["benign blocked"] = (
        f"head {blocked['head']}/{n} ({fpr['head']:.3f}) | full {blocked['full']}/{n} ({fpr['full']:.3f})"
    )
    title = f"{data}: {result['n_labelled']} labelled, {n} benign; head alone | full decision (tp/fp/fn)"
    report(rows, False, title)
    for e in result.get("errors", []):
        typer.echo(
            f"labels {','.join(e['labels']) or '-'} | blocked {','.join(e['blocked']) or '-'} | "
            f"head {','.join(e['head']) or '-'} | {e['text']}"
        )


def _pr(m: dict) -> str:
    return f"P {m['precision']:.3f} R {m['recall']:.3f} ({m['tp']}/{m['fp']}/{m['fn']})"


@safety.command("eval-frames")
def eval_frames_cmd(
    n: Annotated[int, typer.Option("--n", help="World videos with and without the emblem.")] = 100,
    size: Annotated[int, typer.Option("--size", help="Frame side in pixels.")] = 128,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """Recall and false-positive rate of reference matching on world videos with a composited emblem."""
    from kinema.safety.evaluate import eval_frames

    if n < 1 or size < 32:
        fail("--n must be at least 1 and --size at least 32")
    report(eval_frames(n, seed, size, progress=not as_json), as_json, "frame matching")


@safety.command("eval-watermark")
def eval_watermark_cmd(
    n: Annotated[int, typer.Option("--n", help="Marked world videos per size.")] = 50,
    negatives: Annotated[int, typer.Option("--negatives", help="Unmarked videos for false positives.")] = 200,
    real: Annotated[list[Path] | None, typer.Option("--real", help="Real camera clips (repeatable).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: AsJson = False,
) -> None:
    """Watermark bit accuracy after H.264, resize and crop; false positives; PSNR."""
    from kinema.safety.evaluate import eval_watermark

    for p in real or []:
        if not p.is_file():
            fail(f"--real '{p}': no such file")
    if n < 1 or negatives < 1:
        fail(f"--n {n} / --negatives {negatives}: both must be at least 1")
    result = eval_watermark(n, negatives=negatives, real=real, seed=seed, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result))
        return
    report({k: json.dumps(v) for k, v in result.items()}, False, "watermark")
