"""kill -9 the server while a job runs, start it again on the same database: nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="kinema serve needs the serve extra: pip install -e '.[serve]'")
openai = pytest.importorskip("openai", reason="the restart test drives the server with the openai package")

from kinema.serve.store import Store  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHILD = """
import socket, sys
from pathlib import Path
from kinema.serve.app import Settings
from kinema.serve.generate import WorldGenerator
from kinema.serve.server import run
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
settings = Settings(db=Path(sys.argv[1]), poll_after_ms=50, moderator=lambda p: None)
run(settings, lambda i: WorldGenerator(steps=10, step_delay=0.05), sock=sock, log_level="warning")
"""


def start(db) -> tuple[subprocess.Popen, openai.OpenAI]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    port = int(proc.stdout.readline())
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    for _ in range(200):
        try:
            client.videos.list(limit=1)
            return proc, client
        except openai.APIConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not come up")


def test_kill_9_mid_job_then_restart_finishes_every_job(tmp_path):
    db = tmp_path / "jobs.db"
    proc, client = start(db)
    try:
        ids = [client.videos.create(prompt=f"clip {i}", size="64x64", seconds="1").id for i in range(3)]
        deadline = time.monotonic() + 20
        while (v := client.videos.retrieve(ids[0])).progress == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert v.status == "in_progress" and 0 < v.progress < 100
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {i: Store(db).get(i) for i in ids}
    assert before[ids[0]]["status"] == "in_progress"  # as the crash left it
    assert [before[i]["status"] for i in ids[1:]] == ["queued", "queued"]

    proc, client = start(db)
    try:
        done = [client.videos.poll(i, poll_interval_ms=30) for i in ids]
        assert [v.status for v in done] == ["completed"] * 3
        for v in done:
            assert len(client.videos.download_content(v.id).content) > 0
        assert Store(db).get(ids[0])["attempts"] == 2  # the interrupted job ran again
        assert [v.id for v in client.videos.list(order="asc")] == ids
    finally:
        proc.terminate()
        proc.wait(10)
