"""Validating the judge: it must pass faithful renders and catch renders of a scene that differs in one attribute.

For each category, scenes that exercise it are drawn; each is rendered and judged as is and after an H.264 round
trip (ground truth), and a copy changed in exactly one attribute of that category is rendered and judged against the
original's claims (mismatch): the judge must fail at least one claim of that category.
"""

from __future__ import annotations

import copy
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import vocab
from .claims import CATEGORIES, claims
from .judge import judge
from .render import render
from .sample import ROUND_SHAPES, _Reject, check, sample_scene
from .scene import Event, Motion, Obj, Scene

# The feature each category's scenes must have (None: any scene, mixed levels).
REQUIRES: dict[str, tuple[str | None, ...]] = {
    "presence": (None,),
    "color": (None,),
    "shape": (None,),
    "size": (None,),
    "position": (None,),
    "motion": (None,),
    "speed": (None,),
    "camera": ("camera",),
    "occlusion": ("occlusion",),
    "gravity": ("bounce", "fall"),
    "collision": ("collision",),
    "cut": ("multishot",),
    "event": ("color_event", "appear", "disappear"),
    "identity": ("multishot",),
}


def _objects(scene: Scene, oid: str) -> list[Obj]:
    return [o for s in scene.shots for o in s.objects if o.id == oid]


def _interacting(scene: Scene) -> set[str]:
    return {x for s in scene.shots for i in s.interactions for x in (i.a, i.b) if x}


def _unused_colors(scene: Scene) -> list[str]:
    used = {o.color for s in scene.shots for o in s.objects}
    used |= {e.color for s in scene.shots for o in s.objects for e in o.events if e.color}
    return [c for c in vocab.COLORS if c not in used]


def _free_objects(scene: Scene) -> list[Obj]:
    busy = _interacting(scene)
    return [o for o in scene.shots[0].objects if o.id not in busy and not o.events]


def mutate(scene: Scene, category: str, rng: np.random.Generator) -> Scene | None:
    """A copy of `scene` that differs in one attribute of `category`, or None if this scene offers none."""
    b = copy.deepcopy(scene)
    s0 = b.shots[0]
    if category == "presence":
        spare = _unused_colors(b)
        if rng.random() < 0.5 and len(_free_objects(b)) >= 1 and len(s0.objects) >= 2:
            gone = _free_objects(b)[0].id
            for s in b.shots:
                s.objects = [o for o in s.objects if o.id != gone]
        else:
            span = (b.width / b.unit, b.height / b.unit)
            x, y = rng.uniform(0.15, span[0] - 0.15), rng.uniform(0.15, span[1] - 0.15)
            s0.objects.append(Obj("extra", str(rng.choice(vocab.SHAPES)), spare[0], "medium", float(x), float(y)))
    elif category == "color":
        o = s0.objects[int(rng.integers(len(s0.objects)))]
        new = str(rng.choice(_unused_colors(b)))
        for p in _objects(b, o.id):
            p.color = new
    elif category in ("shape", "size"):
        o = s0.objects[int(rng.integers(len(s0.objects)))]
        if category == "shape":
            pool = (
                ROUND_SHAPES
                if o.id in _interacting(b)
                else vocab.ROTATABLE_SHAPES
                if o.motion.kind == "rotate"
                else vocab.SHAPES
            )
            new = str(rng.choice([x for x in pool if x != o.shape]))
            for p in _objects(b, o.id):
                p.shape = new
        else:
            names = list(vocab.SIZES)
            k = names.index(o.size)
            new = names[k + 1] if k == 0 or (k == 1 and rng.random() < 0.5) else names[k - 1]
            for p in _objects(b, o.id):
                p.size = new
    elif category == "position":
        span = (b.width / b.unit, b.height / b.unit)
        cands = [o for o in _free_objects(b) if vocab.region_name(o.x, o.y, *span) is not None]
        if not cands:
            return None
        o = cands[int(rng.integers(len(cands)))]
        here = vocab.region_name(o.x, o.y, *span)
        other = str(rng.choice([r for r in vocab.REGIONS if r != here]))
        x0, x1, y0, y1 = vocab.region_bounds(other, *span)
        o.x, o.y = float(rng.uniform(x0 + 0.08, x1 - 0.08)), float(rng.uniform(y0 + 0.08, y1 - 0.08))
    elif category in ("motion", "speed"):
        kinds = ("linear",) if category == "speed" else ("linear", "orbit", "rotate", "grow", "shrink", "static")
        cands = [o for o in _free_objects(b) if o.motion.kind in kinds]
        if not cands:
            return None
        o = cands[int(rng.integers(len(cands)))]
        m = o.motion
        if category == "speed":
            m.speed = str(rng.choice([x for x in vocab.SPEEDS if x != m.speed]))
        elif m.kind == "linear":
            names = list(vocab.DIRECTIONS)
            dx, dy = vocab.DIRECTIONS[m.direction]
            far = [n for n in names if vocab.DIRECTIONS[n][0] * dx + vocab.DIRECTIONS[n][1] * dy < 0.1]
            m.direction = str(rng.choice(far))
        elif m.kind in ("orbit", "rotate"):
            m.direction = "counterclockwise" if m.direction == "clockwise" else "clockwise"
        elif m.kind in ("grow", "shrink"):
            m.kind = "shrink" if m.kind == "grow" else "grow"
            m.factor = vocab.SHRINK_FACTOR if m.kind == "shrink" else vocab.GROW_FACTOR
        else:
            o.motion = Motion("linear", direction=str(rng.choice(list(vocab.DIRECTIONS))), speed="medium")
    elif category == "camera":
        c = s0.camera
        if c.kind == "zoom":
            c.direction = "out" if c.direction == "in" else "in"
        elif c.kind == "pan":
            c.direction = str(rng.choice([d for d in vocab.CAMERA_PANS if d != c.direction]))
        else:
            return None
    elif category == "occlusion":
        occ = next(i for i in s0.interactions if i.kind == "occlusion")
        o = _objects(b, occ.a)[0]
        o.events.append(Event("color", round((occ.time + occ.until) / 2, 3), _unused_colors(b)[0]))
    elif category == "gravity":
        o = next(o for o in s0.objects if o.motion.kind in ("bounce", "fall"))
        o.motion.ballistic = False
    elif category == "collision":
        col = next(i for i in s0.interactions if i.kind == "collision")
        _objects(b, col.b)[0].motion.start = max(0.0, col.time - 0.5)
    elif category == "cut":
        d = float(rng.choice([-0.5, 0.5]))
        b.shots[0].duration += d
        b.shots[1].duration -= d
        if min(s.duration for s in b.shots) < 0.6:
            return None
    elif category == "event":
        o = next(o for o in s0.objects if o.events)
        e = o.events[0]
        shifted = [t for t in (e.time - 0.5, e.time + 0.5) if 0.2 <= t <= s0.duration - 0.2]
        if not shifted:
            return None
        e.time = round(float(rng.choice(shifted)), 3)
    elif category == "identity":
        o = b.shots[1].objects[int(rng.integers(len(b.shots[1].objects)))]
        pool = vocab.ROTATABLE_SHAPES if o.motion.kind == "rotate" else vocab.SHAPES
        o.shape = str(rng.choice([x for x in pool if x != o.shape]))
    else:
        raise ValueError(f"unknown category {category!r}")
    try:
        check(b)
    except _Reject:
        return None
    return b


