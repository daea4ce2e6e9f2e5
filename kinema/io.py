"""Reading and writing videos, still images and contact sheets.

Frames are numpy arrays of shape (T, H, W, 3), RGB, uint8. Every writer is atomic: it writes a temporary file beside
the target (same suffix, so the muxer picks the same format) and renames it into place, so a failed or interrupted
write leaves no partial output behind. PyAV is imported where a video file is read or written, so the CLI, the world
and training run where it is not installed (a GPU image that only has PyTorch).
"""

from __future__ import annotations

import errno
import math
import numbers
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")  # read with Pillow; the rest with PyAV
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".webp", ".png")  # what write_video can write
_MAX_SIDE = {".mp4": 16384, ".webm": 65536, ".gif": 65535, ".webp": 16383, ".png": 2**31 - 1}  # encoder limits

_SEP = 2  # separator width of contact sheets, pixels
_SEP_COLOR = 32
_SHEET_MIN_TILE = 128  # contact sheets upscale tiles until their shorter side reaches this
_CODEC_THREADS = 2
_FPS_TAG = re.compile(rb'kinema:fps="([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"')  # a positive float's repr


class VideoError(Exception):
    """A video or image that cannot be read or written; the message names the file and the reason."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); on success rename it onto `path`, on failure delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    tmp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically; for JSON and CSV sidecars."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------- reading


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode a video (any container and codec FFmpeg knows) or an image into uint8 frames (T, H, W, 3) and its fps.

    Still images are 1-frame videos at 1 fps. Animated GIF and WebP are resampled to a constant rate: the rate that
    `write_video` stored in the file, else the rate of the shortest frame delay. A file that stops decoding partway,
    or an MP4/MOV whose index promises more frames than it holds, raises `VideoError` rather than returning part of
    the video; formats without an index (WebM cut short) return the frames that decode.
    """
    import av

    path = Path(path)
    if not path.exists():
        raise _cannot_read(path, "no such file")
    if path.is_dir():
        raise _cannot_read(path, "is a directory")
    if path.stat().st_size == 0:
        raise _cannot_read(path, "file is empty")
    try:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _read_pillow(path)
        return _read_av(path)
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError) as e:
        raise _cannot_read(path, f"not a video or image it can decode ({_reason(e)})") from e


def _cannot_read(path: Path, reason: str) -> VideoError:
    return VideoError(f"cannot read video '{path}': {reason}")


def _reason(e: Exception) -> str:
    """The error's own words, without the file name that FFmpeg and the OS append (it may be a temporary name)."""
    if isinstance(e, Image.UnidentifiedImageError):
        return "unknown image format"
    return getattr(e, "strerror", None) or str(e)


