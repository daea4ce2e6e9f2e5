"""`kinema data scan`: probe every video under some folders into a manifest; unreadable files go to the rejects."""

from __future__ import annotations

from pathlib import Path

from .clips import probe
from .manifest import OPEN_SORA_COLUMNS, Result, StageOutput, run_stage, take_shard, write_outputs

VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".3gp", ".ogv",
    ".gif",
}  # fmt: skip
SCAN_COLUMNS = (*OPEN_SORA_COLUMNS, "duration", "codec", "rotation", "bytes")


def find_videos(inputs: list[Path]) -> list[Path]:
    """Video files (by suffix) under the given folders, and the given files themselves; sorted, no duplicates."""
    found: set[Path] = set()
    for p in inputs:
        if p.is_dir():
            found.update(f.resolve() for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        elif p.is_file():
            found.add(p.resolve())
        else:
            raise ValueError(f"'{p}': no such file or folder")
    return sorted(found)


def scan_one(path: str) -> Result:
    try:
        info = probe(path)
    except (ValueError, OSError) as e:
        return Result(reject=str(e))
    return Result(rows=[{"path": path, "text": "", **info, "bytes": Path(path).stat().st_size}])


def scan(
    inputs: list[Path], out: Path, shard: tuple[int, int] = (0, 1), workers: int = 1, progress: bool = True
) -> StageOutput:
    """Probe the videos under `inputs` (this shard's share) into manifest `out` and `out`'s rejects file."""
    files = take_shard(find_videos(inputs), shard)
    # A file is new work when its size or modification time changes.
    units = [(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}", str(f)) for f in files]
    result = run_stage("scan", units, scan_one, out, workers, progress)
    write_outputs(out, result, SCAN_COLUMNS)
    return result
