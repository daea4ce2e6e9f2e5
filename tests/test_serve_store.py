"""The job store, request values, the worker's job run, binding rules and the `kinema serve` flags."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from kinema.cli import app
from kinema.serve import params as P
from kinema.serve.generate import Clip, WorldGenerator
from kinema.serve.store import MAX_ATTEMPTS, Store, new_id
from kinema.serve.worker import run_job


def job(owner: str = "local", **kw) -> dict:
    base = dict(id=new_id(), owner=owner, task="text-to-video", prompt="a ball", model="m", size="64x64")
    return base | dict(seconds="1", seed=0, params={"width": 64, "height": 64, "seconds": 1.0}) | kw


def test_wal_fifo_claims_and_no_job_claimed_twice(tmp_path):
    store = Store(tmp_path / "jobs.db")
    assert store._db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ids = [store.create(job())["id"] for _ in range(40)]
    assert store.claim()["id"] == ids[0]
    claimed, lock = [], threading.Lock()

    def worker():
        while (j := store.claim()) is not None:
            with lock:
                claimed.append(j["id"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids[1:])


def test_queue_limit_per_owner(tmp_path):
    store = Store(tmp_path / "jobs.db")
    assert store.create(job("a"), max_active=1) is not None
    assert store.create(job("a"), max_active=1) is None
    assert store.create(job("b"), max_active=1) is not None


def test_recover_requeues_once_then_fails_with_a_clear_error(tmp_path):
    store = Store(tmp_path / "jobs.db")
    j = store.create(job())
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert store.claim()["attempts"] == attempt
        requeued, failed = store.recover()
        if attempt < MAX_ATTEMPTS:
            assert (requeued, failed) == (1, 0) and store.get(j["id"])["status"] == "queued"
    after = store.get(j["id"])
    assert (after["status"], after["error_code"]) == ("failed", "server_interrupted")
    assert "2 times" in after["error_message"]


def test_expiry_and_delete_remove_files(tmp_path):
    store = Store(tmp_path / "jobs.db")
    a, b = store.create(job()), store.create(job())
    for j in (a, b):
        store.claim()
        store.job_dir(j["id"]).mkdir(parents=True)
        (store.job_dir(j["id"]) / "video.mp4").write_bytes(b"x")
        assert store.complete(j["id"], ttl_seconds=100)
    assert store.expire(now=store.get(a["id"])["expires_at"] - 1) == 0
    assert store.expire(now=store.get(a["id"])["expires_at"]) == 2
    assert not store.job_dir(a["id"]).exists() and store.get(a["id"])["expired"] == 1  # the record stays
    assert store.delete(b["id"], "local") and store.get(b["id"]) is None
    assert not store.delete(b["id"], "local")


def test_pages(tmp_path):
    store = Store(tmp_path / "jobs.db")
    ids = [store.create(job())["id"] for _ in range(5)]
    rows, more = store.page("local", None, 2, "asc")
    assert [r["id"] for r in rows] == ids[:2] and more
    rows, more = store.page("local", ids[3], 2, "asc")
    assert [r["id"] for r in rows] == ids[4:] and not more
    assert [r["id"] for r in store.page("local", ids[2], 10, "desc")[0]] == ids[:2][::-1]
    assert store.page("local", "video_nope", 2, "asc") is None
    assert store.page("other", None, 10, "asc") == ([], False)


def test_deleting_a_running_job_stops_it_and_leaves_no_files(tmp_path):
    store = Store(tmp_path / "jobs.db")
    j = store.create(job())
    claimed = store.claim()

    class DeletesItself(WorldGenerator):
        def generate(self, request, on_progress):
            on_progress(0.2)
            store.delete(j["id"], "local")
            on_progress(0.4)  # raises Cancelled
            raise AssertionError("not reached")

    run_job(store, DeletesItself(), claimed, 60, lambda p: None)
    assert store.get(j["id"]) is None and not store.job_dir(j["id"]).exists()


def test_generator_errors_fail_the_job_with_a_code(tmp_path):
    store = Store(tmp_path / "jobs.db")

    class Broken(WorldGenerator):
        def generate(self, request, on_progress):
            raise RuntimeError("out of memory")

    class Ok(WorldGenerator):
        def generate(self, request, on_progress):
            return Clip(WorldGenerator._scene(request, 64, 64, 1.0, 8.0).astype("uint8"), 8.0)

    for gen, moderator, code in ((Broken(), lambda p: None, "generation_failed"), (Ok(), lambda p: "no", None)):
        j = store.create(job())
        run_job(store, gen, store.claim(), 60, moderator)
        got = store.get(j["id"])
        assert got["status"] == "failed" and got["error_code"] == (code or "moderation_blocked")


def test_sizes_and_seconds():
    native = WorldGenerator.sizes
    assert P.resolve_size("720x1280", native) == (64, 96) and P.resolve_size("1792x1024", native) == (96, 64)
    assert P.resolve_size("64x64", native) == (64, 64)
    for bad in ("100x100", "64X64", "", "0x0"):
        with pytest.raises(P.ApiError, match="720x1280.*96x64"):
            P.resolve_size(bad, native)
    assert P.resolve_seconds("12", P.OPENAI_SECONDS, ("1",), max_seconds=8.0) == 8.0
    assert P.resolve_seconds("1", P.OPENAI_SECONDS, ("1",), max_seconds=8.0) == 1.0
    with pytest.raises(P.ApiError, match="4, 8, 12, 1"):
        P.resolve_seconds("3", P.OPENAI_SECONDS, ("1",), 8.0)
    with pytest.raises(P.ApiError):
        P.resolve_seed(-1)
    assert P.resolve_seed("7") == 7


def test_no_keys_means_loopback_only():
    pytest.importorskip("uvicorn", reason="kinema serve needs the serve extra")
    from kinema.serve.server import bind_host

    host, note = bind_host("0.0.0.0", ())
    assert host == "127.0.0.1" and "no API keys" in note
    assert bind_host("0.0.0.0", ("k",)) == ("0.0.0.0", None)
    assert bind_host("::1", ()) == ("::1", None)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "0"], "--port 0"),
        (["--workers", "-1"], "--workers -1"),
        (["--model", "/no/such/model"], "--model"),
        (["--max-active", "0"], "--max-active 0"),
    ],
)
def test_cli_bad_flags_exit_2(args, message, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "j.db"), *args])
    assert result.exit_code == 2 and message in result.output


def test_moderation_hook_asks_the_safety_guard(monkeypatch):
    from types import SimpleNamespace

    from kinema.serve import generate

    class Guard:
        def check_prompt(self, text):
            blocked = "Mickey Mouse" in text
            return SimpleNamespace(allowed=not blocked, reason="blocked: copyright" if blocked else "allowed")

    monkeypatch.setattr(generate, "_guard", lambda: Guard())
    assert generate.moderate("a red ball") is None
    assert generate.moderate("Mickey Mouse dances") == "blocked: copyright"
    monkeypatch.setattr(generate, "_guard", lambda: None)  # no safety package: everything is allowed
    assert generate.moderate("Mickey Mouse dances") is None