def _read_av(path: Path) -> tuple[np.ndarray, float]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise _cannot_read(path, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                if frames:  # a mid-stream size change is rescaled to the first frame's size
                    frame = frame.reformat(width=frames[0].shape[1], height=frames[0].shape[0])
                frames.append(frame.to_ndarray(format="rgb24"))
        except av.FFmpegError as e:
            raise _cannot_read(path, f"file is truncated or corrupt after frame {len(frames)} ({_reason(e)})") from e
        declared = stream.frames
    if not frames:
        raise _cannot_read(path, "no frames decoded")
    if declared and len(frames) < declared:
        raise _cannot_read(path, f"file is truncated: decoded {len(frames)} of {declared} frames")
    if not rate or rate <= 0:
        raise _cannot_read(path, "the video stream has no frame rate")
    return np.stack(frames), float(rate)


def _read_pillow(path: Path) -> tuple[np.ndarray, float]:
    with Image.open(path) as im:
        meta = [im.info.get(k) for k in ("comment", "xmp")]  # where write_video stores the fps
        tag = _FPS_TAG.search(b" ".join(m.encode() if isinstance(m, str) else m for m in meta if m))
        frames, durations = [], []
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
            durations.append(im.info.get("duration") or 0)
    stored_fps = float(tag.group(1)) if tag and float(tag.group(1)) > 0 else None
    if len(frames) == 1:
        return frames[0][None], stored_fps or 1.0
    # A delay of 0 ms shows as 100 ms in browsers; the writers merge repeated frames into one longer frame.
    ms = np.array([d if d > 0 else 100 for d in durations], dtype=np.float64)
    fps = stored_fps or 1000.0 / ms.min()
    starts = np.concatenate([[0.0], np.cumsum(ms)[:-1]])
    n = max(1, round(ms.sum() * fps / 1000.0))
    mids = (np.arange(n) + 0.5) * 1000.0 / fps
    idx = np.clip(np.searchsorted(starts, mids, side="right") - 1, 0, len(frames) - 1)
    return np.stack(frames)[idx], fps


# ---------------------------------------------------------------------------------------------------------- writing


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, *, crf: int = 18) -> None:
    """Write frames (T, H, W, 3) at `fps`; the format follows the suffix.

    .mp4: H.264 (libx264, yuv420p, faststart); .webm: VP9 (libvpx-vp9, yuv420p), both at constant quality `crf`
    (lower is better; 18 is near-lossless). 4:2:0 needs even sizes, so an odd width or height is padded by one row
    or column repeating the edge pixels, and reading the file back gives the padded size (63x47 reads as 64x48).
    .gif (256 colours per frame, at most 50 fps) and .webp (lossless) are animated images with the fps stored in
    their metadata; .png takes exactly one frame. Frames are uint8, or floats in [0, 1] (scaled by 255, rounded).
    """
    import av

    path = Path(path)

    def fail(reason: str) -> VideoError:
        return VideoError(f"cannot write video '{path}': {reason}")

    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise fail(f"unknown format '{path.suffix}'; use one of {', '.join(VIDEO_SUFFIXES)}")
    try:
        frames = _as_frames(frames)
    except ValueError as e:
        raise fail(str(e)) from None
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise fail(f"fps must be a positive number; got {fps!r}")
    if max(frames.shape[1:3]) > _MAX_SIDE[suffix]:
        size = f"{frames.shape[2]}x{frames.shape[1]}"
        raise fail(f"{suffix} frames can be at most {_MAX_SIDE[suffix]} px a side; got {size}")
    if suffix == ".png" and len(frames) != 1:
        raise fail(f".png holds one frame; got {len(frames)} (use .mp4, .webm, .gif or .webp)")
    if suffix == ".gif" and fps > 50:
        raise fail(f".gif shows at most 50 fps (frame delays are in 1/100 s); got {fps:g}")
    if suffix == ".webp" and fps > 1000:
        raise fail(f".webp shows at most 1000 fps (frame delays are in ms); got {fps:g}")
    max_crf = {".mp4": 51, ".webm": 63}.get(suffix)
    if max_crf is not None and not (isinstance(crf, numbers.Integral) and 0 <= crf <= max_crf):
        raise fail(f"crf for {suffix} must be an integer in [0, {max_crf}]; got {crf!r}")
    try:
        with atomic_path(path) as tmp:
            if suffix in (".mp4", ".webm"):
                _write_av(tmp, _pad_even(frames), fps, crf, suffix)
            elif suffix == ".png":
                Image.fromarray(frames[0]).save(tmp, format="PNG")
            else:
                _write_animated(tmp, frames, fps, suffix)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise fail(_reason(e)) from e