def make_pair(
    category: str, rng: np.random.Generator, size: tuple[int, int] = (64, 64), scene_id: str = "scene", seed: int = 0
) -> tuple[Scene, Scene]:
    """A scene that exercises `category` and a copy of it changed in one attribute of that category."""
    for _ in range(100):
        req = REQUIRES[category][int(rng.integers(len(REQUIRES[category])))]
        a = sample_scene(rng, int(rng.integers(1, 5)), *size, scene_id=scene_id, seed=seed, require=req)
        for _ in range(10):
            b = mutate(a, category, rng)
            if b is not None:
                return a, b
    raise RuntimeError(f"no mismatch could be made for category {category}")


def h264_roundtrip(frames: np.ndarray, fps: float) -> np.ndarray:
    """Frames after writing an MP4 with the project's writer and reading it back."""
    from ..io import read_video, write_video

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "clip.mp4"
        write_video(p, frames, fps)
        return read_video(p)[0]


def validate_judge(n: int, seed: int, progress: bool = True, size: tuple[int, int] = (64, 64)) -> dict:
    """Ground-truth pass rates (raw and after H.264) and mismatch catch rates, per category, over n scenes each."""
    gt: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    gt264: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    caught: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fails: list[dict] = []
    bar = _progress(len(CATEGORIES) * n, progress)
    for ci, cat in enumerate(CATEGORIES):
        for i in range(n):
            rng = np.random.default_rng([seed, ci, i])
            a, b = make_pair(cat, rng, size, scene_id=f"{cat}-{i}", seed=seed)
            items = claims(a)
            frames = render(a)
            for store, video in ((gt, frames), (gt264, h264_roundtrip(frames, a.fps))):
                for c in judge(video, a.fps, items).checks:
                    store[c.category][0] += c.passed
                    store[c.category][1] += 1
                    if not c.passed:
                        fails.append({"scene": a.id, "claim": c.claim, "evidence": c.evidence})
            report = judge(render(b), b.fps, items)
            caught[cat][0] += any(not c.passed for c in report.checks if c.category == cat)
            caught[cat][1] += 1
            bar(1)
    bar(None)
    out = {}
    for cat in CATEGORIES:
        raw, enc = gt[cat], gt264[cat]
        out[cat] = {
            "ground_truth_pass": _rate([raw[0] + enc[0], raw[1] + enc[1]]),
            "ground_truth_pass_raw": _rate(raw),
            "ground_truth_pass_h264": _rate(enc),
            "mismatch_caught": _rate(caught[cat]),
            "claims": raw[1],
            "pairs": caught[cat][1],
        }
    return {"n": n, "seed": seed, "categories": out, "failures": fails[:50]}


def _rate(x: list[int]) -> float:
    return round(x[0] / x[1], 4) if x[1] else float("nan")


def _progress(total: int, enabled: bool) -> Callable[[int | None], None]:
    if not enabled:
        return lambda k: None
    from rich.progress import Progress

    p = Progress(transient=False)
    p.start()
    task = p.add_task("validating the judge", total=total)

    def step(k: int | None) -> None:
        if k is None:
            p.stop()
        else:
            p.advance(task, k)

    return step
