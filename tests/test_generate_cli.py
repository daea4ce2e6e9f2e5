"""`kinema generate` and `kinema eval generate` on a tiny random-weight model folder: outputs, flags for every task,
the JSON keys, and bad input (exit 2, one error line, no output file)."""

import json

import numpy as np
import pytest
from test_pipeline import tiny
from typer.testing import CliRunner

from kinema.cli import app
from kinema.io import read_video, write_video
from kinema.world.sample import sample_scenes

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    tiny().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    write_video(d / "img.png", rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), 1.0)
    write_video(d / "a.mp4", rng.integers(0, 256, (9, 40, 40, 3), dtype=np.uint8), 8.0)
    write_video(d / "b.mp4", rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), 16.0)
    (d / "broken.png").write_text("not an image")
    return d


def gen(model, out, *args):
    return runner.invoke(app, ["generate", "a red ball bounces to the right", "-o", str(out), "--model", model, *args])


def test_generate_writes_video_and_sheet(model, tmp_path):
    r = gen(model, tmp_path / "v.mp4", "--seconds", "2", "--seed", "1", "--steps", "2", "--no-progress")
    assert r.exit_code == 0, r.output
    frames, fps = read_video(tmp_path / "v.mp4")
    assert frames.shape == (16, 32, 32, 3) and fps == 8.0
    assert (tmp_path / "v.sheet.png").is_file()
    assert str(tmp_path / "v.mp4") in r.stdout and str(tmp_path / "v.sheet.png") in r.stdout


@pytest.mark.parametrize(
    "args, frames",
    [
        (["--size", "48x32", "--guidance", "1", "--sampler", "heun"], 8),
        (["--image", "{d}/img.png", "--no-upsample"], 8),
        (["--video", "{d}/a.mp4", "--mode", "extend-forward", "--seconds", "1"], 17),
        (["--video", "{d}/a.mp4", "--mode", "extend-backward", "--seconds", "1"], 17),
        (["--video", "{d}/a.mp4", "--mode", "edit", "--strength", "0.5"], 9),
        (["--keyframe", "0={d}/img.png", "--keyframe", "1.5={d}/b.mp4", "--seconds", "2"], 16),
        (["--connect", "{d}/a.mp4", "{d}/b.mp4", "--seconds", "1"], 20),
        (["--loop", "--seconds", "2"], 17),
        (["--shot", "it bounces:1", "--shot", "it spins: 1.5"], 20),
    ],
)
def test_every_task_from_the_command_line(model, inputs, tmp_path, args, frames):
    r = gen(model, tmp_path / "v.mp4", "--steps", "2", "--no-progress", *(a.format(d=inputs) for a in args))
    assert r.exit_code == 0, r.output
    assert len(read_video(tmp_path / "v.mp4")[0]) == frames


def test_png_output_is_an_image(model, tmp_path):
    r = gen(model, tmp_path / "still.png", "--steps", "2", "--no-progress")
    assert r.exit_code == 0, r.output
    assert read_video(tmp_path / "still.png")[0].shape == (1, 32, 32, 3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "100x64"], "size 100x64 is not supported by this model; choose one of 32x32, 48x32"),
        (["--seconds", "0"], "--seconds 0: must be more than 0"),
        (["--seconds", "-2"], "--seconds -2: must be more than 0"),
        (["--seconds", "90"], "beyond this model's limit of 60 s"),
        (["--image", "{d}/broken.png"], "--image: cannot read video"),
        (["--image", "{d}/missing.png"], "no such file"),
        (["--video", "{d}/broken.png", "--mode", "edit"], "--video: cannot read video"),
        (["--mode", "extend-forward"], "--mode extend-forward needs --video"),
        (["--video", "{d}/a.mp4"], "say what to do with it"),
        (["--keyframe", "abc"], "expected TIME=IMAGE"),
        (["--shot", "no seconds"], 'expected "PROMPT:SECONDS"'),
        (["--fps", "30"], "fps 30 is not supported"),
        (["--loop", "--image", "{d}/img.png", "--video", "{d}/a.mp4", "--mode", "edit"], "cannot be combined"),
    ],
)
def test_bad_input_exits_2_without_output(model, inputs, tmp_path, args, message):
    out = tmp_path / "v.mp4"
    r = gen(model, out, "--no-progress", *(a.format(d=inputs) for a in args))
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_empty_prompt_bad_suffix_and_missing_model(model, tmp_path):
    for argv, message in [
        (["generate", " ", "-o", str(tmp_path / "v.mp4"), "--model", model], "empty prompt"),
        (["generate", "x", "-o", str(tmp_path / "v.avi"), "--model", model], "unknown format '.avi'"),
        (["generate", "x", "-o", str(tmp_path / "v.mp4"), "--model", str(tmp_path / "none")], "no such folder"),
    ]:
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and message in r.stderr, r.output
    assert list(tmp_path.iterdir()) == []


def test_eval_generate_json_and_report(model, tmp_path):
    r = runner.invoke(
        app, ["eval", "generate", "--model", model, "--n", "4", "--steps", "1", "--out", str(tmp_path), "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert set(result) == {"n", "overall", "categories", "tasks", "seconds_per_clip"} and result["n"] == 4
    assert 0 <= result["overall"] <= 1 and result["categories"] and result["seconds_per_clip"] > 0
    assert {"text_to_video", "image_to_video", "extend_forward", "extend_backward"} <= set(result["tasks"])
    assert result["tasks"]["image_to_video_first_frame_psnr"] > 0
    html = (tmp_path / "report.html").read_text()
    assert html.count("<img src='sheets/") == 4 and "text_to_video" in html
    assert json.loads((tmp_path / "results.json").read_text()) == result


def test_eval_generate_reads_a_suite_file(model, tmp_path):
    scenes = list(sample_scenes(2, seed=5, width=32, height=32, fps=8.0, level=1))
    suite = tmp_path / "suite.jsonl"
    suite.write_text("\n".join(s.to_json() for s in scenes) + "\n")
    args = ["eval", "generate", "--model", model, "--suite", str(suite), "--n", "5", "--steps", "1", "--json"]
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == 2
    suite.write_text(scenes[0].to_json() + "\n{not json\n")
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "r2")])
    assert r.exit_code == 2 and "line 2: not a scene" in r.stderr
