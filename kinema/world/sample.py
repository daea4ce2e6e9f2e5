"""A seeded sampler of scenes, by difficulty level.

Level 1: one object on a plain background, still or moving in a line. Level 2: one or two objects, any background,
every motion (bounce, fall, orbit, grow, shrink, spin) and colour changes. Level 3: two or three objects, collisions,
occlusion behind a pillar, appearing/disappearing and camera pans and zooms. Level 4: two to four objects and
multi-shot videos with hard cuts. Every scene is checked by simulation before it is returned: objects stay in view
and never overlap unless they collide.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from . import vocab
from .motion import camera_state, track
from .scene import Background, Camera, Event, Interaction, Motion, Obj, Occluder, Scene, Shot

DEFAULT_SECONDS = {1: 2.0, 2: 2.0, 3: 3.0, 4: 4.0}
FEATURES = ("collision", "occlusion", "camera", "multishot", "bounce", "fall", "color_event", "appear", "disappear")
MARGIN = 0.02  # world units kept between objects and the frame's edge
ROUND_SHAPES = ("circle", "square", "ring")  # shapes that collide cleanly side by side
SEEN_MOVING = 0.25  # seconds an occluded object is seen moving on each side of the pillar


class _Reject(Exception):
    """A draw that breaks a constraint; the sampler draws again."""


def sample_scenes(
    n: int,
    seed: int,
    level: int | None = None,
    width: int = 64,
    height: int = 64,
    seconds: float | None = None,
    fps: float = 12.0,
) -> Iterator[Scene]:
    """`n` scenes, scene i drawn from the seed (seed, i); level None mixes levels 1-4."""
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        lv = level if level is not None else int(rng.integers(1, 5))
        yield sample_scene(rng, lv, width, height, seconds, fps, scene_id=f"s{seed}-{i:05d}", seed=seed)


def sample_scene(
    rng: np.random.Generator,
    level: int,
    width: int = 64,
    height: int = 64,
    seconds: float | None = None,
    fps: float = 12.0,
    scene_id: str = "scene",
    seed: int = 0,
    require: str | None = None,
) -> Scene:
    """One scene at `level`; `require` forces one of FEATURES (raising the level if it needs to)."""
    if level not in vocab.LEVELS:
        raise ValueError(f"level {level}: must be one of 1, 2, 3, 4")
    if width < 16 or height < 16:
        raise ValueError(f"size {width}x{height}: the world needs at least 16x16 pixels")
    if require is not None and require not in FEATURES:
        raise ValueError(f"unknown feature {require!r}: choose from {', '.join(FEATURES)}")
    if require in ("collision", "occlusion", "camera", "appear", "disappear"):
        level = max(level, 3)
    elif require == "multishot":
        level = 4
    elif require is not None:
        level = max(level, 2)
    secs = DEFAULT_SECONDS[level] if seconds is None else seconds
    if secs <= 0 or fps <= 0:
        raise ValueError(f"seconds {secs} and fps {fps} must be positive")
    for _ in range(400):
        try:
            scene = _draw(rng, level, width, height, secs, fps, scene_id, seed, require)
            check(scene)
            return scene
        except _Reject:
            continue
    raise RuntimeError(f"could not draw a level-{level} scene of {width}x{height}, {secs} s (require={require})")


def _draw(rng, level, width, height, secs, fps, scene_id, seed, require) -> Scene:
    want = {require} if require else set()
    multishot = "multishot" in want or (not want and level == 4 and secs >= 3.0 and rng.random() < 0.5)
    if multishot and secs < 2.0:
        raise ValueError(f"a multi-shot scene needs at least 2 s, got {secs}")
    n_obj = {1: (1, 1), 2: (1, 2), 3: (2, 3), 4: (2, 4)}[level]
    n = int(rng.integers(n_obj[0], n_obj[1] + 1))
    if want & {"collision"}:
        n = max(n, 2)
    colors = list(rng.permutation(list(vocab.COLORS)))
    shapes = [str(rng.choice(vocab.SHAPES)) for _ in range(n)]
    sizes = [str(rng.choice(list(vocab.SIZES))) for _ in range(n)]
    idents = [(f"o{i + 1}", shapes[i], str(colors[i]), sizes[i]) for i in range(n)]
    spare = [str(c) for c in colors[n:]]
    if not multishot:
        shot = _draw_shot(rng, level, (width, height, fps), secs, idents, spare, want, first=True)
        return Scene(scene_id, width, height, fps, [shot], level=level, seed=seed)
    k = int(rng.integers(2, 4)) if secs >= 4.5 else 2
    cuts = np.sort(rng.uniform(0.3, 0.7, size=k - 1)) if k == 2 else np.array([0.3, 0.63]) + rng.uniform(-0.03, 0.03, 2)
    bounds = np.concatenate([[0.0], np.round(cuts * secs * fps) / fps, [secs]])
    durs = np.diff(bounds)
    if durs.min() < 0.8:
        raise _Reject
    shots, prev_bg = [], None
    for d in durs:
        shot = _draw_shot(rng, 2, (width, height, fps), float(d), idents, [], set(), first=not shots)
        if prev_bg is not None and not _looks_different(prev_bg, shot.background):
            raise _Reject
        prev_bg = shot.background
        shots.append(shot)
    return Scene(scene_id, width, height, fps, shots, level=level, seed=seed)


def _looks_different(a: Background, b: Background) -> bool:
    lum = {k: sum(v) / 3 for k, v in vocab.BACKGROUND_COLORS.items()}
    return abs(lum[a.colors[0]] - lum[b.colors[0]]) > 60 and (a.kind != b.kind or a.colors != b.colors)


def _pick_bg(rng, span, kind: str) -> Background:
    names = list(vocab.BACKGROUND_COLORS)
    lum = {k: sum(v) / 3 for k, v in vocab.BACKGROUND_COLORS.items()}
    c0 = str(rng.choice(names))
    far = [c for c in names if abs(lum[c] - lum[c0]) > 45]
    c1 = str(rng.choice(far))
    if kind == "solid":
        return Background("solid", [c0])
    if kind == "gradient":
        return Background("gradient", [c0, c1], angle=float(rng.choice([0, 45, 90, 135, 180, 270])))
    if kind == "stripes":
        return Background("stripes", [c0, c1], angle=float(rng.choice([0, 90, 45])), cell=float(rng.uniform(0.1, 0.2)))
    if kind == "checkerboard":
        return Background("checkerboard", [c0, c1], cell=float(rng.uniform(0.12, 0.2)))
    return Background("floor", [c0, c1], floor_y=float(span[1] * rng.uniform(0.78, 0.88)))


def _draw_shot(rng, level, dims, dur, idents, spare, want, first) -> Shot:
    span = (dims[0] / min(dims[:2]), dims[1] / min(dims[:2]))
    camera = Camera()
    free_draw = not want  # a required feature is the only special thing in its scene
    if "camera" in want or (free_draw and level >= 3 and first and rng.random() < 0.35):
        if rng.random() < 0.6:
            camera = Camera("pan", str(rng.choice(vocab.CAMERA_PANS)), float(rng.uniform(0.08, 0.14)))
        else:
            camera = Camera("zoom", str(rng.choice(vocab.CAMERA_ZOOMS)))
    needs_floor = bool(want & {"bounce", "fall"})
    if camera.kind != "static":
        bg = _pick_bg(rng, span, "checkerboard")
    elif needs_floor:
        bg = _pick_bg(rng, span, "floor")
    elif level == 1:
        bg = _pick_bg(rng, span, "solid")
    else:
        bg = _pick_bg(rng, span, str(rng.choice(vocab.BACKGROUND_KINDS)))
    if not first and rng.random() < 0.4:
        camera.zoom = 1.25  # a later shot may frame the same objects closer
    shot = Shot(dur, background=bg, camera=camera)
    objs = [Obj(i, s, c, z, 0.0, 0.0) for i, s, c, z in idents]
    todo = list(range(len(objs)))
    if "collision" in want or (
        free_draw and level >= 3 and len(objs) >= 2 and camera.kind == "static" and rng.random() < 0.3
    ):
        a, b = objs[0], objs[1]
        _retry(lambda: _place_collision(rng, span, dur, a, b, shot))
        todo = todo[2:]
    elif "occlusion" in want or (free_draw and level >= 3 and camera.kind == "static" and rng.random() < 0.3):
        _retry(lambda: _place_occlusion(rng, span, dur, objs[0], shot))
        objs, todo = objs[:2], todo[1:2]  # the crossing and the pillar leave room for one more object at most
    # Place the other objects one at a time, each redrawn until it fits beside those already placed.
    placed = [o for i, o in enumerate(objs) if i not in todo]
    probe = Scene("probe", dims[0], dims[1], dims[2], [shot])
    for i in todo:
        o = objs[i]
        for _ in range(30):
            o.motion = _pick_motion(rng, level, span, dur, o, shot, want if i == 0 else set())
            if (
                level >= 2
                and o.motion.kind in ("static", "rotate", "orbit", "linear")
                and o.shape in vocab.ROTATABLE_SHAPES
            ):
                o.angle = float(rng.choice([0.0, 15.0, 30.0]))
            shot.objects = placed + [o]
            try:
                check(probe)
                break
            except _Reject:
                continue
        else:
            raise _Reject
        placed.append(o)
    # Timed events, on objects whose motion is their own.
    free = [o for o in objs[len(objs) - len(todo) :]] if todo else []
    if free and level >= 2 and (want & {"color_event"} or (free_draw and rng.random() < 0.3)) and spare:
        o = free[0]
        o.events.append(Event("color", _event_time(rng, dur), spare.pop(0)))
    if free and level >= 3 and (want & {"appear", "disappear"} or (free_draw and rng.random() < 0.25)):
        kind = (want & {"appear", "disappear"} or {str(rng.choice(["appear", "disappear"]))}).pop()
        o = free[-1]
        if o.events or o.motion.kind in ("bounce", "fall"):
            raise _Reject  # a fall seen only in part cannot be told from a slide
        o.events.append(Event(kind, _event_time(rng, dur)))
    shot.objects = objs
    return shot


def _retry(place, tries: int = 20) -> None:
    """Redraw an interaction's geometry until it fits (each draw is random), so it is not rare among scenes."""
    for _ in range(tries - 1):
        try:
            return place()
        except _Reject:
            continue
    place()


