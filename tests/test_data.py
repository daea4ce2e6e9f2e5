"""The data pipeline's manifest stages: scan, split, score, filter, shards and resume, on synthetic and real clips."""

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kinema.cli import app
from kinema.data.clips import read_clip
from kinema.data.manifest import Result, read_manifest, row_key, run_stage, write_manifest
from kinema.data.select import compile_expression, filter_manifest
from kinema.io import write_video
from kinema.world.render import render
from kinema.world.sample import sample_scene

pytest.importorskip("cv2", reason="the data extra (opencv-python-headless) is not installed")
pytest.importorskip("scenedetect", reason="the data extra (scenedetect) is not installed")

runner = CliRunner()
FPS = 12.0
CUT = 24  # frames of the first clip in concat.mp4
REAL = Path("/usr/share/doc/opencv-doc/examples/data")


def _scene(seed: int) -> np.ndarray:
    return render(sample_scene(np.random.default_rng(seed), 1, 64, 64, seconds=2.0, fps=FPS))


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """a.mp4 and b.mp4 (two world scenes), concat.mp4 (a then b), still.mp4, and a corrupt file."""
    d = tmp_path_factory.mktemp("videos")
    a, b = _scene(6), _scene(3)
    assert np.abs(a[-1].astype(int) - b[0]).mean() > 20, "the two scenes must look different"
    write_video(d / "a.mp4", a, FPS)
    write_video(d / "b.mp4", b, FPS)
    write_video(d / "sub" / "concat.mp4", np.concatenate([a, b]), FPS)
    write_video(d / "still.mp4", np.repeat(a[:1], 12, 0), FPS)
    (d / "sub" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    return d


def _scan(videos: Path, out: Path, *args: str) -> list[dict]:
    r = runner.invoke(app, ["data", "scan", str(videos), "-o", str(out), "--quiet", *args])
    assert r.exit_code == 0, r.output
    return read_manifest(out)


def test_scan_lists_videos_and_rejects_corrupt(videos, tmp_path):
    rows = _scan(videos, tmp_path / "m.csv", "--workers", "2")  # worker processes
    by_name = {Path(r["path"]).name: r for r in rows}
    assert sorted(by_name) == ["a.mp4", "b.mp4", "concat.mp4", "still.mp4"]
    c = by_name["concat.mp4"]
    assert (c["num_frames"], c["width"], c["height"], c["fps"], c["codec"]) == (48, 64, 64, 12.0, "h264")
    assert c["duration"] == pytest.approx(4.0) and c["aspect_ratio"] == 1.0 and c["resolution"] == 4096
    rejects = read_manifest(tmp_path / "m.rejects.csv")
    assert [Path(r["path"]).name for r in rejects] == ["corrupt.mp4"]
    assert "not a video" in rejects[0]["reason"]
    # Idempotent: a second run does no work and writes the same bytes.
    before = (tmp_path / "m.csv").read_bytes()
    r = runner.invoke(app, ["data", "scan", str(videos), "-o", str(tmp_path / "m.csv"), "--quiet"])
    assert "0 videos processed now" in r.output
    assert (tmp_path / "m.csv").read_bytes() == before


def test_manifest_round_trips(tmp_path):
    (tmp_path / "v").mkdir()
    rows = [
        {"path": str(tmp_path / "v" / "x.mp4"), "text": 'a "quoted", caption', "num_frames": 9, "fps": 23.976},
        {"path": "/elsewhere/y.mp4", "text": "", "num_frames": 1, "fps": 30.0},
    ]
    write_manifest(tmp_path / "m.csv", rows)
    with open(tmp_path / "m.csv", newline="") as f:
        stored = list(csv.DictReader(f))
    assert stored[0]["path"] == "v/x.mp4"  # relative below the manifest's folder, absolute elsewhere
    assert read_manifest(tmp_path / "m.csv") == rows


def test_split_cuts_concatenated_clips_at_the_right_frame(videos, tmp_path):
    write_manifest(tmp_path / "m.csv", [{"path": str(videos / "sub" / "concat.mp4")}])
    r = runner.invoke(app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "clips.csv"), "--quiet"])
    assert r.exit_code == 0, r.output
    clips = read_manifest(tmp_path / "clips.csv")
    assert len(clips) == 2
    cut = round(clips[1]["start"] * FPS)
    assert abs(cut - CUT) <= 2 and clips[0]["end"] == clips[1]["start"]
    assert (clips[0]["num_frames"], clips[1]["num_frames"]) == (cut, 48 - cut)
    # The second clip's window decodes to the second scene's frames.
    frames, _ = read_clip(clips[1]["path"], clips[1]["start"], clips[1]["end"])
    b, _ = read_clip(videos / "b.mp4")
    assert len(frames) == 48 - cut and np.abs(frames[-1].astype(int) - b[-1]).mean() < 3


def test_split_length_rules_and_export(videos, tmp_path):
    write_manifest(tmp_path / "m.csv", [{"path": str(videos / "sub" / "concat.mp4")}])
    args = ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "c.csv"), "--quiet", "--max-seconds", "1"]
    r = runner.invoke(app, [*args, "--export", str(tmp_path / "clips")])
    assert r.exit_code == 0, r.output
    clips = read_manifest(tmp_path / "c.csv")
    assert len(clips) == 4 and all(c["num_frames"] == 12 for c in clips)  # two 2-s scenes, each in two pieces
    assert all(Path(c["path"]).parent == tmp_path / "clips" and c["start"] == 0 for c in clips)
    assert len(read_clip(clips[0]["path"])[0]) == 12
    r = runner.invoke(
        app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "d.csv"), "--min-seconds", "3"]
    )
    assert r.exit_code == 0 and read_manifest(tmp_path / "d.csv") == []


