"""The typed, JSON-serialisable description of a scene.

Coordinates are world units: one unit is the canvas's shorter side, x grows to the right and y downwards, and at
the start of a shot with a static camera the view spans x in [0, W/m] and y in [0, H/m] (m = min(W, H)). Times
inside a shot are seconds from the shot's start.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Motion:
    """How an object moves during a shot. Which fields matter depends on `kind`.

    - static: nothing moves.
    - linear: `direction` (one of 8) at `speed` (slow|medium|fast), between `start` and `stop` seconds.
    - bounce / fall: ballistic flight under `gravity` (units/s^2) from velocity (`vx`, `vy`) onto the floor, losing
      speed by `restitution` at each bounce (a fall has restitution 0: it lands and rests). `ballistic=False` gives a
      constant-speed, unphysical version (used to validate the judge).
    - orbit: circles a centre at `radius` with `rate` rad/s, `direction` clockwise|counterclockwise; the object starts
      at angle `phase` (radians) on the circle.
    - grow / shrink: the size scales to `factor` by the end of the shot.
    - rotate: spins in place at `rate` rad/s, `direction` clockwise|counterclockwise.
    """

    kind: str = "static"
    direction: str | None = None
    speed: str | None = None
    start: float = 0.0
    stop: float | None = None
    vx: float = 0.0
    vy: float = 0.0
    gravity: float = 0.0
    restitution: float = 0.0
    ballistic: bool = True
    radius: float = 0.0
    rate: float = 0.0
    phase: float = 0.0
    factor: float = 1.0


@dataclass
class Event:
    """Something that happens to an object at `time` seconds: `color` (turns `color`), `appear`, `disappear`."""

    kind: str
    time: float
    color: str | None = None


@dataclass
class Obj:
    """One object. `id` is its identity across shots; `x`, `y` is its centre at the start of the shot."""

    id: str
    shape: str
    color: str
    size: str
    x: float
    y: float
    angle: float = 0.0  # degrees, clockwise on screen
    motion: Motion = field(default_factory=Motion)
    events: list[Event] = field(default_factory=list)
    outline: bool = False


@dataclass
class Background:
    """`kind` is solid | gradient | stripes | checkerboard | floor; `colors` names one or two background colours.

    gradient: along `angle` degrees; stripes / checkerboard: `cell` world units per stripe or square, stripes along
    `angle` (0 = vertical stripes); floor: `colors[0]` above and `colors[1]` below the horizon at world `floor_y`.
    """

    kind: str = "solid"
    colors: list[str] = field(default_factory=lambda: ["gray"])
    angle: float = 0.0
    cell: float = 0.15
    floor_y: float | None = None


@dataclass
class Camera:
    """static | pan (`direction` left|right|up|down at `speed` units/s) | zoom (`direction` in|out).

    `zoom` is the framing at the start of the shot: 1 shows the whole world view, 1.25 a closer view of its centre.
    """

    kind: str = "static"
    direction: str | None = None
    speed: float = 0.0
    zoom: float = 1.0


@dataclass
class Occluder:
    """A full-height pillar centred on world `x`, `width` units wide, drawn in front of the objects."""

    x: float
    width: float


@dataclass
class Interaction:
    """collision: `a` moves into resting `b` at `time`, stops, and `b` moves off. occlusion: `a` passes behind the
    pillar, hidden from `time` to `until`."""

    kind: str
    a: str
    b: str | None = None
    time: float = 0.0
    until: float | None = None


@dataclass
class Shot:
    duration: float
    background: Background = field(default_factory=Background)
    camera: Camera = field(default_factory=Camera)
    objects: list[Obj] = field(default_factory=list)
    occluder: Occluder | None = None
    interactions: list[Interaction] = field(default_factory=list)


@dataclass
class Scene:
    id: str
    width: int
    height: int
    fps: float
    shots: list[Shot]
    level: int = 1
    seed: int = 0

    @property
    def seconds(self) -> float:
        return sum(s.duration for s in self.shots)

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @property
    def unit(self) -> int:
        """Pixels per world unit."""
        return min(self.width, self.height)

    def shot_starts(self) -> list[float]:
        starts, t = [], 0.0
        for s in self.shots:
            starts.append(t)
            t += s.duration
        return starts

    def frame_times(self) -> list[float]:
        return [i / self.fps for i in range(self.num_frames)]

    def shot_index(self, t: float) -> int:
        """The shot that frame time `t` falls in."""
        starts = self.shot_starts()
        k = 0
        for i, s in enumerate(starts):
            if t + 1e-9 >= s:
                k = i
        return k

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scene:
        try:
            shots = [_shot_from_dict(s) for s in d["shots"]]
            return cls(
                id=str(d["id"]),
                width=int(d["width"]),
                height=int(d["height"]),
                fps=float(d["fps"]),
                shots=shots,
                level=int(d.get("level", 1)),
                seed=int(d.get("seed", 0)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a valid scene: {type(e).__name__}: {e}") from e

    @classmethod
    def from_json(cls, text: str) -> Scene:
        d = json.loads(text)
        return cls.from_dict(d["scene"] if "scene" in d else d)


def _shot_from_dict(d: dict[str, Any]) -> Shot:
    objs = [
        Obj(
            **{k: v for k, v in o.items() if k not in ("motion", "events")},
            motion=Motion(**o.get("motion", {})),
            events=[Event(**e) for e in o.get("events", [])],
        )
        for o in d.get("objects", [])
    ]
    occ = d.get("occluder")
    return Shot(
        duration=float(d["duration"]),
        background=Background(**d.get("background", {})),
        camera=Camera(**d.get("camera", {})),
        objects=objs,
        occluder=Occluder(**occ) if occ else None,
        interactions=[Interaction(**i) for i in d.get("interactions", [])],
    )
