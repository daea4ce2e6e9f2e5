"""The world as training data: an endless seeded stream of clips with captions, and a manifest writer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .caption import dense_caption, short_prompt
from .render import render
from .sample import sample_scene
from .scene import Scene

MANIFEST_COLUMNS = ("path", "text", "num_frames", "height", "width", "aspect_ratio", "fps", "short_prompt", "level")


@dataclass
class WorldSample:
    video: np.ndarray  # (T, H, W, 3) uint8
    dense_caption: str
    short_prompt: str
    scene: Scene


class WorldStream:
    """Endless, reproducible clips: clip i is drawn from the seed (seed, i) and is the same on any machine.

    `sizes` and `seconds` are choices drawn per clip (mixed shapes for bucketing trainers); `rank`/`world_size`
    shard the stream so that each process of a distributed run sees different clips.
    """

    def __init__(
        self,
        seed: int = 0,
        level: int | None = None,
        sizes: Sequence[tuple[int, int]] = ((64, 64),),
        seconds: Sequence[float] | None = None,
        fps: float = 12.0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} must be in [0, {world_size})")
        self.seed, self.level, self.sizes, self.seconds, self.fps = seed, level, list(sizes), seconds, fps
        self.rank, self.world_size = rank, world_size

    def sample(self, i: int) -> WorldSample:
        rng = np.random.default_rng([self.seed, i])
        level = self.level if self.level is not None else int(rng.integers(1, 5))
        w, h = self.sizes[int(rng.integers(len(self.sizes)))]
        secs = None if self.seconds is None else float(self.seconds[int(rng.integers(len(self.seconds)))])
        scene = sample_scene(rng, level, w, h, secs, self.fps, scene_id=f"w{self.seed}-{i:07d}", seed=self.seed)
        return WorldSample(render(scene), dense_caption(scene), short_prompt(scene), scene)

    def __iter__(self) -> Iterator[WorldSample]:
        i = self.rank
        while True:
            yield self.sample(i)
            i += self.world_size


def write_dataset(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    level: int | None = None,
    width: int = 64,
    height: int = 64,
    seconds: float | None = None,
    fps: float = 12.0,
    progress: bool = True,
) -> Path:
    """Write n clips (<id>.mp4 + <id>.json) and manifest.csv with Open-Sora's columns; returns the manifest path."""
    from ..io import atomic_write_text, write_video

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stream = WorldStream(seed, level, [(width, height)], None if seconds is None else [seconds], fps)
    rows = []
    it = range(n)
    if progress:
        from rich.progress import track

        it = track(it, description="writing world clips")
    for i in it:
        s = stream.sample(i)
        path = out / f"{s.scene.id}.mp4"
        write_video(path, s.video, fps)
        meta = {"scene": s.scene.to_dict(), "dense_caption": s.dense_caption, "short_prompt": s.short_prompt}
        atomic_write_text(out / f"{s.scene.id}.json", json.dumps(meta, indent=1))
        t, h, w = s.video.shape[:3]
        rows.append([path.name, s.dense_caption, t, h, w, round(h / w, 4), fps, s.short_prompt, s.scene.level])
    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(MANIFEST_COLUMNS)
    wr.writerows(rows)
    manifest = out / "manifest.csv"
    atomic_write_text(manifest, buf.getvalue())
    return manifest