def test_shards_merge_to_the_whole_run(videos, tmp_path):
    rows = _scan(videos, tmp_path / "m.csv")
    whole = runner.invoke(app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "all.csv"), "--quiet"])
    assert whole.exit_code == 0, whole.output
    for i in range(3):
        args = ["--shard", f"{i}/3", "--quiet"]
        r = runner.invoke(app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "p.csv"), *args])
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"p.shard-{i}-of-3.csv").is_file()
    r = runner.invoke(app, ["data", "merge", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    key = lambda r: (r["path"], r["start"])  # noqa: E731
    assert sorted(read_manifest(tmp_path / "p.csv"), key=key) == sorted(read_manifest(tmp_path / "all.csv"), key=key)
    assert len(rows) == 4
    (tmp_path / "p.shard-1-of-3.csv").unlink()
    r = runner.invoke(app, ["data", "merge", str(tmp_path / "p.csv")])
    assert r.exit_code == 2 and "shards [1] of 3 are missing" in r.output


def _count(item):
    return Result(rows=[{"path": item, "n": len(item)}])


def _stop_at_b(item):
    if item == "b":
        raise KeyboardInterrupt
    return _count(item)


def test_stage_resumes_after_a_stop(tmp_path):
    units = [(row_key({"path": p}), p) for p in "abc"]
    with pytest.raises(KeyboardInterrupt):
        run_stage("t", units, _stop_at_b, tmp_path / "o.csv", progress=False)
    done = run_stage("t", units, _count, tmp_path / "o.csv", progress=False)
    assert done.done_now == 2 and [r["path"] for r in done.rows] == ["a", "b", "c"]
    again = run_stage("t", units, _count, tmp_path / "o.csv", progress=False)
    assert again.done_now == 0 and again.rows == done.rows


def test_scores_tell_still_from_moving_and_black(videos, tmp_path):
    write_video(tmp_path / "black.mp4", np.zeros((6, 64, 64, 3), np.uint8), FPS)
    rows = [{"path": str(videos / n)} for n in ("still.mp4", "a.mp4")] + [{"path": str(tmp_path / "black.mp4")}]
    write_manifest(tmp_path / "m.csv", rows)
    r = runner.invoke(app, ["data", "score", str(tmp_path / "m.csv"), "-o", str(tmp_path / "s.csv"), "--quiet"])
    assert r.exit_code == 0, r.output
    still, moving, black = read_manifest(tmp_path / "s.csv")
    assert still["static"] == 1.0 and still["motion"] < 0.5 and still["black"] == 0
    assert moving["motion"] > 2 and moving["static"] < 1 and moving["sharpness"] > 0
    assert black["black"] == 1.0 and black["brightness"] < 1
    kept, total = filter_manifest(
        tmp_path / "s.csv", tmp_path / "f.csv", ["motion > 0.5 and not black", "sharpness > 0"]
    )
    assert (kept, total) == (1, 3) and read_manifest(tmp_path / "f.csv")[0]["path"] == str(videos / "a.mp4")


@pytest.mark.parametrize(
    "expr, words",
    [("motion >", "not a valid expression"), ("speed > 1", "unknown column 'speed'"),
     ("path.__class__", "not allowed"), ("__import__('os')", "may be called")],
)  # fmt: skip
def test_filter_refuses_bad_expressions(expr, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        compile_expression(expr, ["path", "motion"])


def test_bad_input_is_one_error_line(videos, tmp_path):
    r = runner.invoke(app, ["data", "split", str(tmp_path / "none.csv"), "-o", str(tmp_path / "c.csv")])
    assert r.exit_code == 2 and "no such file" in r.output
    write_manifest(tmp_path / "m.csv", [{"path": str(videos / "a.mp4")}])
    r = runner.invoke(app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "c.csv"), "--shard", "3/2"])
    assert r.exit_code == 2 and "0 <= I < N" in r.output
    assert not (tmp_path / "c.csv").exists()


@pytest.mark.skipif(not (REAL / "Megamind.avi").is_file(), reason="Debian's opencv-doc sample videos not installed")
def test_split_real_footage_at_the_joint(tmp_path):
    import cv2

    a, _ = read_clip(REAL / "Megamind.avi", 0, 3.5, short_side=240)  # one shot (its first cut is at 4.1 s)
    b, _ = read_clip(REAL / "vtest.avi", 0, 4, short_side=240)
    b = np.stack([cv2.resize(f, (a.shape[2], a.shape[1])) for f in b])
    write_video(tmp_path / "joined.mp4", np.concatenate([a, b]), 24.0)
    _scan(tmp_path, tmp_path / "m.csv")
    runner.invoke(app, ["data", "split", str(tmp_path / "m.csv"), "-o", str(tmp_path / "c.csv"), "--quiet"])
    joined = [c for c in read_manifest(tmp_path / "c.csv") if c["path"].endswith("joined.mp4")]
    assert len(joined) == 2 and abs(round(joined[1]["start"] * 24) - len(a)) <= 2
