"""Probing videos and decoding clip windows (path, start, end) with PyAV, without reading the whole file."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

_SEEK_AFTER = 2.0  # seconds: a window starting later than this is reached by seeking, not by decoding from the start


def probe(path: str | Path) -> dict:
    """Duration, frames, fps, size, codec and rotation of a video's first video stream; decodes its first frame so a
    file whose header reads but whose data does not is caught. Raises ValueError naming the reason."""
    import av

    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("file is empty")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise ValueError("no video stream")
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            if not rate or rate <= 0:
                raise ValueError("the video stream has no frame rate")
            fps = float(rate)
            if s.duration and s.time_base:
                duration = float(s.duration * s.time_base)
            elif c.duration:
                duration = c.duration / av.time_base
            else:
                duration = 0.0
            frames = s.frames or round(duration * fps)
            first = next(c.decode(s), None)
            if first is None:
                raise ValueError("no frames decoded")
            rotation = int(getattr(first, "rotation", 0) or 0)
            codec = s.codec_context.name
            width, height = first.width, first.height
    except av.FFmpegError as e:
        raise ValueError(f"not a video it can decode ({getattr(e, 'strerror', None) or e})") from e
    if frames <= 0:
        raise ValueError("the container declares no frames and no duration")
    if rotation % 180:  # shown upright, the frame is turned a quarter: width and height swap
        width, height = height, width
    return {
        "num_frames": int(frames),
        "height": height,
        "width": width,
        "aspect_ratio": round(height / width, 4),
        "resolution": height * width,
        "fps": round(fps, 6),
        "duration": round(frames / fps if frames else duration, 6),
        "codec": codec,
        "rotation": rotation,
    }


def read_clip(
    path: str | Path,
    start: float = 0.0,
    end: float | None = None,
    *,
    step: int = 1,
    short_side: int | None = None,
    cover: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float]:
    """Frames [start, end) seconds of a video as uint8 (T, H, W, 3), every `step`-th frame, optionally scaled so the
    shorter side is `short_side` (sizes rounded to even), or scaled to cover `cover` = (width, height) and cropped
    to it at the centre; returns the frames and the file's fps.

    Frame i of the file is the one shown at i / fps; windows are cut by frame index, so (start, end) from `split`
    give back exactly its frames (to one frame where a container's timestamps do not start at zero)."""
    import av

    path = Path(path)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise ValueError(f"'{path}': no video stream")
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            fps = float(s.average_rate or s.guessed_rate)
            a = round(start * fps)
            b = math.inf if end is None else round(end * fps)
            t0 = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
            seek = start > _SEEK_AFTER
            if seek:
                c.seek(int((start - 1.0 + t0) / s.time_base), stream=s, backward=True, any_frame=False)
            size = None
            for i, frame in enumerate(c.decode(s)):
                idx = round((frame.time - t0) * fps) if seek and frame.time is not None else i
                if idx < a:
                    continue
                if idx >= b or (max_frames is not None and len(frames) >= max_frames):
                    break
                if (idx - a) % step:
                    continue
                if size is None:
                    size = (
                        _covering(frame.width, frame.height, cover)
                        if cover
                        else _scaled(frame.width, frame.height, short_side)
                    )
                frames.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
    except av.FFmpegError as e:
        raise ValueError(f"'{path}': cannot decode ({getattr(e, 'strerror', None) or e})") from e
    if not frames:
        raise ValueError(f"'{path}': no frames in [{start:g}, {end if end is not None else 'end'}) s")
    video = np.stack(frames)
    if cover:
        y0, x0 = (video.shape[1] - cover[1]) // 2, (video.shape[2] - cover[0]) // 2
        video = np.ascontiguousarray(video[:, y0 : y0 + cover[1], x0 : x0 + cover[0]])
    return video, fps


def _covering(w: int, h: int, cover: tuple[int, int]) -> tuple[int, int]:
    k = max(cover[0] / w, cover[1] / h)
    return max(cover[0], math.ceil(w * k)), max(cover[1], math.ceil(h * k))


def _scaled(w: int, h: int, short_side: int | None) -> tuple[int, int]:
    if short_side is None:
        return w, h
    k = short_side / min(w, h)
    return max(2, 2 * round(w * k / 2)), max(2, 2 * round(h * k / 2))


def frame_time(index: int, fps: float) -> float:
    """The time (s) frame `index` is shown at, exact for rational rates, as a float with 6 decimals."""
    return round(float(Fraction(index) / Fraction(fps).limit_denominator(100_000)), 6)
