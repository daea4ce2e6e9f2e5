"""The judge: checks a video against a scene's claims by reading pixels only.

Objects are found by their named colour (a scene never gives two objects one colour), shapes by rotation-invariant
moments, world motion by undoing the camera motion read from the background, physics by comparing a ballistic fit
with the fit a constant-speed motion would give, causality by contact and onset times.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import vocab
from .claims import Claim, claims, expected_area_px
from .pixels import CameraEstimate, Membership, classify_shape, detect_cuts, shape_features
from .scene import Scene


@dataclass
class Check:
    category: str
    claim: str
    passed: bool
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def score(self) -> float:
        return sum(c.passed for c in self.checks) / max(len(self.checks), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "score": self.score, "checks": [asdict(c) for c in self.checks]}


def _r(x: float) -> float:
    return round(float(x), 3)


class _Video:
    """A video with the per-frame measurements the checks share, computed once."""

    def __init__(self, frames: np.ndarray, fps: float, scene: Scene):
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
        self.frames, self.fps = frames, float(fps)
        self.t = len(frames)
        self.h, self.w = frames.shape[1:3]
        self.unit = min(self.h, self.w)
        self.mem = Membership(frames)
        self.cuts = detect_cuts(frames)
        self._cams: dict[int, tuple[int, CameraEstimate]] = {}
        self.scene = scene

    def frame(self, time: float) -> int:
        """The first frame at or after `time` seconds."""
        return int(min(max(math.ceil(time * self.fps - 1e-6), 0), self.t - 1))

    def frames_in(self, t0: float, t1: float) -> np.ndarray:
        a, b = self.frame(t0), int(min(math.ceil(t1 * self.fps - 1e-6), self.t))
        return np.arange(a, max(b, a + 1))

    def camera(self, shot: int, start: float, end: float) -> tuple[int, CameraEstimate]:
        if shot not in self._cams:
            idx = self.frames_in(start, end)
            self._cams[shot] = (int(idx[0]), CameraEstimate(self.frames[idx]))
        return self._cams[shot]

    def zoom(self, d: dict, idx: np.ndarray | int) -> np.ndarray:
        """Camera magnification in frames idx of the claim's shot (areas scale with its square)."""
        first, cam = self.camera(d["shot"], d["start"], d["end"])
        return cam.zoom[np.clip(np.asarray(idx) - first, 0, len(cam.zoom) - 1)]

    def world_track(self, color: str | dict, idx: np.ndarray, shot: int, start: float, end: float) -> np.ndarray:
        """Centroids of an object over frames idx in camera-free pixel coordinates ((N, 2), NaN where absent).

        `color` is a colour name, or a claim's data whose object may change colour at `color_until`."""
        first, cam = self.camera(shot, start, end)
        out = np.full((len(idx), 2), np.nan)
        for j, i in enumerate(idx):
            col = color if isinstance(color, str) else _color_at(color, i / self.fps)
            c = self.mem.centroid(col, int(i))
            if c is not None and self.mem.mass(col)[i] > 3:
                out[j] = cam.to_world(int(i) - first, *c)
        return out

    def clean_frames(self, d: dict) -> np.ndarray:
        """Frames where the object should be whole: visible, not behind the pillar, before a colour change."""
        t0, t1 = d["visible"]
        t1 = min(t1, d.get("color_until", t1))
        idx = self.frames_in(t0 + 1.01 / self.fps, t1 - 1.01 / self.fps)
        if d.get("hidden"):
            a, b = d["hidden"]
            times = idx / self.fps
            idx = idx[(times < a - 0.1) | (times > b + 0.1)]
        return np.array([i for i in idx if not self.mem.touches_border(d["color"], int(i))], dtype=int)


def _color_at(d: dict, t: float) -> str:
    """The object's colour at time t (it may turn another colour once)."""
    return d["final_color"] if t >= d.get("color_until", np.inf) - 1e-6 else d["color"]


def judge(frames: np.ndarray, fps: float, scene: Scene | list[Claim]) -> Report:
    """Check a video (uint8 frames (T, H, W, 3) at fps) against a scene or its claims."""
    if isinstance(scene, Scene):
        items = claims(scene)
    else:
        items, scene = scene, None
    v = _Video(frames, fps, scene)
    checks = []
    for c in items:
        ok, ev = CHECKS[c.category](v, c.data)
        checks.append(Check(c.category, c.text, bool(ok), ev))
    return Report(checks)