def _event_time(rng, dur: float) -> float:
    return round(float(rng.uniform(0.3, 0.7) * dur), 1)


def _extent(o: Obj) -> float:
    """Radius of the circle around the object (world units)."""
    return vocab.SIZES[o.size] * max(1.0, vocab.TRIANGLE_R, vocab.STAR_OUTER)


def _uniform_pos(rng, span, ext: float, lo=(0.0, 0.0), hi=None) -> tuple[float, float]:
    hi = hi or span
    x0, x1 = lo[0] + ext + MARGIN, hi[0] - ext - MARGIN
    y0, y1 = lo[1] + ext + MARGIN, hi[1] - ext - MARGIN
    if x1 <= x0 or y1 <= y0:
        raise _Reject
    return float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))


def _pick_motion(rng, level, span, dur, o: Obj, shot: Shot, want) -> Motion:
    ext = _extent(o)
    kinds = ["static", "linear"] if level == 1 else ["static", "linear", "linear", "orbit", "grow", "shrink"]
    if level >= 2 and o.shape in vocab.ROTATABLE_SHAPES:
        kinds.append("rotate")
    if shot.background.kind == "floor":
        kinds += ["bounce", "bounce", "fall"]
    kind = (want & {"bounce", "fall"} or {str(rng.choice(kinds))}).pop()
    if kind == "linear":
        d = str(rng.choice(list(vocab.DIRECTIONS)))
        for sp in rng.permutation(list(vocab.SPEEDS)):
            dist = vocab.SPEEDS[sp] * dur
            dx, dy = vocab.DIRECTIONS[d]
            lo = (max(0.0, -dx * dist), max(0.0, -dy * dist))
            hi = (span[0] - max(0.0, dx * dist), span[1] - max(0.0, dy * dist))
            try:
                o.x, o.y = _uniform_pos(rng, span, ext, lo, hi)
                return Motion("linear", direction=d, speed=str(sp))
            except _Reject:
                continue
        kind = "static"
    if kind in ("bounce", "fall"):
        floor_y = shot.background.floor_y
        g = float(rng.uniform(2.0, 3.5))
        vx = 0.0 if kind == "fall" or rng.random() < 0.3 else float(rng.choice([-1, 1]) * rng.uniform(0.08, 0.18))
        rest_y = floor_y - vocab.SHAPE_BOTTOM[o.shape] * vocab.SIZES[o.size]
        drop = float(rng.uniform(0.3, 0.6)) * (rest_y - ext)
        o.y = rest_y - drop
        if o.y - ext < MARGIN or (kind == "fall" and math.sqrt(2 * drop / g) > 0.7 * dur):
            raise _Reject
        lo, hi = max(0.0, -vx * dur), span[0] - max(0.0, vx * dur)
        o.x, _ = _uniform_pos(rng, span, ext, (lo, 0.0), (hi, span[1]))
        e = 0.0 if kind == "fall" else float(rng.uniform(0.6, 0.8))
        return Motion(kind, vx=vx, vy=0.0, gravity=g, restitution=e)
    if kind == "orbit":
        rad = float(rng.uniform(0.12, 0.2))
        cx, cy = _uniform_pos(rng, span, ext + rad)
        phase = float(rng.uniform(0, 2 * math.pi))
        o.x, o.y = cx + rad * math.cos(phase), cy + rad * math.sin(phase)
        spin = str(rng.choice(vocab.SPINS))
        return Motion("orbit", direction=spin, radius=rad, rate=float(rng.uniform(1.8, 3.0)), phase=phase)
    if kind in ("grow", "shrink"):
        f = vocab.GROW_FACTOR if kind == "grow" else vocab.SHRINK_FACTOR
        o.x, o.y = _uniform_pos(rng, span, ext * max(f, 1.0))
        return Motion(kind, factor=f)
    o.x, o.y = _uniform_pos(rng, span, ext)
    if kind == "rotate":
        return Motion("rotate", direction=str(rng.choice(vocab.SPINS)), rate=float(rng.uniform(1.5, 3.0)))
    return Motion("static")


