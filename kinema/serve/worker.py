"""The worker pool: threads that take jobs from the store in order, run the generator and write the outputs.

Each worker owns one generator (one per GPU: worker i builds its generator on device i). A job's outputs are
`video.mp4`, `thumbnail.webp` (the middle frame) and `spritesheet.png` (evenly spaced frames), written atomically
into the job's folder; the previews are made by decoding the saved video, which also checks it. A sweeper thread
deletes the files of expired jobs.
"""

from __future__ import annotations

import logging
import shutil
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from kinema.io import read_video, write_contact_sheet, write_video
from kinema.serve.generate import Cancelled, Generator, ModerationBlocked, Request, moderate
from kinema.serve.store import Store

log = logging.getLogger("kinema.serve")

OUTPUTS = {"video": "video.mp4", "thumbnail": "thumbnail.webp", "spritesheet": "spritesheet.png"}
SPRITES = 16  # frames in the spritesheet


class WorkerPool:
    """`n` worker threads plus an expiry sweeper over one store."""

    def __init__(
        self,
        store: Store,
        make_generator: Callable[[int], Generator],
        n: int = 1,
        ttl_seconds: int = 24 * 3600,
        moderator: Callable[[str], str | None] = moderate,
        sweep_every: float = 60.0,
    ):
        self.store = store
        self.make_generator = make_generator
        self.n = n
        self.ttl_seconds = ttl_seconds
        self.moderator = moderator
        self.sweep_every = sweep_every
        self.wake = threading.Event()  # set when a job is queued
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.n)]
        self.threads.append(threading.Thread(target=self._sweep, daemon=True))
        for t in self.threads:
            t.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self.wake.set()
        for t in self.threads:
            t.join(timeout)

    def _sweep(self) -> None:
        while not self.stop.is_set():
            try:
                self.store.expire()
            except Exception:  # a locked database now is not a reason to stop sweeping later
                log.exception("expiry sweep failed")
            self.stop.wait(self.sweep_every)

    def _work(self, index: int) -> None:
        generator = self.make_generator(index)
        while not self.stop.is_set():
            job = self.store.claim()
            if job is None:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            run_job(self.store, generator, job, self.ttl_seconds, self.moderator)


def run_job(
    store: Store, generator: Generator, job: dict, ttl_seconds: int, moderator: Callable[[str], str | None]
) -> None:
    """Run one claimed job to completed or failed (or drop its files if it was deleted meanwhile)."""
    job_id, folder = job["id"], store.job_dir(job["id"])
    last = [0]

    def on_progress(fraction: float) -> None:
        percent = max(0, min(99, int(fraction * 100)))  # 100 only once the files are written
        if percent > last[0] or percent == 0:
            if not store.set_progress(job_id, percent):
                raise Cancelled(job_id)
            last[0] = percent

    try:
        reason = moderator(job["prompt"])
        if reason is not None:
            raise ModerationBlocked(reason)
        p = job["params"]
        request = Request(
            task=job["task"],
            prompt=job["prompt"],
            width=p["width"],
            height=p["height"],
            seconds=p["seconds"],
            seed=job["seed"],
            image=folder / p["image"] if p.get("image") else None,
            video=folder / p["video"] if p.get("video") else None,
        )
        clip = generator.generate(request, on_progress)
        if store.get(job_id) is None:
            raise Cancelled(job_id)
        write_outputs(clip, folder)
        if not store.complete(job_id, ttl_seconds):
            raise Cancelled(job_id)
    except Cancelled:
        log.info("job %s was deleted while it ran", job_id)
        if store.get(job_id) is None:
            shutil.rmtree(folder, ignore_errors=True)
    except ModerationBlocked as e:
        store.fail(job_id, "moderation_blocked", str(e))
    except ValueError as e:  # the generator refused the request's values
        store.fail(job_id, "invalid_request", str(e))
    except Exception as e:
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        store.fail(job_id, "generation_failed", f"{type(e).__name__}: {e}")


def write_outputs(clip, folder: Path) -> None:
    """Save the clip's video, then derive the thumbnail and spritesheet from the decoded file."""
    folder.mkdir(parents=True, exist_ok=True)
    clip.save(folder / OUTPUTS["video"])
    frames, _ = read_video(folder / OUTPUTS["video"])
    write_video(folder / OUTPUTS["thumbnail"], frames[len(frames) // 2 : len(frames) // 2 + 1], 1.0)
    write_contact_sheet(folder / OUTPUTS["spritesheet"], frames, max_frames=SPRITES, scale=1)