# -- one function per category: (video, claim data) -> (passed, evidence) ---------------------------------------


def _min_area(v: _Video) -> float:
    return 0.35 * min(vocab.SHAPE_AREA.values()) * (vocab.SIZES["small"] * v.unit) ** 2


def check_presence(v: _Video, d: dict):
    i = v.frame(d["time"])
    j = min(i + 1, v.t - 1)
    masses = {c: min(v.mem.mask(c, i).sum(), v.mem.mask(c, j).sum()) for c in vocab.COLORS}
    seen = sorted(c for c, a in masses.items() if a >= _min_area(v))
    return len(seen) == d["count"], {"count": len(seen), "colors": seen}


def check_color(v: _Video, d: dict):
    i = v.frame(d["time"] + 0.5 / v.fps)
    want = expected_area_px(d["shape"], d["size"], v.unit) * float(v.zoom(d, i)) ** 2
    mass = float(v.mem.mass(d["color"])[i])
    return mass >= 0.4 * want, {"area_px": _r(mass), "expected_px": _r(want), "time": _r(i / v.fps)}


def _median_features(v: _Video, color: str, idx: np.ndarray) -> np.ndarray | None:
    if len(idx) == 0:
        return None
    pick = idx[np.linspace(0, len(idx) - 1, min(len(idx), 9)).astype(int)]
    feats = [f for i in pick if (f := shape_features(v.mem.mask(color, int(i)))) is not None]
    return np.median(np.stack(feats), 0) if feats else None


def check_shape(v: _Video, d: dict):
    f = _median_features(v, d["color"], v.clean_frames(d))
    if f is None:
        return False, {"error": f"no clean view of the {d['color']} object"}
    got = classify_shape(f)
    return got == d["shape"], {"shape": got, "features": [_r(x) for x in f[:4]]}


def check_size(v: _Video, d: dict):
    i = v.frame(d["time"])
    mass = float(np.median(v.mem.mass(d["color"])[i : i + 1]))
    r = math.sqrt(mass / vocab.SHAPE_AREA[d["shape"]]) / v.unit
    got = vocab.size_class(r)
    return got == d["size"], {"size": got, "radius": _r(r)}


def check_position(v: _Video, d: dict):
    i = v.frame(d["start"])
    c = v.mem.centroid(d["color"], i)
    if c is None:
        return False, {"error": f"no {d['color']} object at the start"}
    x, y = c[0] / v.unit, c[1] / v.unit
    if "region" in d:
        sx, sy = v.w / v.unit, v.h / v.unit
        x0, x1, y0, y1 = vocab.region_bounds(d["region"], sx, sy)
        tol = 0.03
        ok = x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol
        return ok, {"x": _r(x), "y": _r(y), "region": vocab.region_name(x, y, sx, sy, margin=0.0)}
    o = v.mem.centroid(d["other"], i)
    if o is None:
        return False, {"error": f"no {d['other']} object at the start"}
    ox, oy = o[0] / v.unit, o[1] / v.unit
    gap = {"left of": ox - x, "right of": x - ox, "above": oy - y, "below": y - oy}[d["relation"]]
    return gap > 0.03, {"gap": _r(gap)}


def _linear_window(v: _Video, d: dict) -> tuple[np.ndarray, np.ndarray]:
    t0, t1 = d["window"]
    idx = v.frames_in(t0, t1 + 0.5 / v.fps)
    idx = idx[(idx / v.fps >= d["visible"][0]) & (idx / v.fps < d["visible"][1])]
    if d.get("hidden"):
        a, b = d["hidden"]
        idx = idx[(idx / v.fps < a) | (idx / v.fps > b)]
    return idx, v.world_track(d, idx, d["shot"], d["start"], d["end"])


def _displacement(v: _Video, d: dict):
    idx, p = _linear_window(v, d)
    ok = ~np.isnan(p[:, 0])
    if ok.sum() < 2:
        return None
    i, j = np.nonzero(ok)[0][[0, -1]]
    return (p[j] - p[i]) / v.unit / d.get("framing", 1.0), (idx[j] - idx[i]) / v.fps


