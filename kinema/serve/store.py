"""The job store: one SQLite database in WAL mode, with each job's files in a folder beside it.

Every state change is one committed transaction, so a server killed at any instant (kill -9 included) leaves the
database consistent: on the next start `recover()` puts jobs that were running back in the queue (or fails them with
a clear error once they have been tried `MAX_ATTEMPTS` times), and queued jobs simply run. Workers claim jobs with
one atomic UPDATE, so several workers (and even several server processes on one database) never run a job twice.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_ATTEMPTS = 2  # a job interrupted by a crash is re-run once; interrupted again, it fails
STATUSES = ("queued", "in_progress", "completed", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order: the queue's order and the list's order
    id            TEXT NOT NULL UNIQUE,
    owner         TEXT NOT NULL,                      -- a hash of the API key, or 'local' without keys
    task          TEXT NOT NULL,                      -- text-to-video | image-to-video | extend | edit
    status        TEXT NOT NULL DEFAULT 'queued',
    progress      INTEGER NOT NULL DEFAULT 0,
    prompt        TEXT NOT NULL,
    model         TEXT NOT NULL,
    size          TEXT NOT NULL,                      -- as asked for (an OpenAI size or a native one)
    seconds       TEXT NOT NULL,                      -- as reported to clients (extensions: the stitched total)
    seed          INTEGER NOT NULL,
    params        TEXT NOT NULL,                      -- JSON: what the generator gets (native size, seconds, inputs)
    remixed_from  TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    expires_at    INTEGER,
    expired       INTEGER NOT NULL DEFAULT 0,         -- 1 once the files are gone (the job's record stays)
    error_code    TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
"""


def new_id() -> str:
    """'video_' and 24 hex digits, like OpenAI's ids."""
    return f"video_{secrets.token_hex(12)}"


class Store:
    """Jobs in SQLite (WAL) at `path`; job files under `<path stem>-files/<id>/`. Safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.files_root = self.path.with_name(f"{self.path.stem}-files")
        self.files_root.mkdir(exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # executescript commits by itself

    # -------------------------------------------------------------------------------------------------- plumbing

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a power cut may lose the last commits, a crash none
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE), so read-then-write cannot race another writer."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def job_dir(self, job_id: str) -> Path:
        return self.files_root / job_id

    # -------------------------------------------------------------------------------------------------- writes

    def create(self, job: dict[str, Any], max_active: int | None = None) -> dict[str, Any] | None:
        """Insert a queued job; None if its owner already has `max_active` jobs queued or running."""
        row = {**job, "params": json.dumps(job.get("params", {}))}
        row.setdefault("created_at", int(time.time()))
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._tx() as db:
            if max_active is not None and self.active_count(job["owner"], db) >= max_active:
                return None
            db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", row)
        return self.get(job["id"])

    def claim(self) -> dict[str, Any] | None:
        """Take the oldest queued job (status -> in_progress, attempts + 1); None when the queue is empty."""
        now = int(time.time())
        with self._tx() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'in_progress', progress = 0, attempts = attempts + 1, started_at = ?"
                " WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *",
                (now,),
            ).fetchone()
        return _decode(row)

    def set_progress(self, job_id: str, progress: int) -> bool:
        """Record progress (0-100) of a running job; False if the job is gone (deleted) or no longer running."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET progress = ? WHERE id = ? AND status = 'in_progress'", (int(progress), job_id)
            )
        return cur.rowcount == 1

    def complete(self, job_id: str, ttl_seconds: int) -> bool:
        """Mark a running job completed with its files expiring after `ttl_seconds`; False if it was deleted."""
        now = int(time.time())
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'completed', progress = 100, completed_at = ?, expires_at = ?"
                " WHERE id = ? AND status = 'in_progress'",
                (now, now + ttl_seconds, job_id),
            )
        return cur.rowcount == 1

    def fail(self, job_id: str, code: str, message: str) -> bool:
        """Mark a job failed with an error code and message; False if it was deleted."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET status = 'failed', completed_at = ?, error_code = ?, error_message = ?"
                " WHERE id = ? AND status IN ('queued', 'in_progress')",
                (int(time.time()), code, message, job_id),
            )
        return cur.rowcount == 1

    def delete(self, job_id: str, owner: str) -> bool:
        """Delete a job and its files; a running job's worker notices at its next progress report and stops."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM jobs WHERE id = ? AND owner = ?", (job_id, owner))
        if cur.rowcount:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return cur.rowcount == 1

    def recover(self) -> tuple[int, int]:
        """After a restart: re-queue jobs that were running, or fail those already tried MAX_ATTEMPTS times.

        Returns (requeued, failed).
        """
        with self._tx() as db:
            failed = db.execute(
                "UPDATE jobs SET status = 'failed', completed_at = ?, error_code = 'server_interrupted',"
                " error_message = 'the server stopped while this job ran, ' || attempts || ' times; not retried again'"
                " WHERE status = 'in_progress' AND attempts >= ?",
                (int(time.time()), MAX_ATTEMPTS),
            ).rowcount
            requeued = db.execute(
                "UPDATE jobs SET status = 'queued', progress = 0 WHERE status = 'in_progress'"
            ).rowcount
        return requeued, failed

    def expire(self, now: int | None = None) -> int:
        """Delete the files of completed jobs past their expiry (their records stay); returns how many."""
        now = int(time.time()) if now is None else now
        with self._tx() as db:
            ids = [
                r["id"]
                for r in db.execute(
                    "UPDATE jobs SET expired = 1 WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ?"
                    " RETURNING id",
                    (now,),
                )
            ]
        for job_id in ids:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return len(ids)

    # -------------------------------------------------------------------------------------------------- reads

    def get(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """One job by id (only if `owner` owns it, when given)."""
        sql, args = "SELECT * FROM jobs WHERE id = ?", [job_id]
        if owner is not None:
            sql, args = sql + " AND owner = ?", [job_id, owner]
        return _decode(self._db().execute(sql, args).fetchone())

    def page(self, owner: str, after: str | None, limit: int, order: str) -> tuple[list[dict[str, Any]], bool] | None:
        """A page of `owner`'s jobs after the job `after` (None if `after` is not theirs) and whether more follow."""
        desc = order == "desc"
        db = self._db()
        sql, args = "SELECT * FROM jobs WHERE owner = ?", [owner]
        if after:
            anchor = db.execute("SELECT seq FROM jobs WHERE id = ? AND owner = ?", (after, owner)).fetchone()
            if anchor is None:
                return None
            sql += " AND seq < ?" if desc else " AND seq > ?"
            args.append(anchor["seq"])
        sql += f" ORDER BY seq {'DESC' if desc else 'ASC'} LIMIT ?"
        rows = [_decode(r) for r in db.execute(sql, [*args, limit + 1])]
        return rows[:limit], len(rows) > limit

    def active_count(self, owner: str, db: sqlite3.Connection | None = None) -> int:
        """How many of `owner`'s jobs are queued or running."""
        db = db or self._db()
        sql = "SELECT COUNT(*) FROM jobs WHERE owner = ? AND status IN ('queued', 'in_progress')"
        return db.execute(sql, (owner,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Jobs per status, all owners."""
        rows = self._db().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: r[1] for r in rows}

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _decode(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    job = dict(row)
    job["params"] = json.loads(job["params"])
    return job
