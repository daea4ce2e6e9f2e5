"""50 concurrent creates on loopback with the world stand-in: all complete, none lost; p95 latencies printed."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")

from kinema.serve.app import Settings  # noqa: E402
from kinema.serve.generate import WorldGenerator  # noqa: E402
from kinema.serve.loadtest import run_load  # noqa: E402
from kinema.serve.testing import LiveServer  # noqa: E402

N = 50


def test_fifty_concurrent_creates_all_complete(tmp_path, capsys):
    settings = Settings(
        db=tmp_path / "jobs.db", workers=2, max_active_per_key=N, poll_after_ms=50, moderator=lambda p: None
    )
    with LiveServer(settings, lambda i: WorldGenerator(steps=1)) as url:
        summary = run_load(url, N, poll=0.1)
    with capsys.disabled():
        print("\nserve load:", json.dumps(summary))
    assert summary["errors"] == [] and summary["completed"] == N and summary["lost"] == 0
    assert summary["create_requests"] == N and summary["retrieve_requests"] >= N
    assert summary["retrieve_p95_ms"] < 2000 and summary["create_p95_ms"] < 5000  # loose: a shared 2-core machine