def check_motion(v: _Video, d: dict):
    kind = d["kind"]
    if kind in ("linear", "static"):
        r = _displacement(v, d)
        if r is None:
            return False, {"error": f"the {d['color']} object is not tracked"}
        disp, dt = r
        dist = float(np.hypot(*disp))
        if kind == "static":
            return dist < 0.05, {"moved": _r(dist)}
        ang = math.degrees(math.atan2(disp[1], disp[0]))
        want = math.degrees(math.atan2(*vocab.DIRECTIONS[d["direction"]][::-1]))
        err = abs((ang - want + 180) % 360 - 180)
        got = min(
            vocab.DIRECTIONS,
            key=lambda k: abs((ang - math.degrees(math.atan2(*vocab.DIRECTIONS[k][::-1])) + 180) % 360 - 180),
        )
        return err < 30 and dist > 0.03, {"direction": got, "angle_error": _r(err), "moved": _r(dist)}
    idx = v.clean_frames(d)
    if len(idx) < 3:
        return False, {"error": f"no clean view of the {d['color']} object"}
    if kind in ("grow", "shrink"):
        first, cam = v.camera(d["shot"], d["start"], d["end"])
        m = v.mem.mass(d["color"])[idx] / cam.zoom[idx - first] ** 2  # area in the world, camera zoom undone
        ratio = float(m[-1] / max(m[0], 1e-6))
        span = (idx[-1] - idx[0]) / max(v.t - 1, 1)
        want = d["factor"] ** (2 * span)  # area scales with the square of size
        ok = ratio > 1 + 0.5 * (want - 1) if kind == "grow" else ratio < 1 - 0.5 * (1 - want)
        return ok, {"area_ratio": _r(ratio), "expected": _r(want)}
    if kind == "orbit":
        p = v.world_track(d, idx, d["shot"], d["start"], d["end"])
        p = p[~np.isnan(p[:, 0])]
        if len(p) < 3:
            return False, {"error": f"the {d['color']} object is not tracked"}
        c = p.mean(0)
        a = np.unwrap(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))
        swept = float(a[-1] - a[0])  # positive: clockwise on screen (y points down)
        sign = 1 if d["direction"] == "clockwise" else -1
        return sign * swept > math.radians(60), {"swept_deg": _r(math.degrees(swept))}
    # rotate: follow the phase of the shape's own harmonic
    k = d["spin_symmetry"] or 4
    col = {3: 4, 4: 5, 5: 6}[k]
    ph = [f[col] for i in idx if (f := shape_features(v.mem.mask(d["color"], int(i)))) is not None]
    steps = np.diff(np.array(ph))
    steps = (steps + math.pi) % (2 * math.pi) - math.pi
    turned = float(steps.sum() / k)
    sign = 1 if d["direction"] == "clockwise" else -1
    return sign * turned > 0.25, {"turned_deg": _r(math.degrees(turned))}


def check_speed(v: _Video, d: dict):
    r = _displacement(v, d)
    if r is None or r[1] <= 0:
        return False, {"error": f"the {d['color']} object is not tracked"}
    speed = float(np.hypot(*r[0]) / r[1])
    got = vocab.speed_class(speed)
    return got == d["speed"], {"speed": got, "units_per_s": _r(speed)}


def check_camera(v: _Video, d: dict):
    _, cam = v.camera(d["shot"], d["start"], d["end"])
    dx, dy = -cam.shift[-1] / v.unit  # the camera moves against the content
    z = cam.total_zoom
    if z > 1.2:
        got = ("zoom", "in")
    elif z < 1 / 1.2:
        got = ("zoom", "out")
    elif math.hypot(dx, dy) > 0.06:
        got = (
            "pan",
            min(vocab.CAMERA_PANS, key=lambda k: -(vocab.DIRECTIONS[k][0] * dx + vocab.DIRECTIONS[k][1] * dy)),
        )
    else:
        got = ("static", None)
    ok = got == (d["kind"], d["direction"])
    return ok, {"camera": " ".join(x for x in got if x), "pan_units": [_r(dx), _r(dy)], "zoom": _r(z)}


