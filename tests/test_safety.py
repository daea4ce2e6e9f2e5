"""Safety: name lists and normalisation, prompt decisions, frame matching, watermark, C2PA, the commands."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kinema.cli import app
from kinema.io import read_video, write_video
from kinema.models.text import RandomTextEncoder
from kinema.safety import Guard, SafetyConfig
from kinema.safety import watermark as wm
from kinema.safety.evaluate import composite, emblem
from kinema.safety.frames import FrameModerator, ReferenceMatcher, TorchFrameClassifier
from kinema.safety.lists import TermList
from kinema.safety.moderation import Head, PromptModerator
from kinema.world.render import render
from kinema.world.sample import sample_scenes

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_CONFIG_DIR", str(tmp_path / "config"))


def world(size=64, seed=3):
    return render(next(sample_scenes(1, seed=seed, width=size, height=size, seconds=1.0)))


@pytest.mark.parametrize(
    "text", ["t4yl0r sw1ft", "T a y l o r  S w i f t", "tаylor swift", "TAYLOR-SWIFT", "taylorswift's new song"]
)
def test_list_matches_through_leetspeak_spacing_and_homoglyphs(text):
    assert TermList("public_figures", ["Taylor Swift"]).find(text) == ["Taylor Swift"]


@pytest.mark.parametrize("text", ["a tailor sews a shirt", "taylor", "swift birds"])
def test_list_needs_the_whole_name(text):
    assert TermList("public_figures", ["Taylor Swift"]).find(text) == []


def moderator(**thresholds):
    """A head that scores every prompt 0 (all logits -10); tests raise single logits through the bias."""
    head = Head(dim=8, hidden=4).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.net[-1].bias.fill_(-10.0)
    lists = [TermList("copyright", ["Spider-Man"])]
    return PromptModerator(head, lists, thresholds, encoder=RandomTextEncoder(dim=8))


def test_prompt_decisions_lists_thresholds_and_minors():
    m = moderator()
    assert m.check("a red ball bounces").allowed
    d = m.check("sp1der man swings")
    assert not d.allowed and d.categories == ["copyright"] and "Spider-Man" in d.reason
    assert moderator(copyright="off").check("spiderman swings").allowed
    with pytest.raises(ValueError, match="always blocked"):
        moderator(sexual_minors="off")
    with pytest.raises(ValueError, match="strict, default, off"):
        moderator(sexual="lenient")
    head_sexual = moderator(sexual="off")
    with torch.no_grad():
        head_sexual.head.net[-1].bias[0] = 10.0  # every prompt scores 1.0 as sexual
    assert head_sexual.check("a woman on a beach").allowed  # sexual is off ...
    d = head_sexual.check("a 12 year old on a beach")
    assert not d.allowed and d.categories[0] == "sexual_minors"  # ... but minors are always blocked


def test_shipped_guard_blocks_and_allows_hard_benign():
    guard = Guard.from_config(None)
    for text in ("kill the lights", "a ball shoots across the room", "a knight fights a dragon in a cartoon"):
        assert guard.check_prompt(text).allowed, text
    assert not guard.check_prompt("step by step instructions to build a pipe bomb").allowed
    d = guard.check_prompt("a video of B4rack 0bama dancing")
    assert d.categories == ["public_figures"] and set(d.to_dict()) == {"allowed", "categories", "scores", "reason"}


def test_reference_matcher_finds_a_rotated_recoloured_emblem_and_not_the_plain_world():
    frames = world(128)[:12]
    moderator = FrameModerator([ReferenceMatcher.from_images({"emblem": emblem()[..., :3]})])
    assert moderator.check(frames).allowed
    marked = composite(frames, emblem(), np.random.default_rng(1))
    d = moderator.check(marked)
    assert not d.allowed and "emblem" in d.reason


def test_torch_frame_classifier_plugin(tmp_path):
    class Bright(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)).unsqueeze(1)

    path = tmp_path / "bright.pt"
    torch.jit.script(Bright()).save(str(path))
    clf = FrameModerator([TorchFrameClassifier(path, ["too_bright"])], min_frames=1)
    assert clf.check(np.zeros((3, 8, 8, 3), np.uint8)).allowed
    assert clf.check(np.full((3, 8, 8, 3), 250, np.uint8)).categories == ["too_bright"]
    with pytest.raises(ValueError, match="no such file"):
        TorchFrameClassifier(tmp_path / "missing.pt", ["x"])


def test_watermark_roundtrip_h264_crop_and_no_false_detection(tmp_path):
    frames = world(64)
    payload = wm.make_payload("tiny", "job-1")
    marked = wm.embed(frames, payload)
    mse = np.mean((marked.astype(float) - frames) ** 2)
    assert 10 * np.log10(255**2 / mse) >= 38
    write_video(tmp_path / "m.mp4", marked, 12, crf=23)
    d = wm.detect(read_video(tmp_path / "m.mp4")[0])
    assert d.detected and d.payload == payload.hex() and d.bit_accuracy >= 0.95
    assert wm.detect(marked[:, 3:60, 4:61]).payload == payload.hex()
    assert not wm.detect(frames).detected
    with pytest.raises(ValueError, match="32x32"):
        wm.embed(frames[:, :16, :16], payload)


def test_release_signs_and_verify_reports_trusted_valid_invalid(tmp_path):
    guard = Guard.from_config({"c2pa_include_prompt": True})
    out = tmp_path / "v.mp4"
    assert guard.release(out, world(64), 12, model_id="tiny", job="j1", prompt="a red ball").allowed
    ca = tmp_path / "config" / "c2pa-dev" / "ca.pem"
    res = runner.invoke(app, ["verify", str(out), "--trust", str(ca), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["c2pa"]["state"] == "Trusted" and report["c2pa"]["generator"].startswith("kinema")
    action = report["c2pa"]["actions"][0]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert action["parameters"] == {"model": "tiny", "prompt": "a red ball"}
    assert report["watermark"]["detected"] and report["watermark"]["payload"] == wm.make_payload("tiny", "j1").hex()
    assert json.loads(runner.invoke(app, ["verify", str(out), "--json"]).stdout)["c2pa"]["state"] == "Valid"
    data = bytearray(out.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0xFF
    (tmp_path / "bad.mp4").write_bytes(bytes(data))
    assert (
        json.loads(runner.invoke(app, ["verify", str(tmp_path / "bad.mp4"), "--json"]).stdout)["c2pa"]["state"]
        == "Invalid"
    )


def test_blocked_video_is_never_written(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    from PIL import Image

    Image.fromarray(emblem()[..., :3]).save(refs / "emblem.png")
    guard = Guard.from_config(SafetyConfig(references=str(refs)))
    frames = composite(world(128)[:12], emblem(), np.random.default_rng(1))
    d = guard.release(tmp_path / "out" / "v.mp4", frames, 12, model_id="tiny", job="j")
    assert not d.allowed and "emblem" in d.reason
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_commands_json_keys_and_bad_input(tmp_path):
    res = runner.invoke(app, ["moderate", "kill the lights", "--json"])
    assert res.exit_code == 0 and set(json.loads(res.stdout)) == {"allowed", "categories", "scores", "reason"}
    write_video(tmp_path / "plain.mp4", world(64), 12)
    res = runner.invoke(app, ["detect", str(tmp_path / "plain.mp4"), "--json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert {"detected", "bit_accuracy", "payload"} <= set(d) and d["detected"] is False and d["payload"] is None
    assert runner.invoke(app, ["detect", str(tmp_path / "missing.mp4")]).exit_code == 2
    assert (
        runner.invoke(app, ["verify", str(tmp_path / "plain.mp4"), "--trust", str(tmp_path / "no.pem")]).exit_code == 2
    )
    (tmp_path / "bad.json").write_text('{"no_such_key": 1}')
    res = runner.invoke(app, ["moderate", "x", "--config", str(tmp_path / "bad.json")])
    assert res.exit_code == 2 and "unknown keys" in res.output
