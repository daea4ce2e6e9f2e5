"""Prompt upsampling (Sora's recaptioning at inference): short prompts become dense captions like the training ones.

Two upsamplers, both `(prompt, seconds) -> caption`:
- WorldUpsampler (built in, offline): reads the world's vocabulary in the prompt (colours, shapes, sizes, motions,
  directions, speeds, backgrounds, camera moves, colour changes, collisions, times), builds the scene it describes
  and writes that scene's dense caption with the world's own captioner. Words outside the vocabulary are not
  understood; a prompt with no object or background it knows, or one already as long as a dense caption, is
  returned unchanged.
- ChatUpsampler: any OpenAI-compatible chat endpoint (base URL + model name), shown an example of the caption style.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Protocol

from ..world import vocab
from ..world.caption import MIN_WORDS, SHAPE_WORDS, dense_caption, short_prompt, word_count
from ..world.scene import Background, Camera, Event, Interaction, Motion, Obj, Scene, Shot


class Upsampler(Protocol):
    def __call__(self, prompt: str, seconds: float) -> str: ...


SHAPE_OF = {w: shape for shape, words in SHAPE_WORDS.items() for w in words} | {
    "dot": "circle",
    "cube": "square",
    "rectangle": "square",
    "plus": "cross",
}
SIZE_OF = {"small": "small", "tiny": "small", "little": "small", "medium": "medium", "medium-sized": "medium"} | {
    "large": "large",
    "big": "large",
    "huge": "large",
}
SPEED_OF = {"slowly": "slow", "slow": "slow", "quickly": "fast", "fast": "fast", "rapidly": "fast", "quick": "fast"}
DIRECTION_WORDS = {
    "right": "right",
    "rightward": "right",
    "rightwards": "right",
    "left": "left",
    "leftward": "left",
    "leftwards": "left",
    "up": "up",
    "upward": "up",
    "upwards": "up",
    "down": "down",
    "downward": "down",
    "downwards": "down",
}
MOTION_OF = {
    "bounce": "bounce",
    "bounces": "bounce",
    "bouncing": "bounce",
    "falls": "fall",
    "fall": "fall",
    "drops": "fall",
    "falling": "fall",
    "circles": "orbit",
    "orbits": "orbit",
    "spins": "rotate",
    "rotates": "rotate",
    "spinning": "rotate",
    "grows": "grow",
    "growing": "grow",
    "shrinks": "shrink",
    "shrinking": "shrink",
    "rests": "static",
    "still": "static",
    "sits": "static",
    "stays": "static",
}
HIT_WORDS = ("hits", "into", "bumps", "knocks", "collides")
KINDS = {"checkerboard": "checkerboard", "stripes": "stripes", "striped": "stripes", "gradient": "gradient"}
TIME = re.compile(r"\b(?:at|after)\s+(\d+(?:\.\d+)?)\s*(?:s|sec|secs|second|seconds)\b")
TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)?|\d+(?:\.\d+)?")


def _phrases(words: list[str]) -> list[str]:
    """Join the two-word names of the vocabulary ("light gray", "plus sign") into one token."""
    out, i = [], 0
    joined = {"light gray", "dark gray", "plus sign", "medium sized"}
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if pair in joined:
            out.append(pair.replace("medium sized", "medium-sized"))
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


class WorldUpsampler:
    """Short prompt in the world's words -> the dense caption of the scene it describes (deterministic)."""

    def __init__(self, width: int = 64, height: int = 64, fps: float = 12.0):
        self.width, self.height, self.fps = width, height, fps

    def __call__(self, prompt: str, seconds: float) -> str:
        if word_count(prompt) >= MIN_WORDS:  # already as long as a dense caption
            return prompt
        scene = self.scene(prompt, seconds)
        return prompt if scene is None else dense_caption(scene)

    def scene(self, prompt: str, seconds: float) -> Scene | None:
        """The scene a prompt describes, or None when it names no object or background the world knows."""
        text = prompt.lower()
        times = [(m.start(), float(m.group(1))) for m in TIME.finditer(text)]
        words = _phrases(TOKEN.findall(TIME.sub(" ", text)))
        spans = self._objects(words)
        bg = self._background(words, {i for s, e, _ in spans for i in range(s, e)})
        if not spans and bg is None:
            return None
        objs: list[Obj] = []
        clauses: list[list[str]] = []
        for k, (s, _, (color, shape, size)) in enumerate(spans):
            end = spans[k + 1][0] if k + 1 < len(spans) else len(words)
            clause = words[s:end]
            same = [o for o in objs if o.shape == shape and color in (None, o.color)]
            if same and s > 0 and words[s - 1] in ("the", "same"):
                clauses[objs.index(same[0])] += clause
                continue
            used = {o.color for o in objs}
            color = color or next(c for c in vocab.COLORS if c not in used)
            objs.append(Obj(f"o{len(objs) + 1}", shape, color, size or "medium", 0.0, 0.0))
            clauses.append(clause)
        duration = seconds if seconds > 0 else 2.0
        event_time = times[0][1] if times else round(duration / 2, 1)
        inters = []
        for i, (o, clause) in enumerate(zip(objs, clauses)):
            o.motion = self._motion(clause)
            for j, w in enumerate(clause):
                if w in ("turns", "becomes") and j + 1 < len(clause) and clause[j + 1] in vocab.COLORS:
                    o.events.append(Event("color", event_time, clause[j + 1]))
                elif w in ("appears", "disappears", "vanishes"):
                    o.events.append(Event("appear" if w == "appears" else "disappear", event_time))
            if any(w in HIT_WORDS for w in clause) and i + 1 < len(objs):
                o.motion = Motion("linear", direction=o.motion.direction or "right", speed=o.motion.speed or "medium")
                inters.append(Interaction("collision", o.id, objs[i + 1].id, time=event_time))
        self._place(objs, inters)
        if bg is None:
            bg = (
                Background("floor", ["light gray", "dark gray"])
                if any(o.motion.kind in ("bounce", "fall") for o in objs)
                else Background("solid", ["gray"])
            )
        shot = Shot(duration, bg, self._camera(words), objs, interactions=inters)
        return Scene("prompt", self.width, self.height, self.fps, [shot])

    @staticmethod
    def _objects(words: list[str]) -> list[tuple[int, int, tuple[str | None, str, str | None]]]:
        """(start, end, (colour, shape, size)) of each object phrase: [size] [colour] shape."""
        out = []
        for i, w in enumerate(words):
            shape = SHAPE_OF.get(w) or SHAPE_OF.get(w.rstrip("s"))
            if shape is None:
                continue
            color = size = None
            s = i
            for j in (i - 1, i - 2, i - 3):
                if j < 0 or j < (out[-1][1] if out else 0):
                    break
                if words[j] in vocab.COLORS and color is None:
                    color, s = words[j], j
                elif words[j] in SIZE_OF and size is None:
                    size, s = SIZE_OF[words[j]], j
                elif words[j] not in ("a", "an", "the", "one", "same"):
                    break
            out.append((s, i + 1, (color, shape, size)))
        return out

    @staticmethod
    def _background(words: list[str], taken: set[int]) -> Background | None:
        colors = [w for i, w in enumerate(words) if w in vocab.BACKGROUND_COLORS and i not in taken]
        kind = next((KINDS[w] for w in words if w in KINDS), None)
        if "floor" in words or "ground" in words:
            kind = "floor"
        if not colors and kind is None:
            return None
        colors = colors or ["white", "charcoal"]
        if kind in (None, "solid"):
            return Background("solid", colors[:1])
        pair = colors[:2] if len(colors) > 1 else [colors[0], "charcoal" if colors[0] != "charcoal" else "white"]
        return Background(kind, pair, angle=0.0, floor_y=0.8 if kind == "floor" else None)

    @staticmethod
    def _motion(clause: list[str]) -> Motion:
        speed = next((SPEED_OF[w] for w in clause if w in SPEED_OF), None)
        dirs = [DIRECTION_WORDS[w] for w in clause if w in DIRECTION_WORDS]
        kind = next((MOTION_OF[w] for w in clause if w in MOTION_OF), None)
        spin = "counterclockwise" if {"counterclockwise", "anticlockwise"} & set(clause) else "clockwise"
        side = next((d for d in dirs if d in ("left", "right")), None)
        vx = {"left": -0.3, "right": 0.3}.get(side or "", 0.0)
        if kind == "bounce":
            return Motion("bounce", vx=vx, vy=-1.2, gravity=4.0, restitution=0.8)
        if kind == "fall":
            return Motion("fall", vx=vx, gravity=4.0)
        if kind == "orbit":
            return Motion("orbit", direction=spin, radius=0.15, rate=2.5)
        if kind == "rotate":
            return Motion("rotate", direction=spin, rate=3.0)
        if kind in ("grow", "shrink"):
            return Motion(kind, factor=vocab.GROW_FACTOR if kind == "grow" else vocab.SHRINK_FACTOR)
        if dirs and kind != "static":
            vert = next((d for d in dirs if d in ("up", "down")), None)
            direction = f"{vert}-{side}" if vert and side else vert or side
            return Motion("linear", direction=direction, speed=speed or "medium")
        return Motion("static")

    def _place(self, objs: list[Obj], inters: list[Interaction]) -> None:
        """Start positions that fit the motions: movers start on the side they move away from."""
        span_x, span_y = self.width / min(self.width, self.height), self.height / min(self.width, self.height)
        for k, o in enumerate(objs):
            x, y = span_x * (k + 1) / (len(objs) + 1), span_y / 2
            m = o.motion
            if m.kind == "linear":
                dx, dy = vocab.DIRECTIONS[m.direction or "right"]
                x = span_x * (0.5 - 0.3 * dx) if dx else x
                y = span_y * (0.5 - 0.3 * dy) if dy else y
            elif m.kind in ("bounce", "fall"):
                y = span_y * 0.3
            o.x, o.y = round(x, 3), round(y, 3)
        for inter in inters:
            a, b = next(o for o in objs if o.id == inter.a), next(o for o in objs if o.id == inter.b)
            dx, dy = vocab.DIRECTIONS[a.motion.direction or "right"]
            b.x, b.y = round(a.x + 0.45 * dx, 3), round(a.y + 0.45 * dy, 3)

    @staticmethod
    def _camera(words: list[str]) -> Camera:
        for i, w in enumerate(words):
            nxt = words[i + 1] if i + 1 < len(words) else ""
            if w in ("pans", "pan", "panning") and nxt in ("left", "right", "up", "down"):
                return Camera("pan", nxt, speed=0.15)
            if w in ("zooms", "zoom", "zooming") and nxt in ("in", "out"):
                return Camera("zoom", nxt)
        return Camera()