def _place_collision(rng, span, dur, a: Obj, b: Obj, shot: Shot) -> None:
    """`a` moves into resting `b`, stops, and `b` moves off the same way at the same speed."""
    a.shape, b.shape = str(rng.choice(ROUND_SHAPES)), str(rng.choice(ROUND_SHAPES))
    d = str(rng.choice(["left", "right"]))
    ea = vocab.SHAPE_HALF_WIDTH[a.shape] * vocab.SIZES[a.size]
    eb = vocab.SHAPE_HALF_WIDTH[b.shape] * vocab.SIZES[b.size]
    room = span[0] - 2 * MARGIN - 2 * ea - 2 * eb - 0.02
    fits = [sp for sp in vocab.SPEEDS if vocab.SPEEDS[sp] * dur <= room]
    if not fits:
        raise _Reject
    sp = str(rng.choice(fits))
    v = vocab.SPEEDS[sp]
    tc = round(float(rng.uniform(0.35, 0.55) * dur) * 12) / 12
    gap = v * tc
    left = float(rng.uniform(MARGIN, MARGIN + room - v * dur))
    y = float(rng.uniform(_extent(a) + MARGIN, span[1] - _extent(a) - MARGIN))
    if d == "right":
        a.x = left + ea
        b.x = a.x + gap + ea + eb
    else:
        a.x = span[0] - left - ea
        b.x = a.x - gap - ea - eb
    a.y = b.y = y
    a.motion = Motion("linear", direction=d, speed=sp, stop=tc)
    b.motion = Motion("linear", direction=d, speed=sp, start=tc)
    a.angle = b.angle = 0.0
    shot.interactions.append(Interaction("collision", a.id, b.id, time=tc))


