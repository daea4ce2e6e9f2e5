"""The official `openai` SDK, unchanged, against a live `kinema serve` on 127.0.0.1 (world stand-in generator)."""

from __future__ import annotations

import http.client
import io
import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")
openai = pytest.importorskip("openai", reason="the SDK tests need the openai package (test extra)")

from PIL import Image  # noqa: E402

from kinema.io import read_video  # noqa: E402
from kinema.serve.app import Settings  # noqa: E402
from kinema.serve.generate import WorldGenerator  # noqa: E402
from kinema.serve.testing import LiveServer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks every videos call deprecated


def block_word(prompt: str) -> str | None:
    return "blocked: the prompt names a forbidden thing" if "forbidden" in prompt else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings(db=tmp_path_factory.mktemp("serve") / "jobs.db", moderator=block_word, poll_after_ms=50)
    live = LiveServer(settings, lambda i: WorldGenerator(steps=4, step_delay=0.03))
    with live as url:
        yield live, url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server[1] + "/v1", api_key="unused", max_retries=0)


def poll(client, video_id: str):
    return client.videos.poll(video_id, poll_interval_ms=30)


def decode_mp4(data: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    return read_video(path)[0]


def test_create_and_poll_then_download_every_variant(client, tmp_path):
    video = client.videos.create_and_poll(prompt="a red ball rolls", size="96x64", seconds="1", poll_interval_ms=30)
    assert video.status == "completed" and video.progress == 100 and video.error is None
    assert (video.object, video.size, video.seconds, video.model) == ("video", "96x64", "1", "kinema-world")
    assert video.completed_at >= video.created_at and video.expires_at > video.completed_at
    assert client.videos.retrieve(video.id).status == "completed"
    frames = decode_mp4(client.videos.download_content(video.id).content, tmp_path)
    assert frames.shape == (8, 64, 96, 3)  # 1 s at the stand-in's 8 fps
    for variant, fmt in (("thumbnail", "WEBP"), ("spritesheet", "PNG")):
        with Image.open(io.BytesIO(client.videos.download_content(video.id, variant=variant).content)) as im:
            assert im.format == fmt
            im.load()
    with Image.open(io.BytesIO(client.videos.download_content(video.id, variant="thumbnail").content)) as im:
        assert im.size == (96, 64)


def test_openai_size_maps_to_the_closest_native_size(client, tmp_path):
    video = poll(client, client.videos.create(prompt="a tall tower", size="720x1280", seconds="4").id)
    assert (video.size, video.seconds) == ("720x1280", "4")  # reported as asked
    frames = decode_mp4(client.videos.download_content(video.id).content, tmp_path)
    assert frames.shape == (32, 96, 64, 3)  # rendered portrait, 4 s at 8 fps


def test_progress_is_reported_while_running(client, server):
    video = client.videos.create(prompt="a slow blue square", size="64x64", seconds="1")
    seen, raw = [], None
    while True:
        raw = client.videos.with_raw_response.retrieve(video.id)
        v = raw.parse()
        seen.append((v.status, v.progress))
        if v.status in ("completed", "failed"):
            break
        assert raw.headers["openai-poll-after-ms"] == "50"
        time.sleep(0.005)
    assert seen[-1] == ("completed", 100)
    assert any(s == "in_progress" and 0 < p < 100 for s, p in seen), seen
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert "openai-poll-after-ms" not in raw.headers


def test_image_to_video_starts_from_the_image(client, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (250, 20, 20)).save(buf, format="PNG")
    created = client.videos.create(prompt="red", size="96x64", seconds="1", input_reference=buf.getvalue())
    video = poll(client, created.id)
    assert video.status == "completed", video.error
    first = decode_mp4(client.videos.download_content(video.id).content, tmp_path)[0].astype(float)
    assert np.abs(first - [250, 20, 20]).mean() < 20


def test_remix_extend_and_edit(client, tmp_path):
    src = client.videos.create_and_poll(prompt="a green ring", size="64x64", seconds="1", poll_interval_ms=30)
    src_bytes = client.videos.download_content(src.id).content
    remix = poll(client, client.videos.remix(src.id, prompt="a yellow ring").id)
    assert (remix.status, remix.remixed_from_video_id, remix.size, remix.seconds) == ("completed", src.id, "64x64", "1")
    assert remix.prompt == "a yellow ring"
    remixed = decode_mp4(client.videos.download_content(remix.id).content, tmp_path)
    assert remixed.shape == decode_mp4(src_bytes, tmp_path).shape

    by_upload = client.videos.extend(video=("src.mp4", src_bytes, "video/mp4"), prompt="then it falls", seconds="4")
    by_id = client.videos.with_raw_response.extend(  # the SDK sends {"id": ...} references as video[id] fields
        video=openai.omit, prompt="then it falls", seconds="4", extra_body={"video": {"id": src.id}}
    ).parse()
    for ext in (poll(client, by_upload.id), poll(client, by_id.id)):
        assert (ext.status, ext.seconds, ext.size) == ("completed", "5", "64x64"), ext.error
        assert len(decode_mp4(client.videos.download_content(ext.id).content, tmp_path)) == 8 + 32

    edit = poll(client, client.videos.edit(video=("src.mp4", src_bytes, "video/mp4"), prompt="make it blue").id)
    assert (edit.status, edit.seconds) == ("completed", "1"), edit.error
    assert len(decode_mp4(client.videos.download_content(edit.id).content, tmp_path)) == 8


def test_list_paginates_without_loss_or_repeats(client):
    made = [client.videos.create(prompt=f"clip {i}", size="64x64", seconds="1").id for i in range(3)]
    everything = [v.id for v in client.videos.list(limit=2, order="asc")]  # the SDK follows has_more / last_id
    assert len(everything) == len(set(everything)) and everything[-3:] == made
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == made[::-1][:2] and page.has_more and page.last_id == made[1]
    assert [v.id for v in client.videos.list(limit=100, order="desc")] == everything[::-1]
    for video_id in made:
        poll(client, video_id)


def test_delete_removes_the_job_and_its_files(client, server):
    video = client.videos.create_and_poll(prompt="a short clip", size="64x64", seconds="1", poll_interval_ms=30)
    folder = server[0].app.state.store.job_dir(video.id)
    assert (folder / "video.mp4").is_file()
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert not folder.exists()
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)