def _as_frames(frames: np.ndarray) -> np.ndarray:
    """Check shape (T, H, W, 3) and dtype, and return uint8 frames; raises ValueError saying what is wrong."""
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3 or min(a.shape) < 1:
        raise ValueError(f"frames must have shape (T, H, W, 3) with T, H, W >= 1; got {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError(f"float frames must lie in [0, 1]; got values in [{a.min():g}, {a.max():g}]")
        return np.rint(a * 255).astype(np.uint8)
    raise ValueError(f"frames must be uint8, or float in [0, 1]; got {a.dtype}")


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad the bottom row and right column by edge replication to even height and width (yuv420p needs them)."""
    _, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_av(tmp: Path, frames: np.ndarray, fps: float, crf: int, suffix: str) -> None:
    import av

    rate = Fraction(fps).limit_denominator(100_000)
    if suffix == ".mp4":
        codec, options, container_options = "libx264", {"crf": str(crf), "preset": "medium"}, {"movflags": "+faststart"}
    else:
        codec, container_options = "libvpx-vp9", {}
        options = {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
    with av.open(str(tmp), "w", container_options=container_options) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = _CODEC_THREADS
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_animated(tmp: Path, frames: np.ndarray, fps: float, suffix: str) -> None:
    """GIF or WebP via Pillow. Frame i starts at round(i / fps) in the format's tick (10 ms or 1 ms), so the whole
    clip keeps its exact length, and the fps is stored so the reader can restore frames the encoder merged."""
    tick = 10 if suffix == ".gif" else 1
    starts = [round(i * 1000 / fps / tick) * tick for i in range(len(frames) + 1)]
    durations = np.diff(starts).tolist()
    tag = f'kinema:fps="{float(fps)!r}"'
    images = [Image.fromarray(f) for f in frames]
    if suffix == ".gif":
        meta = {"format": "GIF", "comment": tag}
    else:
        xmp = (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description xmlns:kinema="urn:kinema:1.0" {tag}/></rdf:RDF></x:xmpmeta>'
        )
        meta = {"format": "WEBP", "lossless": True, "xmp": xmp.encode()}
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0, **meta)


# --------------------------------------------------------------------------------------------------- contact sheets


def evenly_spaced(frames: np.ndarray, k: int) -> np.ndarray:
    """`k` frames spread evenly from the first to the last (all of them if there are no more than `k`)."""
    t = len(frames)
    if t <= k:
        return frames
    return frames[np.linspace(0, t - 1, k).round().astype(int)]


def write_contact_sheet(
    path: str | os.PathLike,
    frames: np.ndarray,
    cols: int | None = None,
    max_frames: int = 16,
    scale: int | None = None,
) -> None:
    """Write a PNG grid of up to `max_frames` evenly spaced frames, `cols` per row (default: a near-square grid).

    Tiles are upscaled by the integer `scale` with nearest neighbour (default: until the shorter side is >= 128 px)
    and separated by thin dark lines.
    """
    path = Path(path)
    try:
        frames = _as_frames(frames)
    except ValueError as e:
        raise VideoError(f"cannot write contact sheet '{path}': {e}") from None
    picked = list(evenly_spaced(frames, max(1, max_frames)))
    cols = cols or math.ceil(math.sqrt(len(picked)))
    _write_grid(path, [picked[i : i + cols] for i in range(0, len(picked), cols)], scale)


def write_contact_sheet_rows(
    path: str | os.PathLike, videos: Sequence[np.ndarray], frames_per_row: int = 8, scale: int | None = None
) -> None:
    """Write a PNG with one row per video, each `frames_per_row` evenly spaced frames; sizes may differ."""
    path = Path(path)
    if not videos:
        raise VideoError(f"cannot write contact sheet '{path}': no videos given")
    try:
        rows = [list(evenly_spaced(_as_frames(v), max(1, frames_per_row))) for v in videos]
    except ValueError as e:
        raise VideoError(f"cannot write contact sheet '{path}': {e}") from None
    _write_grid(path, rows, scale)


def _write_grid(path: Path, rows: list[list[np.ndarray]], scale: int | None) -> None:
    tile_h = max(t.shape[0] for row in rows for t in row)
    tile_w = max(t.shape[1] for row in rows for t in row)
    scale = scale or max(1, math.ceil(_SHEET_MIN_TILE / min(tile_h, tile_w)))
    cell_h, cell_w = tile_h * scale + _SEP, tile_w * scale + _SEP
    ncols = max(len(row) for row in rows)
    sheet = np.full((len(rows) * cell_h + _SEP, ncols * cell_w + _SEP, 3), _SEP_COLOR, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            big = tile.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = _SEP + i * cell_h, _SEP + j * cell_w
            sheet[y : y + big.shape[0], x : x + big.shape[1]] = big
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(sheet).save(tmp, format="PNG")
    except OSError as e:
        raise VideoError(f"cannot write contact sheet '{path}': {_reason(e)}") from e
