"""Manifests (CSV, Open-Sora's columns) and the stage runner every `kinema data` command shares.

A manifest's `path` column is relative to the CSV's folder when the file lies below it, else absolute; readers return
absolute paths. Clip manifests add `start` and `end` (seconds into the file).

Every stage maps input rows to output rows through a journal beside its output (`OUT.journal.jsonl`, one JSON line
per finished input row, flushed as it goes): a stage that is stopped resumes where it stopped, and a stage run again
on the same input does no work and writes the same output (idempotent). `--shard i/n` takes every n-th input row
from the i-th and writes `OUT.shard-i-of-n.csv`; `merge` joins the n parts into OUT.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import atomic_write_text

OPEN_SORA_COLUMNS = ("path", "text", "num_frames", "height", "width", "aspect_ratio", "resolution", "fps")
CLIP_COLUMNS = ("start", "end")
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


# ---------------------------------------------------------------------------------------------------------- CSV files


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a manifest CSV as dicts; `path` made absolute, numeric cells parsed (int, then float)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest '{path}': no such file")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise ValueError(f"manifest '{path}': needs a header with a 'path' column (got {reader.fieldnames})")
        rows = [{k: _cell(v) for k, v in r.items()} for r in reader]
    for r in rows:
        p = Path(str(r["path"]))
        r["path"] = str(p if p.is_absolute() else (path.parent / p).resolve())
    return rows


def _cell(text: str | None) -> Any:
    if text is None:
        return ""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_manifest(path: str | os.PathLike, rows: Sequence[dict[str, Any]], columns: Sequence[str] = ()) -> Path:
    """Write rows atomically: `columns` first, then any other keys in the order first seen; paths made relative."""
    path = Path(path)
    names = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    base = path.parent.resolve()
    for r in rows:
        out = {k: _fmt(v) for k, v in r.items()}
        if "path" in r:
            out["path"] = _relative(Path(r["path"]), base)
        w.writerow(out)
    atomic_write_text(path, buf.getvalue())
    return path


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(round(v, 6))
    return v


def _relative(p: Path, base: Path) -> str:
    p = p.resolve()
    return str(p.relative_to(base)) if p.is_relative_to(base) else str(p)


# ----------------------------------------------------------------------------------------------------------- sharding


def parse_shard(text: str) -> tuple[int, int]:
    """'2/8' -> (2, 8): this job takes input rows 2, 10, 18, ...; '0/1' is the whole input."""
    m = _SHARD.fullmatch(text)
    if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise ValueError(f"--shard '{text}': expected I/N with 0 <= I < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def shard_path(out: str | os.PathLike, shard: tuple[int, int]) -> Path:
    """Where shard i of n writes: OUT itself for 0/1, else OUT.shard-i-of-n with OUT's suffix."""
    out = Path(out)
    i, n = shard
    return out if n == 1 else out.with_name(f"{out.stem}.shard-{i}-of-{n}{out.suffix}")


def take_shard(items: Sequence, shard: tuple[int, int]) -> list:
    i, n = shard
    return list(items[i::n])


def shard_parts(out: str | os.PathLike) -> list[Path]:
    """The shard files of OUT (OUT.shard-i-of-n.*), checked complete: all n of one n, none missing."""
    out = Path(out)
    pat = re.compile(re.escape(out.stem) + r"\.shard-(\d+)-of-(\d+)" + re.escape(out.suffix) + "$")
    found = {(int(m.group(1)), int(m.group(2))): p for p in out.parent.glob("*") if (m := pat.match(p.name))}
    if not found:
        raise ValueError(f"merge '{out}': no shard files {out.stem}.shard-I-of-N{out.suffix} in '{out.parent}'")
    ns = {n for _, n in found}
    if len(ns) > 1:
        raise ValueError(f"merge '{out}': shard files of different counts {sorted(ns)}; remove the stale ones")
    n = ns.pop()
    missing = [i for i in range(n) if (i, n) not in found]
    if missing:
        raise ValueError(f"merge '{out}': shards {missing} of {n} are missing (run them with --shard I/{n})")
    return [found[(i, n)] for i in range(n)]


