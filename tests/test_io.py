"""Video I/O: round trips per format, odd sizes, contact sheets, clear errors and atomic writes."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kinema.io import (
    VideoError,
    atomic_write_text,
    evenly_spaced,
    read_video,
    write_contact_sheet,
    write_contact_sheet_rows,
    write_video,
)


def smooth_video(t: int = 24, h: int = 64, w: int = 64) -> np.ndarray:
    """A soft colour gradient drifting right: easy for lossy codecs, different in every frame."""
    y, x = np.mgrid[:h, :w] / max(h, w)
    frames = [
        np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (x + i / t)), 0.2 + 0.6 * y, 0.3 + 0.3 * (x + y) / 2], -1)
        for i in range(t)
    ]
    return np.rint(np.stack(frames) * 255).astype(np.uint8)


def paletted_video(rng: np.random.Generator, t: int, h: int, w: int) -> np.ndarray:
    """Random frames of at most 16 colours (so GIF stores them exactly), with a repeated frame."""
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    frames = palette[rng.integers(0, 16, (t, h, w))]
    if t > 2:
        frames[2] = frames[1]  # GIF and WebP encoders merge repeats; the reader must restore them
    return frames


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def leftovers(directory) -> list[str]:
    return sorted(p for p in os.listdir(directory) if ".tmp-" in p)


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_lossy_round_trip(tmp_path, suffix):
    frames = smooth_video()
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames, 12.0)
    got, fps = read_video(path)
    assert got.shape == frames.shape and got.dtype == np.uint8
    assert fps == 12.0
    assert mae(got, frames) < 2.5  # ~1.8 of it is 4:2:0 chroma subsampling, which even crf 0 has
    assert leftovers(tmp_path) == []


def test_mp4_is_h264_faststart_and_keeps_fractional_fps(tmp_path):
    path = tmp_path / "ntsc.mp4"
    write_video(path, smooth_video(t=6), 30000 / 1001)
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert read_video(path)[1] == 30000 / 1001


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_round_trip_is_exact_and_keeps_repeated_frames(tmp_path, suffix):
    frames = paletted_video(np.random.default_rng(0), t=12, h=20, w=30)
    frames[5:9] = frames[4]  # a still stretch
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames, 12.0)
    got, fps = read_video(path)
    assert fps == 12.0
    np.testing.assert_array_equal(got, frames)


@settings(max_examples=25, deadline=None)
@given(
    suffix=st.sampled_from([".png", ".gif", ".webp"]),
    t=st.integers(1, 4),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    fps=st.sampled_from([1.0, 8.0, 12.0, 24.0, 30000 / 1001]),
    seed=st.integers(0, 2**16),
)
def test_lossless_round_trip_any_size(tmp_path_factory, suffix, t, h, w, fps, seed):
    t = 1 if suffix == ".png" else t
    frames = paletted_video(np.random.default_rng(seed), t, h, w)
    path = tmp_path_factory.mktemp("rt") / f"v{suffix}"
    write_video(path, frames, fps)
    got, got_fps = read_video(path)
    np.testing.assert_array_equal(got, frames)
    assert got_fps == (1.0 if suffix == ".png" else fps)


def test_foreign_gif_gets_fps_from_its_shortest_delay(tmp_path):
    a, b = (Image.new("RGB", (4, 4), c) for c in ("red", "blue"))
    a.save(tmp_path / "x.gif", save_all=True, append_images=[b], duration=[100, 200])
    got, fps = read_video(tmp_path / "x.gif")
    assert fps == 10.0 and len(got) == 3
    assert (got[0] == got[0, 0, 0]).all() and (got[1] == got[2]).all() and (got[0] != got[1]).any()


def test_still_image_reads_as_one_frame(tmp_path):
    Image.new("RGB", (5, 3), (10, 20, 30)).save(tmp_path / "x.jpg")
    got, fps = read_video(tmp_path / "x.jpg")
    assert got.shape == (1, 3, 5, 3) and fps == 1.0
    assert np.abs(got.astype(int) - [10, 20, 30]).max() <= 3


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_odd_size_is_padded_to_even_by_edge_replication(tmp_path, suffix):
    frames = smooth_video(t=4, h=47, w=63)
    write_video(tmp_path / f"odd{suffix}", frames, 12.0)
    got, _ = read_video(tmp_path / f"odd{suffix}")
    assert got.shape == (4, 48, 64, 3)  # padded, not cropped back
    assert mae(got[:, :47, :63], frames) < 2.5
    assert mae(got[:, :47, 63], frames[:, :, 62]) < 4.0  # the extra column repeats the edge
    assert mae(got[:, 47, :63], frames[:, 46]) < 4.0


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_tiny_frames_encode(tmp_path, suffix):
    write_video(tmp_path / f"dot{suffix}", np.full((3, 1, 1, 3), 200, np.uint8), 12.0)
    got, _ = read_video(tmp_path / f"dot{suffix}")
    assert got.shape == (3, 2, 2, 3)
    assert np.abs(got.astype(int) - 200).max() <= 4


def test_float_frames_are_scaled_by_255(tmp_path):
    frames = np.full((1, 2, 2, 3), 0.5, np.float32)
    write_video(tmp_path / "f.png", frames, 1.0)
    assert (read_video(tmp_path / "f.png")[0] == 128).all()


@pytest.mark.parametrize(
    "frames,fps,name,message",
    [
        (np.zeros((8, 8, 3), np.uint8), 12, "a.mp4", "shape (T, H, W, 3)"),
        (np.zeros((2, 8, 8, 4), np.uint8), 12, "a.mp4", "shape (T, H, W, 3)"),
        (np.zeros((0, 8, 8, 3), np.uint8), 12, "a.mp4", "T, H, W >= 1"),
        (np.zeros((2, 8, 8, 3), np.int64), 12, "a.mp4", "uint8, or float in [0, 1]; got int64"),
        (np.full((2, 8, 8, 3), 1.5), 12, "a.mp4", "float frames must lie in [0, 1]"),
        (np.full((2, 8, 8, 3), np.nan), 12, "a.mp4", "float frames must lie in [0, 1]"),
        (np.zeros((2, 8, 8, 3), np.uint8), 0, "a.mp4", "fps must be a positive number"),
        (np.zeros((2, 8, 8, 3), np.uint8), float("nan"), "a.mp4", "fps must be a positive number"),
        (np.zeros((2, 8, 8, 3), np.uint8), 12, "a.avi", "unknown format '.avi'"),
        (np.zeros((2, 8, 8, 3), np.uint8), 12, "a.png", ".png holds one frame; got 2"),
        (np.zeros((2, 8, 8, 3), np.uint8), 60, "a.gif", "at most 50 fps"),
        (np.zeros((1, 2, 20000, 3), np.uint8), 12, "a.mp4", "at most 16384 px a side; got 20000x2"),
    ],
)
def test_bad_frames_raise_one_clear_line(tmp_path, frames, fps, name, message):
    with pytest.raises(VideoError) as e:
        write_video(tmp_path / name, frames, fps)
    assert str(e.value).startswith(f"cannot write video '{tmp_path / name}': ")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_no_temp_file_and_keeps_the_old_video(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    write_video(path, smooth_video(t=3), 12.0)
    before = path.read_bytes()
    from_ndarray = av.VideoFrame.from_ndarray

    def dies_once_the_temp_file_exists(*args, **kwargs):
        if leftovers(tmp_path):
            raise RuntimeError("encoder died mid-write")
        return from_ndarray(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", dies_once_the_temp_file_exists)
    with pytest.raises(RuntimeError, match="mid-write"):
        write_video(path, smooth_video(t=96, h=16, w=16), 12.0)
    assert os.listdir(tmp_path) == ["clip.mp4"]
    assert path.read_bytes() == before


def test_atomic_write_text(tmp_path):
    atomic_write_text(tmp_path / "sub" / "a.json", '{"a": 1}\n')
    assert (tmp_path / "sub" / "a.json").read_text() == '{"a": 1}\n'
    assert leftovers(tmp_path / "sub") == []


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("missing.mp4", None, "no such file"),
        ("empty.mp4", b"", "file is empty"),
        ("garbage.mp4", bytes(range(256)) * 20, "not a video or image it can decode"),
        ("garbage.gif", b"GIF89a" + bytes(100), "not a video or image it can decode"),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(50), "not a video or image it can decode"),
    ],
)
def test_unreadable_files_raise_one_clear_line(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError) as e:
        read_video(path)
    assert str(e.value).startswith(f"cannot read video '{path}': ")
    assert reason in str(e.value) and "\n" not in str(e.value)


def test_truncated_mp4_raises_instead_of_returning_part(tmp_path):
    path = tmp_path / "cut.mp4"
    write_video(path, smooth_video(), 12.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        read_video(path)


def test_truncated_webm_returns_the_frames_that_decode(tmp_path):
    path = tmp_path / "cut.webm"
    write_video(path, smooth_video(), 12.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    got, fps = read_video(path)  # WebM has no index that promises a frame count
    assert 0 < len(got) < 24 and fps == 12.0


def test_evenly_spaced_includes_first_and_last():
    frames = np.arange(24)[:, None, None, None] * np.ones((1, 1, 1, 3), np.uint8)
    assert evenly_spaced(frames, 4)[:, 0, 0, 0].tolist() == [0, 8, 15, 23]
    assert len(evenly_spaced(frames[:3], 8)) == 3


def test_contact_sheet_size(tmp_path):
    # 16 of the 24 frames as 4x4 tiles, upscaled 2x to 128 px, with 2 px lines between and around them
    write_contact_sheet(tmp_path / "sheet.png", smooth_video())
    assert Image.open(tmp_path / "sheet.png").size == (4 * 130 + 2, 4 * 130 + 2)
    write_contact_sheet(tmp_path / "wide.png", smooth_video(t=5), cols=5, scale=1)
    assert Image.open(tmp_path / "wide.png").size == (5 * 66 + 2, 66 + 2)


def test_contact_sheet_rows_one_row_per_video(tmp_path):
    videos = [smooth_video(t=24), smooth_video(t=5), smooth_video(t=12, h=32, w=48)]
    write_contact_sheet_rows(tmp_path / "rows.png", videos, frames_per_row=8)
    sheet = np.asarray(Image.open(tmp_path / "rows.png"))
    assert sheet.shape == (3 * 130 + 2, 8 * 130 + 2, 3)
    np.testing.assert_array_equal(sheet[2:130, 2:130], smooth_video(t=1)[0].repeat(2, 0).repeat(2, 1))
    assert leftovers(tmp_path) == []


def test_the_cli_world_and_trainer_import_without_pyav_and_the_readers_say_so(tmp_path):
    """A GPU image may hold PyTorch and not PyAV: only reading or writing a video file needs it."""
    import subprocess
    import sys

    script = """
import importlib.abc, sys
class NoAV(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "av":
            raise ImportError("No module named 'av'")
sys.meta_path.insert(0, NoAV())
import kinema.cli, kinema.train.dit
from kinema.train.dit_data import WorldClips
assert WorldClips(0, ((32, 32, 5, 1.0),))(0, 1, range(1)).frames.shape == (1, 3, 5, 32, 32)
from kinema.io import read_video
try:
    read_video(sys.argv[1])
except ImportError as e:
    print("needs", e)
"""
    (tmp_path / "a.mp4").write_bytes(b"not empty")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.mp4")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "needs No module named 'av'" in out.stdout
