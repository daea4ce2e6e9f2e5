"""The `kinema` command: flag checking (one error line, exit status 2) and a `world sample` run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import kinema
from kinema.cli import app, parse_size
from kinema.io import read_video, write_video
from kinema.world.scene import Scene, Shot

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_bad_input(result, *words: str) -> None:
    """Exit status 2 and exactly one line on stderr, `error: ...`, containing `words`."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for w in words:
        assert w in lines[0]


@pytest.fixture
def scene_file(tmp_path):
    path = tmp_path / "scene.json"
    path.write_text(Scene(id="s", width=64, height=64, fps=12.0, shots=[Shot(duration=1.0)]).to_json())
    return path


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"kinema {kinema.__version__}"


@pytest.mark.parametrize("text,size", [("96x64", (96, 64)), ("1X1", (1, 1)), (" 64 x 48 ", (64, 48))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["64", "0x64", "64x0", "ax3", "-4x4", "64x64x3", ""])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize("command", ["sample", "dataset"])
@pytest.mark.parametrize(
    "flags,words",
    [
        (["--level", "0"], ["--level 0", "1, 2, 3, 4"]),
        (["--level", "5"], ["--level 5"]),
        (["--size", "64"], ["size '64'", "WIDTHxHEIGHT"]),
        (["--size", "0x64"], ["size '0x64'", "at least 1"]),
        (["--size", "ax3"], ["size 'ax3'"]),
        (["--seconds", "0"], ["--seconds 0"]),
        (["--seconds", "-1"], ["--seconds -1"]),
        (["--seconds", "nan"], ["--seconds nan"]),
        (["--fps", "0"], ["--fps 0"]),
        (["--fps", "-12"], ["--fps -12"]),
        (["--n", "0"], ["--n 0"]),
        (["--seed", "-1"], ["--seed -1"]),
    ],
)
def test_world_flags_are_checked(tmp_path, command, flags, words):
    base = {"--n": "2", "--out": str(tmp_path / "out")}
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        base[flag] = value
    result = run("world", command, *[x for kv in base.items() for x in kv])
    assert_bad_input(result, *words)
    assert not (tmp_path / "out").exists()


def test_size_below_the_worlds_minimum(tmp_path):
    pytest.importorskip("kinema.world.sample")
    assert_bad_input(run("world", "sample", "--size", "8x8", "--out", tmp_path), "8x8")


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    assert_bad_input(run("world", "sample", "--out", tmp_path / "file"), "is not a folder")


def test_dataset_needs_n_and_out():
    assert run("world", "dataset").exit_code == 2


def test_validate_judge_checks_n():
    assert_bad_input(run("world", "validate-judge", "--n", "0"), "--n 0")


def test_judge_missing_scene(tmp_path):
    assert_bad_input(run("world", "judge", tmp_path / "v.mp4", "--scene", tmp_path / "nope.json"), "nope.json")


@pytest.mark.parametrize("text", ["not json", '{"id": 1}', "[1, 2]", "5", '{"scene": {"shots": [7]}}'])
def test_judge_invalid_scene(tmp_path, text):
    (tmp_path / "bad.json").write_text(text)
    result = run("world", "judge", tmp_path / "v.mp4", "--scene", tmp_path / "bad.json")
    assert_bad_input(result, "bad.json", "not a valid scene")


def test_judge_missing_video(tmp_path, scene_file):
    assert_bad_input(run("world", "judge", tmp_path / "v.mp4", "--scene", scene_file), "v.mp4", "no such file")


def test_judge_unreadable_video(tmp_path, scene_file):
    (tmp_path / "v.mp4").write_bytes(b"\x00" * 1000)
    assert_bad_input(run("world", "judge", tmp_path / "v.mp4", "--scene", scene_file), "v.mp4")


def test_world_sample_end_to_end(tmp_path):
    for module in ("kinema.world.sample", "kinema.world.render", "kinema.world.caption"):
        pytest.importorskip(module)
    out = tmp_path / "samples"
    result = run("world", "sample", "--n", "2", "--seed", "3", "--out", out, "--size", "48x32", "--seconds", "1")
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    ids = sorted(p.stem for p in out.glob("*.mp4"))
    assert len(ids) == 2 and sorted(p.stem for p in out.glob("*.json")) == ids
    for i in ids:
        record = json.loads((out / f"{i}.json").read_text())
        assert record["dense_caption"] and record["short_prompt"]
        scene = Scene.from_json((out / f"{i}.json").read_text())
        assert (scene.id, scene.width, scene.height) == (i, 48, 32)
        frames, fps = read_video(out / f"{i}.mp4")
        assert frames.shape == (scene.num_frames, 32, 48, 3) and fps == scene.fps == 12.0
    # one row per clip, 8 tiles of 48x32 upscaled 4x (shorter side >= 128 px), 2 px lines
    assert Image.open(out / "contact_sheet.png").size == (8 * (192 + 2) + 2, 2 * (128 + 2) + 2)
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_world_judge_json_is_one_object(tmp_path):
    pytest.importorskip("kinema.world.judge")
    from kinema.world.render import render
    from kinema.world.sample import sample_scenes

    scene = next(sample_scenes(1, seed=0, level=1))
    write_video(tmp_path / "v.mp4", render(scene), scene.fps)
    (tmp_path / "v.json").write_text(scene.to_json())
    result = run("world", "judge", tmp_path / "v.mp4", "--scene", tmp_path / "v.json", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"passed", "score", "checks"}
    assert all(set(c) == {"category", "claim", "passed", "evidence"} for c in report["checks"])
    assert isinstance(report["passed"], bool) and np.isfinite(report["score"])