def check_occlusion(v: _Video, d: dict):
    a, b = d["hidden"]
    m = v.mem.mass(d["color"])
    before = v.frames_in(d["start"], a - 0.05)
    after = v.frames_in(b + 0.1, d["end"])
    mid = v.frame((a + b) / 2)
    if len(before) == 0 or len(after) == 0:
        return False, {"error": "the video is too short to see both sides"}
    ref = float(np.median(m[before]))
    seen_after = float(np.median(m[after]))
    fb = _median_features(v, d["color"], before)
    fa = _median_features(v, d["color"], after)
    shape_after = classify_shape(fa) if fa is not None and seen_after > 0.5 * ref else None
    xb = v.mem.centroid(d["color"], int(before[0]))
    xa = v.mem.centroid(d["color"], int(after[-1]))
    crossed = xb is not None and xa is not None and (xa[0] - xb[0]) * (1 if d["direction"] == "right" else -1) > 0
    ok = (
        ref > 0
        and m[mid] < 0.35 * ref
        and 0.6 * ref < seen_after < 1.6 * ref
        and shape_after == (classify_shape(fb) if fb is not None else None)
        and crossed
    )
    ev = {"area_before": _r(ref), "area_hidden": _r(m[mid]), "area_after": _r(seen_after), "shape_after": shape_after}
    return ok, ev


def _fit_rss(t: np.ndarray, y: np.ndarray, deg: int) -> tuple[float, np.ndarray]:
    coef = np.polyfit(t, y, deg)
    return float(((np.polyval(coef, t) - y) ** 2).sum()), coef


def _v_rss(t: np.ndarray, y: np.ndarray) -> float:
    """Best two-line fit with a shared knot (constant-speed up, constant-speed down)."""
    best = math.inf
    for k in range(2, len(t) - 2):
        a = _fit_rss(t[: k + 1], y[: k + 1], 1)[0]
        b = _fit_rss(t[k:], y[k:], 1)[0]
        best = min(best, a + b)
    return best


def check_gravity(v: _Video, d: dict):
    idx, p = _linear_window(v, d)
    ok = ~np.isnan(p[:, 1])
    t, y = idx[ok] / v.fps, p[ok, 1] / v.unit
    if len(t) < 6:
        return False, {"error": f"the {d['color']} object is not tracked"}
    floor = y.max()
    amp = floor - y.min()
    if amp < 0.03:
        return False, {"error": "it does not move up or down", "drop": _r(amp)}
    # Contacts: local lowest points on screen (largest y) near the floor.
    near = y > floor - 0.5 * amp  # a bounce between frames is sampled well above the floor
    tol = 0.4 / v.unit  # centroid noise
    low = [
        near[i] and (i == 0 or y[i] >= y[i - 1] - tol) and (i == len(y) - 1 or y[i] >= y[i + 1] - tol)
        for i in range(len(y))
    ]
    # A run of low points is one contact (or a rest on the floor): keep its first frame.
    contacts = [i for i in range(1, len(y)) if low[i] and not low[i - 1]]
    if not contacts:
        return False, {"error": "it never reaches a floor"}
    rss_ball = rss_alt = 0.0
    accels = []
    segs = [(0, contacts[0], True)] + [(a, b, False) for a, b in zip(contacts, contacts[1:])]
    for a, b, first in segs:
        lo, hi = (a, b) if first else (a + 1, b)
        tt, yy = t[lo:hi], y[lo:hi]
        if len(tt) < (4 if first else 6):
            continue
        rq, coef = _fit_rss(tt, yy, 2)
        ra = _fit_rss(tt, yy, 1)[0] if first else _v_rss(tt, yy)
        rss_ball += rq
        rss_alt += ra
        accels.append(2 * coef[0])
    if not accels:
        return False, {"error": "no flight long enough to fit"}
    ballistic = rss_ball < 0.5 * rss_alt and min(accels) > 0.3
    ev = {
        "bounces": len(contacts),
        "accel": [_r(a) for a in accels],
        "rss_ballistic": float(f"{rss_ball:.3g}"),
        "rss_constant_speed": float(f"{rss_alt:.3g}"),
    }
    return ballistic, ev


