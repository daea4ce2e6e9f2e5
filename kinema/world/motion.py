"""Where each object is at any time: the world's kinematics and physics, vectorised over time.

Pure functions of a scene; the renderer draws these states and the sampler checks them (in frame, no overlaps). The
judge never uses this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import vocab
from .scene import Camera, Motion, Obj, Scene, Shot

MIN_BOUNCE_SPEED = 0.15  # units/s: below this a bouncing object comes to rest


@dataclass
class Track:
    """An object's state at each time of one shot (arrays of shape (T,))."""

    x: np.ndarray
    y: np.ndarray
    radius: np.ndarray  # world units (size class x grow/shrink)
    angle: np.ndarray  # radians, clockwise on screen
    visible: np.ndarray  # bool
    color: list[str]


def _spin(direction: str | None) -> float:
    return -1.0 if direction == "counterclockwise" else 1.0


def floor_contact_y(obj: Obj, floor_y: float) -> float:
    """Centre height at which an upright object rests on the floor."""
    return floor_y - vocab.SHAPE_BOTTOM[obj.shape] * vocab.SIZES[obj.size]


def bounce_segments(y0: float, vy: float, g: float, e: float, y_floor: float, t_end: float) -> list[tuple]:
    """Ballistic flight onto a floor: a list of (t0, y_start, v_start) flights; the last one may be a rest (g=0)."""
    segs: list[tuple] = []
    t, y, v = 0.0, y0, vy
    while t < t_end and len(segs) < 64:
        # y(t) = y + v s + g s^2 / 2 hits y_floor at the positive root
        disc = v * v + 2 * g * (y_floor - y)
        s = (-v + math.sqrt(max(disc, 0.0))) / g
        segs.append((t, y, v, g))
        t += s
        v_hit = v + g * s
        v = -e * v_hit
        y = y_floor
        if abs(v) < MIN_BOUNCE_SPEED:
            segs.append((t, y_floor, 0.0, 0.0))
            break
    return segs


def _bounce_y(m: Motion, y0: float, y_floor: float, t: np.ndarray, t_end: float) -> np.ndarray:
    segs = bounce_segments(y0, m.vy, m.gravity, m.restitution, y_floor, t_end)
    starts = np.array([s[0] for s in segs])
    k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(segs) - 1)
    y = np.empty_like(t)
    for i, (t0, ys, v, g) in enumerate(segs):
        sel = k == i
        s = t[sel] - t0
        if m.ballistic or g == 0.0:
            y[sel] = ys + v * s + 0.5 * g * s * s
        else:
            # Same contacts and apexes, but flown at constant speed: the motion of a careless animator.
            t_apex = max(-v / g, 0.0)
            y_apex = ys + v * t_apex + 0.5 * g * t_apex * t_apex
            t_land = segs[i + 1][0] - t0 if i + 1 < len(segs) else 1e9
            up = s < t_apex
            y[sel] = np.where(
                up,
                ys + (y_apex - ys) * s / max(t_apex, 1e-9),
                y_apex + (y_floor - y_apex) * (s - t_apex) / max(t_land - t_apex, 1e-9),
            )
    return np.minimum(y, y_floor)


def track(obj: Obj, shot: Shot, t: np.ndarray) -> Track:
    """The object's state at shot-local times `t`."""
    m = obj.motion
    r0 = vocab.SIZES[obj.size]
    n = len(t)
    x = np.full(n, obj.x, dtype=np.float64)
    y = np.full(n, obj.y, dtype=np.float64)
    scale = np.ones(n)
    angle = np.full(n, math.radians(obj.angle))
    if m.kind == "linear":
        stop = shot.duration if m.stop is None else m.stop
        s = np.clip(t - m.start, 0.0, max(stop - m.start, 0.0)) * vocab.SPEEDS[m.speed]
        dx, dy = vocab.DIRECTIONS[m.direction]
        x, y = obj.x + dx * s, obj.y + dy * s
    elif m.kind in ("bounce", "fall"):
        floor_y = shot.background.floor_y
        if floor_y is None:
            raise ValueError(f"object {obj.id} {m.kind}s but its shot has no floor")
        x = obj.x + m.vx * t
        y = _bounce_y(m, obj.y, floor_contact_y(obj, floor_y), t, shot.duration)
    elif m.kind == "orbit":
        cx, cy = obj.x - m.radius * math.cos(m.phase), obj.y - m.radius * math.sin(m.phase)
        a = m.phase + _spin(m.direction) * m.rate * t
        x, y = cx + m.radius * np.cos(a), cy + m.radius * np.sin(a)
    elif m.kind in ("grow", "shrink"):
        scale = 1.0 + (m.factor - 1.0) * np.clip(t / max(shot.duration, 1e-9), 0.0, 1.0)
    elif m.kind == "rotate":
        angle = angle + _spin(m.direction) * m.rate * t
    elif m.kind != "static":
        raise ValueError(f"unknown motion {m.kind!r}")
    visible = np.ones(n, dtype=bool)
    color = [obj.color] * n
    for ev in sorted(obj.events, key=lambda e: e.time):
        if ev.kind == "appear":
            visible &= t >= ev.time
        elif ev.kind == "disappear":
            visible &= t < ev.time
        elif ev.kind == "color":
            color = [ev.color if ti >= ev.time else c for ti, c in zip(t, color)]
        else:
            raise ValueError(f"unknown event {ev.kind!r}")
    return Track(x, y, r0 * scale, angle, visible, color)


def camera_state(
    cam: Camera, scene: Scene, duration: float, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera centre (cx, cy) in world units and zoom at shot-local times `t`."""
    span_x, span_y = scene.width / scene.unit, scene.height / scene.unit
    cx = np.full(len(t), span_x / 2)
    cy = np.full(len(t), span_y / 2)
    zoom = np.full(len(t), cam.zoom)
    if cam.kind == "pan":
        dx, dy = vocab.DIRECTIONS[cam.direction]
        cx, cy = cx + dx * cam.speed * t, cy + dy * cam.speed * t
    elif cam.kind == "zoom":
        f = vocab.ZOOM_FACTOR if cam.direction == "in" else 1 / vocab.ZOOM_FACTOR
        zoom = cam.zoom * f ** np.clip(t / max(duration, 1e-9), 0.0, 1.0)
    elif cam.kind != "static":
        raise ValueError(f"unknown camera {cam.kind!r}")
    return cx, cy, zoom


def shot_frames(scene: Scene) -> list[tuple[int, np.ndarray]]:
    """For each shot, (index of its first frame, shot-local times of its frames)."""
    times = np.arange(scene.num_frames) / scene.fps
    out = []
    starts = scene.shot_starts()
    for k, (s0, shot) in enumerate(zip(starts, scene.shots)):
        end = s0 + shot.duration if k < len(scene.shots) - 1 else math.inf
        sel = np.nonzero((times >= s0 - 1e-9) & (times < end - 1e-9))[0]
        first = int(sel[0]) if len(sel) else scene.num_frames
        out.append((first, times[sel] - s0))
    return out