SYSTEM = (
    "You rewrite short video prompts into one dense caption in the style of the example: plain sentences that "
    "name every object's size, colour and shape, where it starts, how and how fast it moves, timed events in "
    "seconds, the background and the camera. Use only what the prompt says or clearly implies; 30 to 150 words. "
    "Reply with the caption only."
)


def style_example() -> tuple[str, str]:
    """A (short prompt, dense caption) pair from the world, to show an LLM the caption style."""
    from ..world.sample import sample_scenes

    scene = next(sample_scenes(1, seed=7, level=2))
    return short_prompt(scene), dense_caption(scene)


class ChatUpsampler:
    """An OpenAI-compatible chat endpoint: POST {base_url}/chat/completions with `model`; the reply's first choice
    is the caption."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"upsampler URL '{base_url}': expected http:// or https://")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout

    def __call__(self, prompt: str, seconds: float) -> str:
        short, dense = style_example()
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": short},
                {"role": "assistant", "content": dense},
                {"role": "user", "content": f"{prompt} ({seconds:g} seconds)"},
            ],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                reply = json.loads(r.read())
            text = reply["choices"][0]["message"]["content"].strip()
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise ValueError(f"prompt upsampler at {self.url} cannot be reached ({e})") from e
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise ValueError(f"prompt upsampler at {self.url} gave no chat reply ({e!r})") from e
        if not text:
            raise ValueError(f"prompt upsampler at {self.url} replied with an empty caption")
        return text
