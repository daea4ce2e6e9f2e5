"""The server on the real pipeline: a tiny random-weight model folder, every task through the openai SDK; safety on
by default (the moderation hook, the pipeline's Guard: moderation_blocked, watermark, C2PA)."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")
openai = pytest.importorskip("openai", reason="the SDK tests need the openai package (test extra)")

from kinema.serve.generate import (  # noqa: E402
    ModerationBlocked,
    PipelineGenerator,
    Request,
    load_generator,
    make_moderator,
    pipeline_available,
)

if not pipeline_available():
    pytest.skip("kinema.pipeline is not installed", allow_module_level=True)

from PIL import Image  # noqa: E402

from kinema.io import read_video  # noqa: E402
from kinema.serve.app import Settings  # noqa: E402
from kinema.serve.testing import LiveServer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
BLOCKED = "a naked woman in bed, explicit sex"


@pytest.fixture(scope="module", autouse=True)
def config_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as m:  # the development C2PA CA goes here, not into the user's home
        m.setenv("KINEMA_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from kinema.models.dit import DiTConfig
    from kinema.models.vae import PRESETS
    from kinema.pipeline import Pipeline, PipelineConfig

    folder = tmp_path_factory.mktemp("tiny-model")
    config = PipelineConfig(text_encoder="random", num_steps=2, upsample=False, seconds=1.0, max_seconds=4.0)
    Pipeline.random(config, PRESETS["tiny"], DiTConfig(hidden=64, depth=1, heads=2), seed=0).save_pretrained(folder)
    return folder


def test_adapter_reads_the_models_sizes_and_limits(model_dir):
    gen = load_generator(str(model_dir))
    assert isinstance(gen, PipelineGenerator)
    assert gen.sizes == ((64, 64), (96, 64), (64, 96)) and gen.max_seconds == 4.0 and gen.seconds == ("1",)


def test_every_task_through_the_sdk(model_dir, tmp_path):
    settings = Settings(db=tmp_path / "jobs.db", poll_after_ms=50, moderator=lambda p: None)
    with LiveServer(settings, lambda i: load_generator(str(model_dir))) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)

        def frames(video_id: str) -> np.ndarray:
            path = tmp_path / f"{video_id}.mp4"
            path.write_bytes(client.videos.download_content(video_id).content)
            return read_video(path)[0]

        t2v = client.videos.create_and_poll(prompt="a red ball", size="1280x720", seconds="1", poll_interval_ms=50)
        assert t2v.status == "completed", t2v.error
        assert frames(t2v.id).shape == (12, 64, 96, 3)  # landscape native size, 1 s at 12 fps

        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (240, 240, 40)).save(buf, format="PNG")
        i2v = client.videos.create(prompt="yellow", size="64x64", seconds="1", input_reference=buf.getvalue())
        i2v = client.videos.poll(i2v.id, poll_interval_ms=50)
        assert i2v.status == "completed", i2v.error

        src = client.videos.download_content(t2v.id).content
        ext = client.videos.extend(video=("a.mp4", src, "video/mp4"), prompt="more", seconds="1")
        ext = client.videos.poll(ext.id, poll_interval_ms=50)
        assert (ext.status, ext.seconds) == ("completed", "2"), ext.error
        assert frames(ext.id).shape == (24, 64, 96, 3)
        with pytest.raises(openai.BadRequestError, match="limit of 4 s"):  # 1 s + 4 s: past the model's 4 s
            client.videos.extend(video=("a.mp4", src, "video/mp4"), prompt="more", seconds="4")

        edit = client.videos.poll(client.videos.edit(video=("a.mp4", src), prompt="blue").id, poll_interval_ms=50)
        assert edit.status == "completed", edit.error
        assert frames(edit.id).shape == (12, 64, 96, 3)


def test_safety_is_on_by_default_in_the_server(model_dir, tmp_path):
    from kinema.safety import provenance
    from kinema.safety.watermark import detect

    settings = Settings(db=tmp_path / "jobs.db", poll_after_ms=50)  # the default moderation hook
    with LiveServer(settings, lambda i: load_generator(str(model_dir))) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        refused = client.videos.create_and_poll(prompt=BLOCKED, size="64x64", seconds="1", poll_interval_ms=50)
        assert refused.status == "failed" and refused.error.code == "moderation_blocked"
        assert refused.error.message.startswith("blocked: sexual")
        video = client.videos.create_and_poll(prompt="a red ball", size="64x64", seconds="1", poll_interval_ms=50)
        assert video.status == "completed", video.error
        path = tmp_path / "v.mp4"
        path.write_bytes(client.videos.download_content(video.id).content)
    c2pa = provenance.read(path)
    assert c2pa["state"] == "Valid" and c2pa["actions"][0]["parameters"]["model"] == f"kinema-{model_dir.name}"
    assert detect(read_video(path)[0]).detected


def test_the_pipelines_guard_fails_a_job_with_moderation_blocked(model_dir, tmp_path):
    from kinema.serve.store import Store
    from kinema.serve.worker import run_job

    gen = load_generator(str(model_dir))
    store = Store(tmp_path / "jobs.db")
    base = dict(owner="local", task="text-to-video", model="m", size="64x64", seconds="1", seed=0)
    for job_id, prompt in (("video_ok", "a red ball"), ("video_blocked", BLOCKED)):
        store.create(base | dict(id=job_id, prompt=prompt, params={"width": 64, "height": 64, "seconds": 1.0}))
        run_job(store, gen, store.claim(), 60, lambda p: None)  # the hook lets everything through
    assert store.get("video_ok")["status"] == "completed"
    blocked = store.get("video_blocked")
    assert (blocked["status"], blocked["error_code"]) == ("failed", "moderation_blocked")
    assert blocked["error_message"].startswith("blocked: sexual")
    assert not list(store.job_dir("video_blocked").glob("*.mp4"))


def test_refused_frames_become_moderation_blocked(model_dir):
    from kinema.safety import Guard
    from kinema.safety.moderation import Decision

    class RefuseFrames(Guard):
        def check_frames(self, frames):
            return Decision(False, ["reference_match"], {}, "blocked: an emblem in 12 of 12 frames")

    gen = PipelineGenerator(str(model_dir), safety=RefuseFrames.from_config({"c2pa": False}))
    with pytest.raises(ModerationBlocked, match="an emblem in 12 of 12 frames"):
        gen.generate(Request("text-to-video", "a red ball", 64, 64, 1.0, 0), lambda f: None)
    assert make_moderator(gen.guard)(BLOCKED).startswith("blocked: sexual")
    assert make_moderator(gen.guard)("a red ball") is None and make_moderator(False)(BLOCKED) is None


def serve_with(args, monkeypatch):
    """Run `kinema serve ARGS` up to the server start; return what it would serve (settings, worker 0's generator)."""
    from typer.testing import CliRunner

    import kinema.serve.server
    from kinema.cli import app

    seen = {}
    monkeypatch.setattr(kinema.serve.server, "run", lambda settings, make, *a, **k: seen.update(s=settings, g=make(0)))
    res = CliRunner().invoke(app, ["serve", *args])
    return res, seen.get("s"), seen.get("g")


def test_serve_safety_config_reaches_the_pipeline_and_the_moderator_uses_its_guard(model_dir, tmp_path, monkeypatch):
    config = tmp_path / "safety.json"
    config.write_text('{"thresholds": {"copyright": "off"}}')
    res, settings, gen = serve_with(["--model", str(model_dir), "--db", str(tmp_path / "jobs.db"), "--safety",
                                     str(config)], monkeypatch)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert gen.guard.config.thresholds == {"copyright": "off"}
    calls = []
    check = gen.guard.check_prompt
    monkeypatch.setattr(gen.guard, "check_prompt", lambda text: calls.append(text) or check(text))
    assert settings.moderator("Spider-Man swings over a city") is None  # copyright is off in this configuration
    assert settings.moderator(BLOCKED).startswith("blocked: sexual")
    assert calls == ["Spider-Man swings over a city", BLOCKED]  # the pipeline's Guard, not a second one

    res, settings, gen = serve_with(["--model", str(model_dir), "--db", str(tmp_path / "jobs.db"),
                                     "--unsafe-no-filter"], monkeypatch)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert settings.moderator(BLOCKED) is None and not gen.guard.config.moderation and gen.guard.config.watermark

    res, _, _ = serve_with(["--model", "world", "--safety", str(tmp_path / "missing.json")], monkeypatch)
    assert res.exit_code == 2 and "--safety" in res.output
