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


@pytest.fixture(scope="module", autouse=True)
def config_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as m:  # safety is on: the development C2PA CA goes here, not into the home
        m.setenv("KINEMA_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        yield


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
    clips = [json.loads(line) for line in (tmp_path / "clips.jsonl").read_text().splitlines()]
    assert [c["task"] for c in clips] == ["text_to_video", "image_to_video", "extend_forward", "extend_backward"]
    # The per-clip checks add up to the summary's categories.
    checks = [k for c in clips for k in c["checks"]]
    for cat, rate in result["categories"].items():
        mine = [k["passed"] for k in checks if k["category"] == cat]
        assert round(sum(mine) / len(mine), 4) == rate
    assert "first_frame_psnr" in clips[1] and all("evidence" in k for k in checks)


def test_eval_generate_guidance_and_sampler_override_the_model(model, tmp_path):
    args = ["eval", "generate", "--model", model, "--n", "1", "--steps", "2", "--json"]
    sheets = []
    for g in ("0", "9"):
        r = runner.invoke(app, [*args, "--guidance", g, "--sampler", "heun", "--out", str(tmp_path / g)])
        assert r.exit_code == 0, r.output
        sheets.append((tmp_path / g / "sheets" / "0000_text_to_video.png").read_bytes())
    assert sheets[0] != sheets[1]  # the flag reached the sampler
    two = ["eval", "generate", "--model", model, "--n", "2", "--steps", "2", "--json", "--guidance", "0"]
    made = {}
    for g in ("0", "9"):  # clip 0 is text-to-video, clip 1 image-to-video: only the latter is given frames
        r = runner.invoke(app, [*two, "--guidance-given", g, "--out", str(tmp_path / f"given{g}")])
        assert r.exit_code == 0, r.output
        names = ("0000_text_to_video.png", "0001_image_to_video.png")
        made[g] = [(tmp_path / f"given{g}" / "sheets" / f).read_bytes() for f in names]
    assert made["0"][0] == made["9"][0] and made["0"][1] != made["9"][1]
    r = runner.invoke(app, [*two, "--guidance-given", "9", "--frame-guidance", "3", "--out", str(tmp_path / "fg")])
    assert r.exit_code == 0, r.output
    framed = [(tmp_path / "fg" / "sheets" / f).read_bytes() for f in names]
    assert framed[0] == made["9"][0] and framed[1] != made["9"][1]  # only the clip given frames is guided on them
    bad_flags = (("--guidance=-1", "guidance"), ("--sampler=rk4", "sampler"), ("--guidance-given=-1", "given"))
    for bad, message in (*bad_flags, ("--frame-guidance=-1", "frame_guidance")):
        r = runner.invoke(app, [*args, bad, "--out", str(tmp_path / "bad")])
        assert r.exit_code == 2 and message in r.stderr, r.output
        assert not (tmp_path / "bad").exists()


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


# -- safety: on by default ----------------------------------------------------------------------------------------

BLOCKED = "a naked woman in bed, explicit sex"


def test_a_blocked_prompt_exits_3_with_the_reason_and_writes_nothing(model, tmp_path):
    r = runner.invoke(app, ["generate", BLOCKED, "-o", str(tmp_path / "v.mp4"), "--model", model, "--no-progress"])
    assert r.exit_code == 3, r.output
    assert r.stderr.startswith("refused: blocked: sexual") and r.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
    shot = ["generate", "a street at night", "--shot", f"{BLOCKED}:1", "-o", str(tmp_path / "v.mp4"), "--model", model]
    r = runner.invoke(app, shot)
    assert r.exit_code == 3 and "(in the shot prompt)" in r.stderr, r.output
    assert list(tmp_path.iterdir()) == []


def test_blocked_frames_exit_3_and_write_nothing(model, tmp_path, monkeypatch):
    from kinema.safety import Guard
    from kinema.safety.moderation import Decision

    refuse = Decision(False, ["reference_match"], {"reference_match": 1.0}, "blocked: emblem in 8 of 8 frames")
    monkeypatch.setattr(Guard, "check_frames", lambda self, frames: refuse)
    r = gen(model, tmp_path / "v.mp4", "--steps", "1", "--no-progress")
    assert r.exit_code == 3 and r.stderr == "refused: blocked: emblem in 8 of 8 frames\n", r.output
    assert list(tmp_path.iterdir()) == []


def test_a_generated_video_is_detected_and_verifies(model, tmp_path):
    from kinema.pipeline import Pipeline
    from kinema.safety import payload

    r = gen(model, tmp_path / "v.mp4", "--seconds", "2", "--seed", "4", "--steps", "2", "--no-progress")
    assert r.exit_code == 0, r.output
    job = Pipeline.from_pretrained(model)("a red ball bounces to the right", seconds=2, seed=4, num_steps=2).info
    assert job["watermark"][:4] == payload(job["model_id"], "")[:2].hex()  # the first 16 bits name the model
    found = json.loads(runner.invoke(app, ["detect", str(tmp_path / "v.mp4"), "--json"]).stdout)
    assert found["detected"] and found["payload"] == job["watermark"] and found["bit_accuracy"] >= 0.95
    report = json.loads(runner.invoke(app, ["verify", str(tmp_path / "v.mp4"), "--json"]).stdout)
    assert report["c2pa"]["present"] and report["c2pa"]["state"] == "Valid"
    assert report["c2pa"]["actions"][0]["action"] == "c2pa.created"
    assert report["c2pa"]["actions"][0]["parameters"]["model"] == job["model_id"]
    assert report["watermark"]["detected"] and report["watermark"]["payload"] == job["watermark"]


def test_unsafe_no_filter_is_logged_and_still_marks_and_signs(model, tmp_path, caplog):
    out = tmp_path / "v.mp4"
    r = runner.invoke(
        app, ["generate", BLOCKED, "-o", str(out), "--model", model, "--steps", "1", "--unsafe-no-filter"]
    )
    assert r.exit_code == 0, r.output
    assert "--unsafe-no-filter" in r.stderr and any("unsafe-no-filter" in m for m in caplog.messages)
    report = json.loads(runner.invoke(app, ["verify", str(out), "--json"]).stdout)
    assert report["c2pa"]["state"] == "Valid" and report["watermark"]["detected"]


def test_the_operators_safety_file(model, tmp_path):
    names = tmp_path / "people.txt"
    names.write_text("Tom Hobbs\n")
    config = tmp_path / "safety.json"
    config.write_text(json.dumps({"people_lists": [str(names)], "c2pa": False}))
    argv = ["generate", "a red ball rolls past t0m  h0bbs", "--model", model, "--steps", "1", "--no-progress"]
    r = runner.invoke(app, [*argv, "-o", str(tmp_path / "a.mp4"), "--safety", str(config)])
    assert r.exit_code == 3 and "Tom Hobbs" in r.stderr, r.output
    r = runner.invoke(app, ["generate", "a red ball", "--model", model, "--steps", "1", "-o", str(tmp_path / "b.mp4")])
    assert r.exit_code == 0, r.output  # without the file: the shipped lists, signed
    config.write_text(json.dumps({"c2pa": False}))
    r = runner.invoke(app, [*argv, "-o", str(tmp_path / "c.mp4"), "--safety", str(config)])
    assert r.exit_code == 0, r.output
    assert (
        json.loads(runner.invoke(app, ["verify", str(tmp_path / "c.mp4"), "--json"]).stdout)["c2pa"]["present"] is False
    )
    config.write_text('{"colour": "red"}')
    r = runner.invoke(app, [*argv, "-o", str(tmp_path / "d.mp4"), "--safety", str(config)])
    assert r.exit_code == 2 and r.stderr.startswith("error: --safety: safety config: unknown keys ['colour']")
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["b.mp4", "c.mp4"]


def test_bench_generate_prints_the_median_and_memory(model):
    r = runner.invoke(app, ["bench", "generate", "--model", model, "--seconds", "1", "--repeats", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(out["runs_s"]) == 2 and out["median_s"] > 0 and out["peak_rss_mb"] > 0
    assert out["seconds"] == 1.0 and out["threads"] >= 1
    bad = runner.invoke(app, ["bench", "generate", "--model", model, "--repeats", "0"])
    assert bad.exit_code == 2


def test_eval_generate_long_videos_add_the_identity_rate(model, tmp_path):
    args = ["eval", "generate", "--model", model, "--n", "1", "--steps", "1", "--out", str(tmp_path), "--json"]
    r = runner.invoke(app, [*args, "--long-seconds", "6", "--long-n", "1"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert set(result) == {"n", "overall", "categories", "tasks", "seconds_per_clip"}
    assert 0 <= result["tasks"]["long_video_identity"] <= 1
    assert result["tasks"]["long_video_identity"] <= result["tasks"]["long_video_subject_present"] <= 1
    long = json.loads((tmp_path / "long.json").read_text())
    assert long["windows"] >= 2 and len(long["per_video"]) == 1 and (tmp_path / "sheets" / "long_00.png").is_file()
    assert json.loads((tmp_path / "results.json").read_text()) == result
    r = runner.invoke(app, [*args, "--long-seconds", "-1"])
    assert r.exit_code == 2 and "--long-seconds" in r.output
