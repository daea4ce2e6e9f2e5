"""A small load test on loopback: N concurrent creates, each client then polls its job to the end.

Reports p50/p95/max latency of the non-generation endpoints (create, retrieve, list) and whether every job
completed and is listed. `python -m kinema.serve.loadtest --n 50 --model world` runs it against a fresh server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None, key: str | None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    t = time.perf_counter()
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read())
    return response.status, data, (time.perf_counter() - t) * 1000


def run_load(url: str, n: int = 50, key: str | None = None, poll: float = 0.05, timeout: float = 600.0) -> dict:
    """Start n clients at once; each creates a 1-second video, then polls it (and lists) until it finishes."""
    host = urlparse(url)
    latencies: dict[str, list[float]] = {"create": [], "retrieve": [], "list": []}
    results: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        try:
            start.wait()
            body = {"prompt": f"load test clip {i}", "size": "64x64", "seconds": "1"}
            status, video, ms = _call(conn, "POST", "/v1/videos", body, key)
            with lock:
                latencies["create"].append(ms)
            if status != 200:
                raise RuntimeError(f"create -> {status}: {video}")
            deadline = time.monotonic() + timeout
            while video["status"] in ("queued", "in_progress") and time.monotonic() < deadline:
                time.sleep(poll)
                status, video, ms = _call(conn, "GET", f"/v1/videos/{video['id']}", None, key)
                _, _, list_ms = _call(conn, "GET", "/v1/videos?limit=20", None, key)
                with lock:
                    latencies["retrieve"].append(ms)
                    latencies["list"].append(list_ms)
            with lock:
                results.append(video)
        except Exception as e:  # reported, not raised: the summary says how many were lost
            with lock:
                errors.append(f"client {i}: {type(e).__name__}: {e}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    listed, after = [], None
    while True:
        _, page, _ = _call(conn, "GET", "/v1/videos?limit=100" + (f"&after={after}" if after else ""), None, key)
        listed += [v["id"] for v in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    conn.close()
    ids = {v["id"] for v in results}
    summary = {
        "clients": n,
        "completed": sum(v["status"] == "completed" for v in results),
        "failed": sum(v["status"] == "failed" for v in results),
        "lost": n - len(ids & set(listed)),
        "errors": errors[:5],
        "wall_seconds": round(wall, 2),
    }
    for name, values in latencies.items():
        a = np.array(values or [np.nan])
        summary[f"{name}_requests"] = len(values)
        summary[f"{name}_p50_ms"] = round(float(np.percentile(a, 50)), 1)
        summary[f"{name}_p95_ms"] = round(float(np.percentile(a, 95)), 1)
        summary[f"{name}_max_ms"] = round(float(a.max()), 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--model", default="world", help="'world' (the stand-in) or a pipeline model folder")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from kinema.serve.app import Settings
    from kinema.serve.generate import load_generator
    from kinema.serve.testing import LiveServer

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=Path(tmp) / "jobs.db", workers=args.workers, max_active_per_key=args.n, poll_after_ms=50)
        with LiveServer(settings, lambda i: load_generator(args.model)) as url:
            print(json.dumps(run_load(url, args.n)))


if __name__ == "__main__":
    main()