def check_collision(v: _Video, d: dict):
    idx = v.frames_in(d["start"], d["end"])
    pa = v.world_track(d["a"], idx, 0 if d["start"] == 0 else -1, d["start"], d["end"])
    pb = v.world_track(d["b"], idx, 0 if d["start"] == 0 else -1, d["start"], d["end"])
    if np.isnan(pa[:, 0]).any() or np.isnan(pb[:, 0]).any():
        return False, {"error": "an object is lost during the collision"}
    i0 = int(idx[0])
    wa, wb = v.mem.half_width(d["a"], i0), v.mem.half_width(d["b"], i0)
    gap = np.abs(pb[:, 0] - pa[:, 0]) - wa - wb
    moved = np.abs(pb[:, 0] - pb[0, 0])
    contact = np.nonzero(gap <= 1.5)[0]
    onset = np.nonzero(moved > 1.0)[0]
    t_contact = float(idx[contact[0]] / v.fps) if len(contact) else None
    t_onset = float(idx[onset[0]] / v.fps) if len(onset) else None
    sign = 1 if d["direction"] == "right" else -1
    away = (pb[-1, 0] - pb[0, 0]) * sign > 2.0
    ok = t_contact is not None and t_onset is not None and t_onset >= t_contact - 1.01 / v.fps and away
    return ok, {"contact_s": t_contact and _r(t_contact), "onset_s": t_onset and _r(t_onset), "moves_away": bool(away)}


def check_cut(v: _Video, d: dict):
    want = [v.frame(t) for t in d["times"]]
    got = list(v.cuts)
    ok = len(got) == len(want) and all(abs(a - b) <= 1 for a, b in zip(sorted(got), sorted(want)))
    return ok, {"cuts_s": [_r(i / v.fps) for i in got]}


def check_event(v: _Video, d: dict):
    idx = v.frames_in(d["start"], d["end"])
    ref = expected_area_px(d["shape"], d["size"], v.unit) * v.zoom(d, idx) ** 2  # per frame: the camera may zoom
    tol = max(1.5 / v.fps, 0.15)
    seen = v.mem.mass(d["color"])[idx] > 0.4 * ref
    if d["kind"] == "color":
        m, m2 = v.mem.mass(d["color"])[idx], v.mem.mass(d["to"])[idx]
        turned = (m2 > m) & (m2 > 0.3 * ref)
        hits = np.nonzero(turned)[0]
        # The old colour holds until the change; frames just before it may show a blend of the two colours (a
        # video codec or VAE smears a one-frame switch), but no longer than the timing tolerance.
        blend = int(tol * v.fps + 1e-6)
        h = hits[0] if len(hits) else 0
        lost = np.nonzero(m[:h] <= 0.3 * ref[:h])[0]  # frames before the change without the old colour
        # ... none, or one run that ends just before the change and lasts at most `blend` frames
        ok_before = len(hits) > 0 and (len(lost) == 0 or (lost[0] >= h - blend and len(lost) == h - lost[0]))
    elif d["kind"] == "appear":
        hits = np.nonzero(seen)[0]
        ok_before = len(hits) > 0 and not seen[: hits[0]].any()
    else:
        hits = np.nonzero(~seen)[0]
        ok_before = len(hits) > 0 and not seen[hits[0] :].any()
    t = float(idx[hits[0]] / v.fps) if len(hits) else None
    ok = t is not None and ok_before and abs(t - d["time"]) <= tol
    return ok, {"time_s": t and _r(t)}


def check_identity(v: _Video, d: dict):
    idx = v.clean_frames(d)
    f = _median_features(v, d["color"], idx)
    if f is None:
        return False, {"error": f"no {d['color']} object in shot {d['shot'] + 1}"}
    m = float(np.median(v.mem.mass(d["color"])[idx]))
    want = expected_area_px(d["shape"], d["size"], v.unit)
    got = classify_shape(f)
    return got == d["shape"] and m > 0.4 * want, {"shape": got, "area_px": _r(m), "area_expected_px": _r(want)}


CHECKS = {
    "presence": check_presence,
    "color": check_color,
    "shape": check_shape,
    "size": check_size,
    "position": check_position,
    "motion": check_motion,
    "speed": check_speed,
    "camera": check_camera,
    "occlusion": check_occlusion,
    "gravity": check_gravity,
    "collision": check_collision,
    "cut": check_cut,
    "event": check_event,
    "identity": check_identity,
}
