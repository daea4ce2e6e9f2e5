"""Captioners (sidecar; OpenAI-compatible against a local fake server), the latent cache and what trains from it."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kinema.cli import app
from kinema.data.cache import CachedLatents, is_cache
from kinema.data.captioners import OpenAICaptioner
from kinema.data.manifest import read_manifest, write_manifest
from kinema.io import write_video
from kinema.models.vae import VAEConfig, VideoVAE
from kinema.train.videos import ManifestBatches, to_tensor

runner = CliRunner()
TINY = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none", scale=0.5, shift=0.1)
RED, BLUE = (200, 30, 30), (30, 30, 200)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A 64x64 clip of 12 red then 12 blue frames, a 96x48 green clip with a sidecar, and a clips manifest."""
    d = tmp_path_factory.mktemp("clips")
    rb = np.zeros((24, 64, 64, 3), np.uint8)
    rb[:12], rb[12:] = RED, BLUE
    rb[:, 20:30, 20:30] = 255
    write_video(d / "rb.mp4", rb, 12.0)
    wide = np.full((12, 48, 96, 3), (40, 180, 60), np.uint8)
    write_video(d / "wide.mp4", wide, 12.0)
    (d / "rb.txt").write_text("a red square turns blue\n")
    (d / "wide.json").write_text(json.dumps({"dense_caption": "a green field"}))
    rows = [
        {"path": str(d / "rb.mp4"), "num_frames": 12, "height": 64, "width": 64, "start": 0.0, "end": 1.0},
        {"path": str(d / "rb.mp4"), "num_frames": 12, "height": 64, "width": 64, "start": 1.0, "end": 2.0},
        {"path": str(d / "wide.mp4"), "num_frames": 12, "height": 48, "width": 96, "start": 0.0, "end": 1.0},
    ]
    write_manifest(d / "clips.csv", rows)
    torch.manual_seed(0)
    VideoVAE(TINY).save_pretrained(d / "vae")
    return d


def test_sidecar_captions(clips, tmp_path):
    r = runner.invoke(app, ["data", "caption", str(clips / "clips.csv"), "-o", str(tmp_path / "cap.csv"), "--quiet"])
    assert r.exit_code == 0, r.output
    texts = [row["text"] for row in read_manifest(tmp_path / "cap.csv")]
    assert texts == ["a red square turns blue", "a red square turns blue", "a green field"]
    raw = [json.loads(line) for line in (tmp_path / "cap.responses.jsonl").read_text().splitlines()]
    assert raw[2]["raw"] == {"dense_caption": "a green field"}


class FakeVLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint: answers 429 once, then a caption naming how many images it got."""

    requests: list = []
    fail_first = True

    def do_POST(self):  # noqa: N802 (the handler's name is fixed by http.server)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers.get("Authorization"), body))
        if type(self).fail_first:
            type(self).fail_first = False
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        if body["model"] == "refuse":
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b'{"error": "bad model"}')
            return
        images = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
        answer = {
            "choices": [{"message": {"role": "assistant", "content": f"  A clip seen in {len(images)} frames. "}}]
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_vlm():
    FakeVLM.requests, FakeVLM.fail_first = [], True
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLM)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_captioner_retries_and_keeps_raw_answers(clips, tmp_path, fake_vlm, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "sk-test")
    args = ["data", "caption", str(clips / "clips.csv"), "-o", str(tmp_path / "cap.csv"), "--captioner", "openai"]
    args += ["--base-url", fake_vlm, "--model", "vlm", "--api-key-env", "TEST_KEY", "--frames", "3", "--quiet"]
    r = runner.invoke(app, [*args, "--workers", "2"])
    assert r.exit_code == 0, r.output
    rows = read_manifest(tmp_path / "cap.csv")
    assert [row["text"] for row in rows] == ["A clip seen in 3 frames."] * 3 and rows[0]["captioner"] == "openai"
    assert len(FakeVLM.requests) == 4  # one 429, retried
    path, auth, body = FakeVLM.requests[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test" and body["model"] == "vlm"
    text, *images = body["messages"][0]["content"]
    assert "dense paragraph" in text["text"] and "lasts 1.0 seconds" in text["text"]
    jpeg = base64.b64decode(images[0]["image_url"]["url"].removeprefix("data:image/jpeg;base64,"))
    assert jpeg[:2] == b"\xff\xd8"
    raw = [json.loads(line) for line in (tmp_path / "cap.responses.jsonl").read_text().splitlines()]
    assert raw[0]["raw"]["choices"][0]["message"]["content"].strip() == "A clip seen in 3 frames."


def test_openai_captioner_reports_a_refusal(clips, fake_vlm):
    cap = OpenAICaptioner(fake_vlm, "refuse", retries=2, backoff=0.0)
    with pytest.raises(ValueError, match="HTTP 400"):
        cap(read_manifest(clips / "clips.csv")[0])
    dead = OpenAICaptioner("http://127.0.0.1:9/v1", "vlm", retries=1, backoff=0.0, timeout=2)
    with pytest.raises(ValueError, match="gave up after 2 tries"):
        dead.post({})


def _cache(clips: Path, out: Path, *extra: str):
    write_manifest(
        out.parent / "cap.csv", [{**r, "text": f"clip {i}"} for i, r in enumerate(read_manifest(clips / "clips.csv"))]
    )
    args = ["data", "cache", str(out.parent / "cap.csv"), "-o", str(out), "--vae", str(clips / "vae")]
    args += ["--text-encoder", "random", "--resolution", "32", "--frames", "9", "--dtype", "float32", "--quiet", *extra]
    return runner.invoke(app, [*args])


def test_cache_buckets_latents_and_serves_batches(clips, tmp_path):
    r = _cache(clips, tmp_path / "cache", "--shard-size", "1")
    assert r.exit_code == 0, r.output
    assert is_cache(tmp_path / "cache") and not is_cache(clips)
    data = CachedLatents(tmp_path / "cache", seed=1)
    assert len(data) == 3 and data.shapes == [(4, 3, 6, 10), (4, 3, 8, 8)]  # 2:1 -> 16:9 bucket; square
    b = data(0, 2)
    assert b["latents"].shape[0] == 2 and b["latents"].shape[1:] in data.shapes
    assert b["text"].shape[:2] == b["mask"].shape and b["text"].dtype == torch.float32 and b["mask"].dtype == torch.bool
    assert all(c.startswith("clip ") for c in b["captions"])
    again = CachedLatents(tmp_path / "cache", seed=1)(0, 2)
    assert torch.equal(b["latents"], again["latents"]) and b["captions"] == again["captions"]
    # A cached latent is the VAE's encoding of the clip's window, scaled as the DiT expects.
    vae = VideoVAE.from_pretrained(clips / "vae").eval()
    blue = next(data.sample(s, i) for s, i in data.buckets[1][1] if data.sample(s, i)[2] == "clip 1")[0]
    from kinema.data.clips import read_clip

    frames, _ = read_clip(clips / "rb.mp4", 1.0, 2.0, cover=(32, 32), max_frames=9)
    with torch.no_grad():
        z = vae.encode(to_tensor(frames)[None])[0]
    torch.testing.assert_close(blue, (z - TINY.shift) * TINY.scale, atol=1e-4, rtol=1e-4)
    # Idempotent: a second run encodes nothing and keeps the same index.
    index = (tmp_path / "cache" / "index.json").read_text()
    r = _cache(clips, tmp_path / "cache", "--shard-size", "1")
    assert r.exit_code == 0 and (tmp_path / "cache" / "index.json").read_text() == index


def test_cache_shards_merge_and_settings_must_match(clips, tmp_path):
    for i in range(2):
        assert _cache(clips, tmp_path / "cache", "--shard", f"{i}/2").exit_code == 0
    assert not is_cache(tmp_path / "cache")
    r = runner.invoke(app, ["data", "merge", str(tmp_path / "cache")])
    assert r.exit_code == 0, r.output
    assert len(CachedLatents(tmp_path / "cache")) == 3
    r = _cache(clips, tmp_path / "cache", "--resolution", "64")
    assert r.exit_code == 2 and "other settings" in r.output


def test_dit_trains_from_the_cache_and_bench_reports_the_ratio(clips, tmp_path):
    from kinema.flow import flow_loss, path, sample_timesteps
    from kinema.models.dit import DiT, preset

    assert _cache(clips, tmp_path / "cache").exit_code == 0
    data = CachedLatents(tmp_path / "cache")
    torch.manual_seed(0)
    model = DiT(preset("tiny", latent_channels=4, text_dim=data.text_dim, hidden=32, depth=1, heads=2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    for step in range(3):
        b = data(step, 2)
        x0, noise, t = b["latents"], torch.randn_like(b["latents"]), sample_timesteps(2)
        loss = flow_loss(model(path(x0, noise, t), t, b["text"], b["mask"]), x0, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    args = ["data", "bench", str(tmp_path / "cap.csv"), "--cache", str(tmp_path / "cache"), "--vae", str(clips / "vae")]
    r = runner.invoke(app, [*args, "--steps", "1", "--batch", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cached_data_s"] < out["on_the_fly_data_s"] and out["speedup"] > 0


def test_vae_batches_read_clip_windows(clips):
    """ManifestBatches takes only the frames of a row's (start, end) window: the blue half stays blue."""
    write_manifest(clips / "blue.csv", [read_manifest(clips / "clips.csv")[1]])
    x = ManifestBatches(clips / "blue.csv", crops=((32, 32, 9),))(0, 2)  # (B, 3, T, H, W) in [-1, 1]
    assert x.shape == (2, 3, 9, 32, 32)
    mean = x.mean((0, 2, 3, 4))
    assert mean[2] > mean[0] + 0.5  # blue, never the red frames before the window
