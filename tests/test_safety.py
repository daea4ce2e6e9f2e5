"""Safety: name lists and normalisation, prompt decisions, frame matching, watermark, C2PA, the commands."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kinema.cli import app
from kinema.io import read_video, write_video
from kinema.models.text import RandomTextEncoder, pad_states
from kinema.safety import Guard, SafetyConfig
from kinema.safety import watermark as wm
from kinema.safety.evaluate import composite, emblem
from kinema.safety.frames import FrameModerator, ReferenceMatcher, TorchFrameClassifier
from kinema.safety.lists import TermList
from kinema.safety.moderation import Head, PromptModerator
from kinema.safety.prompt_data import CATEGORIES
from kinema.safety.train_head import Packed, fold_thresholds, merge, precision_recall, tune_thresholds
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


def test_allowed_phrases_keep_common_words_from_matching(tmp_path):
    path = tmp_path / "brands.txt"
    path.write_text("# brands\nMarvel\nTesla\n!marvel at  # the verb\n!tesla coil\n")
    brands = TermList.from_files("copyright", [path])
    assert brands.names == ["Marvel", "Tesla"] and brands.allowed == ["marvel at", "tesla coil"]
    assert brands.find("tourists MARVEL at the aurora") == []
    assert brands.find("a t3sla coil sparks in a lab") == []
    assert brands.find("a Marvel film poster") == ["Marvel"]
    assert brands.find("kids marvel at the Marvel logo") == ["Marvel"]  # the second one is outside the phrase
    assert brands.find("a tesla drives past a tesla coil") == ["Tesla"]


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


@pytest.mark.parametrize("features", ["tokens", "mean"])
def test_head_packed_logits_equal_padded_ones_and_survive_save_and_load(features, tmp_path):
    torch.manual_seed(0)
    head = Head(dim=8, hidden=6, features=features).eval()
    lengths = [3, 1, 5]
    states = [torch.randn(n, 8) for n in lengths]
    padded, mask = pad_states(states)
    packed = Packed(torch.cat(states), torch.repeat_interleave(torch.arange(3), torch.tensor(lengths)), 3)
    with torch.no_grad():
        logits = head(padded, mask)
        assert torch.allclose(packed.logits(head), logits, atol=1e-6)
        assert torch.allclose(packed.select(torch.tensor([False, True, True])).logits(head), logits[1:], atol=1e-6)
        head.save(tmp_path / "h")
        loaded = Head.load(tmp_path / "h")
        assert loaded.features == features and torch.allclose(loaded(padded, mask), logits, atol=2e-2)  # float16
    a, b = states[0][:1], states[0][1:2]
    with torch.no_grad():
        twice = head(*pad_states([torch.cat([a, b]), torch.cat([a, b, a])]))
    # max-pooled tokens: repeating a word changes nothing; a mean shifts toward the repeated word
    assert torch.allclose(twice[0], twice[1], atol=1e-6) == (features == "tokens")


def test_merged_heads_give_the_mean_of_their_logits():
    torch.manual_seed(1)
    heads = [Head(dim=8, hidden=h).eval() for h in (4, 6, 5)]
    states, mask = pad_states([torch.randn(n, 8) for n in (2, 7, 1)])
    merged = merge(heads)
    assert merged.net[0].out_features == 15
    with torch.no_grad():
        assert torch.allclose(merged(states, mask), torch.stack([h(states, mask) for h in heads]).mean(0), atol=1e-6)


def test_heads_saved_before_token_features_load_as_mean_heads(tmp_path):
    Head(dim=8, hidden=4, features="mean").save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["features"]  # as the first shipped heads wrote it
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert Head.load(tmp_path / "old").features == "mean"
    with pytest.raises(ValueError, match="use one of tokens, mean"):
        Head(dim=8, hidden=4, features="cls")


def test_precision_recall_counts_and_any_category():
    pred = torch.zeros(5, len(CATEGORIES), dtype=torch.bool)
    target = torch.zeros_like(pred)
    pred[[0, 1, 2], 0] = True  # sexual: two right, one wrong
    target[[0, 1, 3], 0] = True  # ... and one missed
    target[4, 1] = True  # violence: missed, and nothing predicted
    m = precision_recall(pred, target)
    assert m["sexual"] == {"precision": 0.6667, "recall": 0.6667, "support": 3, "tp": 2, "fp": 1, "fn": 1}
    assert m["violence"] == {"precision": 1.0, "recall": 0.0, "support": 1, "tp": 0, "fp": 0, "fn": 1}
    assert m["any_category"]["tp"] == 2 and m["any_category"]["fn"] == 2 and m["any_category"]["fp"] == 1


def test_thresholds_are_tuned_for_f1_and_folded_into_the_head():
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.2], [0.4, 0.3], [0.3, 0.8], [0.1, 0.6]])
    target = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1], [0, 0]]).float()
    thresholds = tune_thresholds(probs, target)
    # category 0: any threshold in (0.3, 0.4] catches all three positives and nothing else; category 1: (0.6, 0.8]
    assert 0.3 < thresholds[0] <= 0.4 and 0.6 < thresholds[1] <= 0.8
    head = Head(dim=8, hidden=4, categories=("a", "b")).eval()
    states, mask = pad_states([torch.randn(4, 8) for _ in range(6)])
    with torch.no_grad():
        before = torch.sigmoid(head(states, mask))
        fold_thresholds(head, [0.3, 0.7])
        after = torch.sigmoid(head(states, mask))
    assert torch.equal(after >= 0.5, before >= torch.tensor([0.3, 0.7]))


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
