"""`kinema data split`: cut videos into scenes at hard cuts (PySceneDetect), as (path, start, end) rows.

Scenes shorter than `min_seconds` are dropped; longer than `max_seconds` are cut into equal pieces no longer than
that. Clips are references into the source file (nothing re-encoded) unless `export` names a folder, where each clip
is written as its own MP4 and its row points there.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from .clips import frame_time, read_clip
from .manifest import (
    CLIP_COLUMNS,
    OPEN_SORA_COLUMNS,
    Result,
    StageOutput,
    read_manifest,
    row_key,
    run_stage,
    take_shard,
    write_outputs,
)

DETECTORS = ("content", "adaptive")


def detect_cuts(path: str, detector: str = "content", threshold: float | None = None) -> tuple[list[int], int, float]:
    """Frame indices where a new shot starts (not 0), the number of frames decoded and the fps."""
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

    if detector not in DETECTORS:
        raise ValueError(f"detector {detector!r}: choose one of {', '.join(DETECTORS)}")
    video = open_video(path, backend="pyav")
    manager = SceneManager()
    if detector == "content":
        manager.add_detector(ContentDetector(threshold=27.0 if threshold is None else threshold, min_scene_len=8))
    else:
        manager.add_detector(AdaptiveDetector(adaptive_threshold=3.0 if threshold is None else threshold))
    frames = manager.detect_scenes(video)
    cuts = [start.frame_num for start, _ in manager.get_scene_list()[1:]]
    return cuts, frames, float(video.frame_rate)


def pieces(a: int, b: int, fps: float, min_seconds: float, max_seconds: float | None) -> list[tuple[int, int]]:
    """Frame ranges [a, b) of one scene after the length rules: dropped if short, cut evenly if long."""
    n = b - a
    if n <= 0 or n / fps < min_seconds:
        return []
    k = 1 if max_seconds is None else max(1, math.ceil(n / (max_seconds * fps) - 1e-9))
    edges = [a + round(i * n / k) for i in range(k + 1)]
    return [(s, e) for s, e in zip(edges[:-1], edges[1:]) if e > s]


def split_one(
    row: dict,
    detector: str,
    threshold: float | None,
    min_seconds: float,
    max_seconds: float | None,
    export: str | None,
) -> Result:
    cuts, total, fps = detect_cuts(row["path"], detector, threshold)
    bounds = [0, *cuts, total]
    rows = []
    for scene, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        for s, e in pieces(a, b, fps, min_seconds, max_seconds):
            clip = {**row, "start": frame_time(s, fps), "end": frame_time(e, fps), "num_frames": e - s}
            clip.update(duration=round((e - s) / fps, 6), scene=scene)
            if export:
                clip = _export(clip, Path(export))
            rows.append(clip)
    return Result(rows=rows, raw={"cuts": cuts, "frames": total})


def _export(clip: dict, folder: Path) -> dict:
    from ..io import write_video

    frames, fps = read_clip(clip["path"], clip["start"], clip["end"])
    target = folder / f"{Path(clip['path']).stem}_{round(clip['start'] * 1000):08d}.mp4"
    write_video(target, frames, fps)
    return {**clip, "path": str(target.resolve()), "start": 0.0, "end": frame_time(len(frames), fps)}


def split(
    manifest: Path,
    out: Path,
    min_seconds: float = 0.5,
    max_seconds: float | None = None,
    detector: str = "content",
    threshold: float | None = None,
    export: Path | None = None,
    shard: tuple[int, int] = (0, 1),
    workers: int = 1,
    progress: bool = True,
) -> StageOutput:
    """One row per scene (or scene piece) of every video in `manifest`, into `out` and its rejects file."""
    if detector not in DETECTORS:
        raise ValueError(f"--detector {detector!r}: choose one of {', '.join(DETECTORS)}")
    if min_seconds < 0 or (max_seconds is not None and max_seconds <= min_seconds):
        raise ValueError(f"--min-seconds {min_seconds:g} / --max-seconds {max_seconds}: need 0 <= min < max")
    rows = take_shard(read_manifest(manifest), shard)
    opts = (detector, threshold, min_seconds, max_seconds, str(export) if export else None)
    units = [(row_key({**r, "_opts": opts}), r) for r in rows]
    fn = partial(split_one, detector=detector, threshold=threshold, min_seconds=min_seconds)
    fn = partial(fn, max_seconds=max_seconds, export=str(export.resolve()) if export else None)
    result = run_stage("split", units, fn, out, workers, progress)
    write_outputs(out, result, (*OPEN_SORA_COLUMNS, *CLIP_COLUMNS))
    return result
