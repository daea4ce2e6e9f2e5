"""Safety in the pipeline, with its defaults on: every text is checked before generation (prompt, shots, timeline,
upsampled captions), refused frames never leave, every video is watermarked with the model id and the job's hash,
and what a Video saves is C2PA-signed; `safety=False` turns it all off; a MiniLM text encoder is shared."""

import numpy as np
import pytest
from test_pipeline import tiny

from kinema.io import read_video
from kinema.models.text import MiniLMEncoder
from kinema.pipeline.safety import job_key, load_guard
from kinema.safety import Blocked, Guard, payload, provenance
from kinema.safety.watermark import detect

BLOCKED = "a naked woman in bed, explicit sex"


@pytest.fixture(scope="module", autouse=True)
def config_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as m:  # the development C2PA CA goes here, not into the user's home
        m.setenv("KINEMA_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        yield


@pytest.fixture(scope="module")
def pipe():
    return tiny(safety=None)  # None: the default Guard


class Upsampler:
    def __init__(self, text: str):
        self.text = text

    def __call__(self, prompt: str, seconds: float) -> str:
        return self.text


def test_safety_is_on_by_default_and_off_only_when_asked(pipe):
    assert isinstance(pipe.guard, Guard) and pipe.guard.config.moderation and pipe.guard.config.watermark
    assert tiny(safety=False).guard is None
    assert tiny(safety={"c2pa": False}).guard.config.c2pa is False


@pytest.mark.parametrize(
    "kwargs, where",
    [
        (dict(prompt=BLOCKED), ""),
        (dict(prompt="a street at night", shots=[("a dog runs", 0.5), (BLOCKED, 0.5)]), "(in the shot prompt)"),
        (dict(prompt="a street at night", timeline=[(0.5, BLOCKED)]), "(in the timeline)"),
    ],
)
def test_refused_texts_stop_generation_before_the_model_runs(pipe, kwargs, where):
    calls = []
    handle = pipe.dit.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with pytest.raises(Blocked, match="blocked: sexual") as e:
            pipe(num_steps=1, **kwargs)
    finally:
        handle.remove()
    assert calls == [] and e.value.decision.categories[0] == "sexual"
    assert str(e.value).endswith(where)


def test_upsampled_captions_are_checked(pipe):
    original, pipe.upsampler = pipe.upsampler, Upsampler(BLOCKED)
    try:
        with pytest.raises(Blocked, match=r"\(in the upsampled caption\)$"):
            pipe("a red ball", num_steps=1, upsample=True)
        pipe.upsampler = Upsampler("a red ball rolls slowly across a wooden floor")
        assert pipe("a red ball", num_steps=1, upsample=True).info["prompts"][0].startswith("a red ball rolls")
    finally:
        pipe.upsampler = original


class RefuseFrames:
    """A Guard that passes every prompt and refuses every video (to see where a frame refusal lands)."""

    def __init__(self, guard: Guard):
        self.guard, self.config = guard, guard.config

    def check_prompt(self, text):
        return self.guard.check_prompt(text)

    def check_frames(self, frames):
        from kinema.safety.moderation import Decision

        return Decision(False, ["reference_match"], {"reference_match": 1.0}, "blocked: an emblem in 8 of 8 frames")


def test_refused_frames_never_leave_the_pipeline(pipe):
    with pytest.raises(Blocked, match="an emblem in 8 of 8 frames"):
        tiny(safety=RefuseFrames(pipe.guard))("a red ball", num_steps=1)


def test_frames_carry_the_model_and_job_watermark(pipe):
    video = pipe("a red ball bounces", num_steps=1, seed=5, seconds=2.0)
    plain = tiny(safety=False)("a red ball bounces", num_steps=1, seed=5, seconds=2.0)
    expected = payload("kinema-random", job_key("kinema-random", video.info))
    assert video.info["watermark"] == expected.hex() and video.info["model_id"] == "kinema-random"
    diff = video.frames.astype(float) - plain.frames.astype(float)
    assert 0 < np.abs(diff).mean() < 4  # an invisible change (PSNR well over 38 dB is checked in kinema.safety)
    found = detect(video.frames, pipe.guard.key)
    assert found.detected and found.payload == expected.hex()
    assert not detect(plain.frames, pipe.guard.key).detected
    # another seed is another job, so another payload
    assert pipe("a red ball bounces", num_steps=1, seed=6).info["watermark"] != video.info["watermark"]


def test_saved_videos_are_signed_and_blocked_ones_are_never_written(pipe, tmp_path):
    video = pipe("a red ball bounces", num_steps=1, seconds=2.0)
    path, sheet = video.save(tmp_path / "v.mp4")
    c2pa = provenance.read(path)
    assert c2pa["present"] and c2pa["state"] == "Valid"
    assert c2pa["actions"][0]["parameters"] == {"model": "kinema-random"}  # no prompt unless the operator asks
    assert detect(read_video(path)[0], pipe.guard.key).payload == video.info["watermark"]
    assert provenance.read(video.save(tmp_path / "v.gif", sheet=False)[0])["state"] == "Valid"
    unsigned = tiny(safety=False)("a red ball", num_steps=1).save(tmp_path / "u.mp4", sheet=False)[0]
    assert provenance.read(unsigned)["present"] is False
    with pytest.raises(Blocked):
        pipe(BLOCKED, num_steps=1).save(tmp_path / "b.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.mp4", "v.gif", "v.mp4", "v.sheet.png"]


def test_a_minilm_text_encoder_is_shared_with_the_prompt_classifier():
    encoder = MiniLMEncoder.__new__(MiniLMEncoder)  # no weights needed to see that it is passed on
    assert load_guard(None, encoder).prompts.encoder is encoder
    assert load_guard({"thresholds": {"hate": "strict"}}, encoder).prompts.encoder is encoder
    assert load_guard(None, object()).prompts._encoder is None  # another encoder: the Guard loads its own MiniLM
