"""The checkable statements a scene makes: what a faithful video of it must show.

Each claim names its category, reads as a sentence, and carries the facts the judge measures (colours, times in
seconds, named directions), never pixel positions or renderer state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import vocab
from .scene import Obj, Scene

CATEGORIES = (
    "presence",
    "color",
    "shape",
    "size",
    "position",
    "motion",
    "speed",
    "camera",
    "occlusion",
    "gravity",
    "collision",
    "cut",
    "event",
    "identity",
)
RELATION_GAP = 0.15  # world units between two objects before "left of"/"above" is claimed


@dataclass
class Claim:
    category: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _name(o: Obj) -> str:
    return f"the {o.color} {o.shape}"


def _visible_window(o: Obj, start: float, dur: float) -> tuple[float, float]:
    """Scene times during which the object is drawn in its shot (from its appear/disappear events)."""
    t0, t1 = start, start + dur
    for e in o.events:
        if e.kind == "appear":
            t0 = max(t0, start + e.time)
        elif e.kind == "disappear":
            t1 = min(t1, start + e.time)
    return t0, t1


def claims(scene: Scene) -> list[Claim]:
    """Every claim of a scene, in category order."""
    out: list[Claim] = []
    span = (scene.width / scene.unit, scene.height / scene.unit)
    starts = scene.shot_starts()
    first_seen: dict[str, int] = {}
    for k, (start, shot) in enumerate(zip(starts, scene.shots)):
        end = start + shot.duration
        base = {"shot": k, "start": start, "end": end, "framing": shot.camera.zoom}
        at_start = [o for o in shot.objects if _visible_window(o, start, shot.duration)[0] <= start]
        out.append(
            Claim(
                "presence",
                f"there {'is' if len(at_start) == 1 else 'are'} {len(at_start)} object(s) at the start of shot {k + 1}",
                {**base, "count": len(at_start), "colors": [o.color for o in at_start], "time": start},
            )
        )
        hidden = {
            i.a: (start + i.time, start + (i.until or i.time)) for i in shot.interactions if i.kind == "occlusion"
        }
        for o in shot.objects:
            t0, t1 = _visible_window(o, start, shot.duration)
            obs = {
                **base,
                "color": o.color,
                "shape": o.shape,
                "size": o.size,
                "visible": [t0, t1],
                "hidden": list(hidden[o.id]) if o.id in hidden else None,
                "spin_symmetry": {"triangle": 3, "square": 4, "cross": 4, "star": 5}.get(o.shape),
            }
            colors_after = [e.color for e in o.events if e.kind == "color"]
            obs["final_color"] = colors_after[-1] if colors_after else o.color
            change = next((start + e.time for e in o.events if e.kind == "color"), None)
            obs["color_until"] = change if change is not None else t1
            if o.id in first_seen:
                out.append(Claim("identity", f"{_name(o)} from shot {first_seen[o.id] + 1} is in shot {k + 1}", obs))
                continue
            first_seen[o.id] = k
            out.append(Claim("color", f"{_name(o)} is {o.color}", {**obs, "time": t0}))
            out.append(Claim("shape", f"the {o.color} object is a {o.shape}", obs))
            if t0 <= start:
                out.append(Claim("size", f"{_name(o)} is {o.size}", {**obs, "time": t0}))
            out += _position_claims(o, shot.objects, span, obs, t0 <= start)
            out += _motion_claims(o, shot, obs)
        out += _interaction_claims(shot, start, k)
        out.append(_camera_claim(shot, base))
    cut_times = [round(s, 4) for s in starts[1:]]
    text = (
        "one continuous shot with no cuts"
        if not cut_times
        else "hard cuts at " + ", ".join(f"{t:.1f} s" for t in cut_times)
    )
    out.append(Claim("cut", text, {"times": cut_times}))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(out, key=lambda c: order[c.category])


def _position_claims(o: Obj, objs: list[Obj], span, obs, at_start: bool) -> list[Claim]:
    if not at_start:
        return []
    out = []
    region = vocab.region_name(o.x, o.y, *span)
    if region is not None:
        out.append(Claim("position", f"{_name(o)} starts in the {region}", {**obs, "region": region, "span": span}))
    for p in objs:
        if p is o or p.id < o.id or p.events:
            continue
        for rel, d in (("left of", p.x - o.x), ("right of", o.x - p.x), ("above", p.y - o.y), ("below", o.y - p.y)):
            if d > RELATION_GAP:
                out.append(
                    Claim("position", f"{_name(o)} starts {rel} {_name(p)}", {**obs, "relation": rel, "other": p.color})
                )
    return out


def _motion_claims(o: Obj, shot, obs) -> list[Claim]:
    m = o.motion
    start = obs["start"]
    if m.kind == "linear":
        t0 = start + m.start
        t1 = start + (shot.duration if m.stop is None else m.stop)
        win = {**obs, "kind": "linear", "direction": m.direction, "speed": m.speed, "window": [t0, t1]}
        return [
            Claim("motion", f"{_name(o)} moves {m.direction}", win),
            Claim("speed", f"{_name(o)} moves {m.speed}", win),
        ]
    if m.kind in ("bounce", "fall"):
        what = "bounces on the floor" if m.kind == "bounce" else "falls onto the floor"
        data = {**obs, "kind": m.kind, "window": [start, obs["end"]]}
        return [Claim("gravity", f"{_name(o)} {what} under gravity", data)]
    if m.kind in ("orbit", "rotate"):
        verb = "circles" if m.kind == "orbit" else "spins"
        data = {**obs, "kind": m.kind, "direction": m.direction, "window": [start, obs["end"]]}
        return [Claim("motion", f"{_name(o)} {verb} {m.direction}", data)]
    if m.kind in ("grow", "shrink"):
        data = {**obs, "kind": m.kind, "factor": m.factor, "window": [start, obs["end"]]}
        return [Claim("motion", f"{_name(o)} {m.kind}s", data)]
    return [Claim("motion", f"{_name(o)} stays still", {**obs, "kind": "static", "window": [start, obs["end"]]})]


def _interaction_claims(shot, start: float, k: int) -> list[Claim]:
    by_id = {o.id: o for o in shot.objects}
    out = []
    for i in shot.interactions:
        a = by_id[i.a]
        if i.kind == "collision":
            b = by_id[i.b]
            out.append(
                Claim(
                    "collision",
                    f"{_name(b)} starts moving only when {_name(a)} hits it, at about {i.time:.1f} s",
                    {
                        "a": a.color,
                        "b": b.color,
                        "time": start + i.time,
                        "direction": a.motion.direction,
                        "start": start,
                        "end": start + shot.duration,
                    },
                )
            )
        elif i.kind == "occlusion":
            out.append(
                Claim(
                    "occlusion",
                    f"{_name(a)} passes behind the pillar and comes out unchanged",
                    {
                        "color": a.color,
                        "shape": a.shape,
                        "direction": a.motion.direction,
                        "hidden": [start + i.time, start + i.until],
                        "start": start,
                        "end": start + shot.duration,
                    },
                )
            )
    for o in shot.objects:
        for e in o.events:
            t = start + e.time
            if e.kind == "color":
                before = next((x.color for x in o.events if x.kind == "color" and x.time < e.time), o.color)
                text = f"{_name(o)} turns {e.color} at {e.time:.1f} s"
                data = {"kind": "color", "color": before, "to": e.color, "time": t, "shape": o.shape, "size": o.size}
            else:
                text = f"{_name(o)} {'appears' if e.kind == 'appear' else 'disappears'} at {e.time:.1f} s"
                data = {"kind": e.kind, "color": o.color, "time": t, "shape": o.shape, "size": o.size}
            out.append(Claim("event", text, {**data, "shot": k, "start": start, "end": start + shot.duration}))
    return out


def _camera_claim(shot, base) -> Claim:
    c = shot.camera
    if c.kind == "pan":
        text = f"the camera pans {c.direction}"
    elif c.kind == "zoom":
        text = f"the camera zooms {c.direction}"
    else:
        text = "the camera is still"
    return Claim("camera", f"{text} in shot {base['shot'] + 1}", {**base, "kind": c.kind, "direction": c.direction})


def expected_radius_px(size: str, unit: float) -> float:
    return vocab.SIZES[size] * unit


def expected_area_px(shape: str, size: str, unit: float) -> float:
    return vocab.SHAPE_AREA[shape] * expected_radius_px(size, unit) ** 2