def _place_occlusion(rng, span, dur, a: Obj, shot: Shot) -> None:
    """A pillar near the middle; `a` crosses behind it and comes out the other side."""
    if a.size == "large":
        a.size = "medium"  # a large object needs a pillar too wide to walk around in view
    ea = vocab.SHAPE_HALF_WIDTH[a.shape] * vocab.SIZES[a.size] * 1.05
    width = 2 * ea + 0.06
    px = float(span[0] / 2 + rng.uniform(-0.1, 0.1) * span[0])
    d = str(rng.choice(["left", "right"]))
    # Seen moving for at least SEEN_MOVING seconds before it goes behind and after it comes out.
    clear = {sp: ea + width / 2 + max(0.03, SEEN_MOVING * v) for sp, v in vocab.SPEEDS.items()}
    room = span[0] - 2 * MARGIN - 2 * _extent(a)
    fits = [sp for sp in vocab.SPEEDS if 2 * clear[sp] <= min(room, vocab.SPEEDS[sp] * dur)]
    if not fits:
        raise _Reject
    sp = str(rng.choice(fits))
    v = vocab.SPEEDS[sp]
    # The crossing may take only part of the shot: it moves for dist / v seconds from t0.
    dist = float(rng.uniform(2 * clear[sp], min(room, v * dur)))
    t0 = round(float(rng.uniform(0.0, dur - dist / v)), 3)
    ext = _extent(a) + MARGIN
    lo, hi = clear[sp], dist - clear[sp]
    if d == "right":  # start at px - off >= ext, end at px - off + dist <= span - ext
        lo, hi = max(lo, px + dist - span[0] + ext), min(hi, px - ext)
    else:
        lo, hi = max(lo, ext + dist - px), min(hi, span[0] - ext - px)
    if hi <= lo:
        raise _Reject
    off = float(rng.uniform(lo, hi))
    a.x = px - off if d == "right" else px + off
    a.y = float(rng.uniform(_extent(a) + MARGIN, span[1] - _extent(a) - MARGIN))
    a.motion = Motion("linear", direction=d, speed=sp, start=t0, stop=round(t0 + dist / v, 3))
    a.angle = 0.0
    t_in = t0 + (off - ea - width / 2) / v
    t_out = t0 + (off + ea + width / 2) / v
    if t_out > dur - 2 / 12 or t_in < 2 / 12:
        raise _Reject
    shot.occluder = Occluder(px, width)
    shot.interactions.append(Interaction("occlusion", a.id, time=round(t_in, 3), until=round(t_out, 3)))