def merge_manifests(out: str | os.PathLike) -> tuple[int, int]:
    """Join OUT.shard-*-of-n.csv (and their rejects) into OUT, rows sorted by (path, start); returns (rows, rejects)."""
    out = Path(out)
    rows, rejects = [], []
    for part in shard_parts(out):
        with open(part, newline="", encoding="utf-8") as f:
            columns = next(csv.reader(f), [])
        rows += read_manifest(part)
        if rejects_path(part).is_file():
            rejects += read_manifest(rejects_path(part))
    rows.sort(key=lambda r: (r["path"], float(r.get("start") or 0)))
    write_manifest(out, rows, columns)
    write_manifest(rejects_path(out), rejects, ("path", "reason"))
    return len(rows), len(rejects)


def write_outputs(out: Path, result: StageOutput, columns: Sequence[str]) -> None:
    """OUT and OUT's rejects file (path, reason), both atomically."""
    write_manifest(out, result.rows, columns)
    write_manifest(rejects_path(out), result.rejects, ("path",))


def rejects_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejects.csv")


def row_key(row: dict[str, Any]) -> str:
    """A stable name for an input row: any change to the row (a rescored clip, a new caption) is new work."""
    return hashlib.sha1(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:20]


# -------------------------------------------------------------------------------------------------------------- stage


@dataclass
class Result:
    """What a stage makes of one input: output rows, or a reason to reject it, and anything raw worth keeping."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    reject: str | None = None
    raw: Any = None


@dataclass
class StageOutput:
    rows: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    raw: list[dict[str, Any]]
    done_now: int  # inputs processed in this run (the rest came from the journal)


def run_stage(
    name: str,
    units: Sequence[tuple[str, Any]],
    fn: Callable[[Any], Result],
    out: Path,
    workers: int = 1,
    progress: bool = True,
    threads: bool = False,
) -> StageOutput:
    """Apply `fn` to every (key, item) not yet in OUT's journal, `workers` at a time, journalling each result.

    `fn` must be a picklable top-level function (or partial) unless `threads`; an exception it raises rejects that
    input with the error's words instead of stopping the run. Returns every unit's result in input order.
    """
    journal = out.with_name(out.name + ".journal.jsonl")
    done = _read_journal(journal)
    todo = [(k, item) for k, item in units if k not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    with ProgressBar(name, len(units), len(units) - len(todo), progress) as advance, open(journal, "a") as log:
        for key, res in map_units(fn, todo, workers, threads):
            rec = {"key": key, "rows": res.rows, "reject": res.reject, "raw": res.raw}
            log.write(json.dumps(rec, default=str) + "\n")
            log.flush()
            done[key] = rec
            advance()
    keep = [done[k] for k, _ in units]
    atomic_write_text(journal, "".join(json.dumps(r, default=str) + "\n" for r in keep))  # drop stale entries
    items = dict(units)
    rejects = [{**_ident(items[r["key"]]), "reason": r["reject"]} for r in keep if r["reject"]]
    raw = [{**_ident(items[r["key"]]), "raw": r["raw"]} for r in keep if r["raw"] is not None]
    return StageOutput([row for r in keep for row in r["rows"]], rejects, raw, len(todo))


def _ident(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return {k: item[k] for k in ("path", "start", "end") if k in item}
    return {"path": str(item)}


def _read_journal(journal: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                done[rec["key"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by a stop: that input is simply done again
    return done


def _safe(fn: Callable[[Any], Result], item: Any) -> Result:
    try:
        return fn(item)
    except Exception as e:  # noqa: BLE001 - one bad input never stops the run; it is rejected with the reason
        return Result(reject=f"{type(e).__name__}: {e}")


def map_units(fn, todo: Sequence[tuple[str, Any]], workers: int, threads: bool) -> Iterable[tuple[str, Result]]:
    if workers <= 1 or len(todo) <= 1:
        for key, item in todo:
            yield key, _safe(fn, item)
        return
    pool: Executor = (
        ThreadPoolExecutor(workers)
        if threads
        else ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    )
    with pool:
        futures = {pool.submit(_safe, fn, item): key for key, item in todo}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


class ProgressBar:
    """A rich progress bar on stderr (or nothing); `advance()` counts one finished input."""

    def __init__(self, name: str, total: int, completed: int, enabled: bool):
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn(name), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)
            )
            self.task = self.progress.add_task(name, total=total, completed=completed)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self.advance

    def advance(self) -> None:
        if self.progress:
            self.progress.advance(self.task)

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