def test_moderation_blocks_a_job_with_its_code(client):
    video = client.videos.create_and_poll(prompt="a forbidden thing", size="64x64", seconds="1", poll_interval_ms=30)
    assert video.status == "failed" and video.error.code == "moderation_blocked"
    assert "forbidden" in video.error.message
    with pytest.raises(openai.BadRequestError) as e:
        client.videos.download_content(video.id)
    assert e.value.code == "video_not_ready"


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(size="100x100"), "size"),
        (dict(seconds="5"), "seconds"),
        (dict(model="gpt-video"), "model"),
        (dict(input_reference=b"not an image"), "input_reference"),
        (dict(prompt=""), "prompt"),
        (dict(prompt="x" * 2001), "prompt"),
    ],
)
def test_bad_values_raise_bad_request_naming_the_param(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.videos.create(**{"prompt": "a ball", **kwargs})
    assert e.value.param == param and e.value.body["type"] == "invalid_request_error"
    if param in ("size", "seconds"):
        assert "720x1280" in e.value.message or "8, 12" in e.value.message  # the allowed values are named


def test_unknown_ids_raise_not_found(client):
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("video_000")
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content("video_000")
    with pytest.raises(openai.NotFoundError):
        client.videos.remix("video_000", prompt="x")


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """Keys, a queue limit of 2, 64 KiB bodies, 50-character prompts, and no workers (jobs stay queued)."""
    settings = Settings(
        db=tmp_path_factory.mktemp("strict") / "jobs.db",
        api_keys=("key-one", "key-two"),
        max_active_per_key=2,
        max_upload_bytes=64 * 1024,
        max_prompt_chars=50,
        moderator=block_word,
    )
    with LiveServer(settings, lambda i: WorldGenerator(), start_workers=False) as url:
        yield url


def sdk(url: str, key: str):
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_keys_limits_and_isolation(strict):
    with pytest.raises(openai.AuthenticationError) as e:
        sdk(strict, "wrong").videos.list()
    assert e.value.code == "invalid_api_key"
    one, two = sdk(strict, "key-one"), sdk(strict, "key-two")
    first = one.videos.create(prompt="a", size="64x64")
    one.videos.create(prompt="b", size="64x64")
    with pytest.raises(openai.RateLimitError) as e:
        one.videos.create(prompt="c", size="64x64")
    assert e.value.code == "too_many_active_jobs"
    two.videos.create(prompt="d", size="64x64")  # the limit is per key
    with pytest.raises(openai.NotFoundError):
        two.videos.retrieve(first.id)  # keys see only their own videos
    assert [v.prompt for v in two.videos.list()] == ["d"]
    with pytest.raises(openai.BadRequestError) as e:
        two.videos.create(prompt="x" * 51)
    assert e.value.code == "prompt_too_long"
    with pytest.raises(openai.APIStatusError) as e:
        two.videos.create(prompt="big", input_reference=b"\0" * 100_000)
    assert e.value.status_code == 413 and e.value.body["type"] == "invalid_request_error"


def raw(url: str) -> http.client.HTTPConnection:
    """A plain HTTP connection to the server at `url`, for requests the SDK will not make."""
    return http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)


def test_chunked_body_over_the_limit_is_refused(strict):
    conn = raw(strict)
    chunks = (b"x" * 16384 for _ in range(8))  # no Content-Length: counted as it arrives
    conn.request("POST", "/v1/videos", body=chunks, headers={"Authorization": "Bearer key-one"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"]["code"] == "too_large"
    conn.close()


def test_a_client_that_sends_its_whole_body_first_gets_the_413(strict):
    # the body is sent in full before the answer is read; the server reads what is not far over the limit first, so
    # the answer is the 413 every time, not a reset connection
    body = b"x" * 4_000_000  # more than the socket buffers hold
    for _ in range(10):
        conn = raw(strict)
        conn.request("POST", "/v1/videos", body=body, headers={"Authorization": "Bearer key-one"})
        response = conn.getresponse()
        assert response.status == 413 and json.loads(response.read())["error"]["code"] == "too_large"
        conn.close()


def test_missing_key_is_401(strict):
    conn = raw(strict)
    conn.request("GET", "/v1/videos")
    response = conn.getresponse()
    assert response.status == 401 and json.loads(response.read())["error"]["code"] == "missing_api_key"
    conn.close()


def test_expired_files_are_gone_but_the_job_stays(tmp_path):
    settings = Settings(db=tmp_path / "jobs.db", ttl_seconds=1, sweep_every=0.1, moderator=block_word)
    with LiveServer(settings, lambda i: WorldGenerator(steps=1)) as url:
        client = sdk(url, "unused")
        video = client.videos.create_and_poll(prompt="short-lived", size="64x64", seconds="1", poll_interval_ms=30)
        assert video.expires_at == video.completed_at + 1
        deadline = time.monotonic() + 10
        while client.videos.retrieve(video.id).expires_at > time.time() - 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # one sweep
        with pytest.raises(openai.NotFoundError) as e:
            client.videos.download_content(video.id)
        assert e.value.code == "video_expired" and client.videos.retrieve(video.id).status == "completed"