def check(scene: Scene) -> None:
    """Raise _Reject unless every object stays in view and apart from the others (touching only in a collision)."""
    from .motion import shot_frames

    span_px = (scene.width, scene.height)
    for shot, (_, times) in zip(scene.shots, shot_frames(scene)):
        t = np.linspace(0.0, shot.duration, max(2, int(shot.duration * 24) + 1))
        if len(times):
            t = np.union1d(t, times)
        cx, cy, zoom = camera_state(shot.camera, scene, shot.duration, t)
        ppu = zoom * scene.unit
        pts = []
        for o in shot.objects:
            tr = track(o, shot, t)
            sx = (tr.x - cx) * ppu + span_px[0] / 2
            sy = (tr.y - cy) * ppu + span_px[1] / 2
            ext = tr.radius * max(1.0, vocab.TRIANGLE_R, vocab.STAR_OUTER) * ppu
            vis = tr.visible
            pad = MARGIN * scene.unit
            inside = (
                (sx - ext >= pad) & (sx + ext <= span_px[0] - pad) & (sy - ext >= pad) & (sy + ext <= span_px[1] - pad)
            )
            if not np.all(inside | ~vis):
                raise _Reject
            if shot.occluder is not None and not any(i.a == o.id for i in shot.interactions):
                ox = (shot.occluder.x - cx) * ppu + span_px[0] / 2
                if np.any(vis & (np.abs(sx - ox) < ext + shot.occluder.width / 2 * ppu + 2)):
                    raise _Reject
            pts.append((o.id, sx, sy, ext, vis))
        touching = {(i.a, i.b) for i in shot.interactions if i.kind == "collision"}
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                a, b = pts[i], pts[j]
                if (a[0], b[0]) in touching or (b[0], a[0]) in touching:
                    continue
                dist = np.hypot(a[1] - b[1], a[2] - b[2])
                both = a[4] & b[4]
                if np.any(both & (dist < a[3] + b[3] + 2.0)):
                    raise _Reject
