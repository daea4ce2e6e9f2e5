"""`kinema data score`: motion, sharpness, brightness, black and static frames of each clip (OpenCV, no weights).

Frames are read at a 256-px shorter side, so scores compare across resolutions:
- motion: mean Farneback optical-flow speed on frames at a 128-px shorter side, in percent of the shorter side per
  second (a pan across the frame in 4 s is about 25-33; a locked-off camera on a still scene is below 1).
- sharpness: variance of the Laplacian of the grey frame (at 256 px), averaged over sampled frames.
- brightness: mean grey level (0-255); black: fraction of sampled frames whose mean grey level is below 16.
- static: fraction of adjacent-frame pairs in which fewer than 0.1% of pixels change by more than 10 grey levels
  (frozen or repeated frames; codec noise does not count, one small moving object does).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .clips import read_clip
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

SCORE_COLUMNS = ("motion", "sharpness", "brightness", "black", "static")
PAIRS = 16  # adjacent-frame pairs sampled per clip for flow and frozen-frame checks
MAX_FRAMES = 600  # frames read from a clip at most (a long clip is scored on its first 600 frames)
_BLACK, _CHANGED, _STATIC = 16.0, 10, 0.001
_FLOW_SIDE, _READ_SIDE = 128, 256


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError("scoring needs OpenCV: pip install -e '.[data]'") from e
    return cv2


def score_frames(frames: np.ndarray, fps: float) -> dict[str, float]:
    """The scores of uint8 frames (T, H, W, 3) shown at `fps`; see the module docstring for their units."""
    cv2 = _cv2()
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    t, h, w = grey.shape
    k = _FLOW_SIDE / min(h, w)
    small = [cv2.resize(g, (max(8, round(w * k)), max(8, round(h * k))), interpolation=cv2.INTER_AREA) for g in grey]
    starts = np.unique(np.linspace(0, t - 2, min(PAIRS, t - 1)).round().astype(int)) if t > 1 else np.array([], int)
    speeds, diffs = [], []
    for i in starts:
        flow = cv2.calcOpticalFlowFarneback(small[i], small[i + 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        speeds.append(float(np.linalg.norm(flow, axis=-1).mean()))
        diffs.append(float((np.abs(grey[i + 1].astype(np.int16) - grey[i]) > _CHANGED).mean()))
    picked = grey[np.unique(np.linspace(0, t - 1, min(PAIRS, t)).round().astype(int))]
    means = picked.reshape(len(picked), -1).mean(1)
    return {
        "motion": float(np.mean(speeds)) * fps / _FLOW_SIDE * 100 if speeds else 0.0,
        "sharpness": float(np.mean([cv2.Laplacian(g, cv2.CV_64F).var() for g in picked])),
        "brightness": float(means.mean()),
        "black": float((means < _BLACK).mean()),
        "static": float(np.mean(np.array(diffs) < _STATIC)) if diffs else 1.0,
    }


def score_one(row: dict) -> Result:
    end = row.get("end")
    frames, fps = read_clip(
        row["path"], float(row.get("start") or 0), None if end in (None, "") else float(end), short_side=_READ_SIDE,
        max_frames=MAX_FRAMES,
    )  # fmt: skip
    return Result(rows=[{**row, **{k: round(v, 4) for k, v in score_frames(frames, fps).items()}}])


def score(
    manifest: Path, out: Path, shard: tuple[int, int] = (0, 1), workers: int = 1, progress: bool = True
) -> StageOutput:
    """Add the score columns to every clip (or whole video) of `manifest`; clips that cannot be read are rejected."""
    _cv2()
    rows = take_shard(read_manifest(manifest), shard)
    result = run_stage("score", [(row_key(r), r) for r in rows], score_one, out, workers, progress)
    write_outputs(out, result, (*OPEN_SORA_COLUMNS, *CLIP_COLUMNS, *SCORE_COLUMNS))
    return result
