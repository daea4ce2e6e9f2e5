"""Captions of scenes: a dense description in the style of recaptioned training video, and a short user prompt.

Both are pure functions of the scene. Wording varies from scene to scene (shape synonyms, openers, sentence order)
through a `random.Random` seeded from a SHA-256 of the scene's JSON, so the same scene always reads the same.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, replace
from itertools import accumulate

from kinema.world import vocab
from kinema.world.scene import Background, Camera, Event, Interaction, Motion, Obj, Scene, Shot

MIN_WORDS, MAX_WORDS = 30, 150
PROMPT_MIN_WORDS, PROMPT_MAX_WORDS = 3, 15
NEAR = 0.15  # world units: offsets smaller than this are not worth a relative phrase

# Words a caption may use for each shape; no word names two shapes.
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
    "star": ("star",),
    "ring": ("ring", "hoop", "donut"),
    "cross": ("cross", "plus sign"),
}
SIZE_WORDS = {"small": "small", "medium": "medium-sized", "large": "large"}
_SYMMETRY = {"square": 90.0, "triangle": 120.0, "star": 72.0, "cross": 90.0}  # degrees until a shape looks the same
_ROLLERS = ("circle", "ring")
_DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    "right": ("rightward", "to the right"),
    "left": ("leftward", "to the left"),
    "up": ("up", "upward"),
    "down": ("down", "downward"),
    "up-right": ("toward the upper right", "up and to the right"),
    "up-left": ("toward the upper left", "up and to the left"),
    "down-right": ("toward the lower right", "down and to the right"),
    "down-left": ("toward the lower left", "down and to the left"),
}
_SPEED_WORDS = {"slow": ("slowly",), "medium": ("at a moderate pace", "at a steady pace"), "fast": ("quickly", "fast")}
_ORDINALS = {1: "second", 2: "third", 3: "fourth", 4: "fifth"}  # by shot index
_COUNTS = {2: "two", 3: "three", 4: "four", 5: "five"}

# Interchangeable wordings, picked by the scene's random stream; {fields} are filled in by `_say`.
_PHRASES: dict[str, tuple[str, ...]] = {
    "center": ("in the center", "at the center", "in the middle of the frame"),
    "side": ("on the {r}", "on the {r} of the frame"),
    "edge": ("at the {r}", "near the {r}", "at the {r} of the frame"),
    "corner": ("in the {r}", "in the {r} corner", "at the {r}"),
    "static": ("rests", "stays still", "sits still", "does not move"),
    "bounce": ("bounces on the floor", "bounces up and down on the floor"),
    "bounce_side": ("bounces {side}", "bounces {side} along the floor", "bounces on the floor, moving {side}"),
    "fall": ("falls to the floor", "falls and lands on the floor", "falls down onto the floor"),
    "orbit": ("circles {spin}", "circles {spin} around a point", "moves in a {spin} circle"),
    "rotate": ("spins {spin}", "spins {spin} in place", "rotates {spin}"),
    "grow": ("grows", "grows larger", "steadily grows"),
    "shrink": ("shrinks", "shrinks in size", "steadily shrinks"),
    "color": ("{s} turns {c} at {t} s", "at {t} seconds {s} turns {c}", "{s} changes color to {c} at {t} s"),
    "appear": ("{s} appears at {t} s", "{s} only appears at {t} seconds", "at {t} s {s} pops into view"),
    "disappear": ("{s} vanishes at {t} s", "{s} vanishes after {t} seconds", "at {t} s {s} disappears"),
    "collision": ("{hit} at about {t} s, stops, and knocks it {way}", "at {t} s {hit}, stops, and bumps it {way}"),
    "reappear": ("comes out the other side unchanged", "reappears on the other side unchanged"),
    "solid": ("a plain {a} background", "a solid {a} backdrop", "a flat {a} background"),
    "gradient": ("a gradient from {a} to {b}", "a smooth gradient from {a} to {b}"),
    "stripes": ("{way} {a} and {b} stripes", "a pattern of {way} {a} and {b} stripes"),
    "checkerboard": ("a {a} and {b} checkerboard", "a checkerboard of {a} and {b} squares"),
    "floor": ("a {b} floor below a {a} sky", "a {b} floor under a {a} sky"),
    "camera_static": ("The camera is still.", "The shot is filmed with a still camera.", "The camera holds still."),
    "camera_pan": ("The camera pans {d}.", "The camera steadily pans {d}.", "Throughout, the camera pans {d}."),
    "camera_zoom": ("The camera zooms {d}.", "The camera slowly zooms {d}.", "Throughout, the camera zooms {d}."),
    "setting_first": ("The scene shows {bg}.", "The setting is {bg}.", "The scene opens on {bg}."),
    "setting_last": ("Behind everything is {bg}.", "Everything is set against {bg}.", "It all plays out on {bg}."),
    "setting_new": ("The background is now {bg}.", "This time the setting is {bg}."),
    "opener": ("The scene shows {a}{at} that {m}.", "A video of {a}{at} that {m}.", "In this clip, {a}{at} {m}."),
    "first": ("{A}{at} {m}.", "There is {a}{at}. It {m}.", "We see {a}{at}; it {m}."),
    "also": (
        "{A}{at} {m}.",
        "There is also {a}{at}, which {m}.",
        "We also see {a}{at}; it {m}.",
        "Meanwhile, {a}{at} {m}.",
    ),
    "again": ("{A}{at} {m}.", "{A} is back{at} and {m}.", "We see {a} again{at}; it {m}."),
    "shots": ("The video has {n} shots.", "This video is made of {n} shots.", "The clip is cut into {n} shots."),
    "first_shot": ("In the first shot, ", "The first shot opens as follows: "),
    "cut": (
        "After a cut at {t} s, in the {nth} shot, ",
        "A hard cut at {t} s leads to the {nth} shot, where ",
        "At {t} s the video cuts to the {nth} shot, where ",
    ),
    "duration": ("The clip lasts {t} seconds.", "The whole video is {t} seconds long.", "It is a {t}-second clip."),
    "filler": (
        "The shapes are flat and drawn in solid colors.",
        "The scene is drawn in a simple, two-dimensional style.",
        "The lighting is even and there are no shadows.",
        "There is no text and there are no people in the video.",
        "The picture is clean, with crisp edges and no texture.",
    ),
}


def phrases(key: str) -> tuple[str, ...]:
    """The templates the captions say `key` with ("cut": "After a cut at {t} s, in the {nth} shot, ", ...), for
    readers of captions (kinema.pipeline.script)."""
    return _PHRASES[key]


def _say(rng: random.Random, key: str, **fields: str) -> str:
    return rng.choice(_PHRASES[key]).format(**fields)


@dataclass(frozen=True)
class Detail:
    """Which optional phrases a dense caption keeps; captions that run long drop them in the order of `LEVELS`."""

    background: bool = True  # colours and pattern of the background, not only its kind
    adjectives: bool = True  # size, tilt and outline
    extras: bool = True  # still cameras, unchanged backgrounds, pillar placement, the total duration
    manner: bool = True  # speeds, motion timings and occlusion times
    positions: bool = True
    relative: bool = True  # "to the left of the blue square" where a grid cell is ambiguous
    grouped: bool = False  # one sentence for all the objects of a shot
    plain: bool = False  # always the first (shortest) wording
    events: bool = True  # timed events and interactions (the last resort: dropped only when nothing else fits)


# From full detail, each level flips one more setting: drop a kind of phrase, or group or shorten sentences.
_FLIPS = ("background", "adjectives", "grouped", "extras", "relative", "manner", "positions", "plain", "events")
LEVELS = tuple(accumulate(_FLIPS, lambda d, name: replace(d, **{name: not getattr(d, name)}), initial=Detail()))


class _FirstWording(random.Random):
    """A generator whose every choice is the first of its options: the shortest wording, for captions that must
    be short."""

    def choice(self, seq):
        return seq[0]


def scene_rng(scene: Scene, salt: str = "") -> random.Random:
    """A generator seeded from the scene's content (stable across processes, unlike Python's `hash`)."""
    digest = hashlib.sha256((salt + scene.to_json(sort_keys=True)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def word_count(text: str) -> int:
    return len(text.split())


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _t(seconds: float) -> str:
    return f"{seconds:.1f}"


def describe_object(obj: Obj, noun: str, adjectives: bool = True) -> str:
    """A noun phrase without article: "large tilted red square"."""
    if not adjectives:
        return f"{obj.color} {noun}"
    words = [SIZE_WORDS.get(obj.size, obj.size)]
    period = _SYMMETRY.get(obj.shape)
    if period is not None and min(obj.angle % period, -obj.angle % period) > 3.0:
        words.append("tilted")
    if obj.outline:
        words.append("outlined")
    return " ".join([*words, obj.color, noun])


def place_kind(region: str) -> str:
    """Which wordings (_PHRASES) name a region of the view: "center", "side", "edge" (top, bottom) or "corner"."""
    return {"center": "center", "left side": "side", "right side": "side", "top": "edge", "bottom": "edge"}.get(
        region, "corner"
    )


def place_phrases(region: str) -> tuple[str, ...]:
    """The wordings captions give a region of the view ("in the upper left", "in the upper left corner", ...)."""
    return tuple(p.format(r=region) for p in _PHRASES[place_kind(region)])


def describe_position(
    obj: Obj, others: list[Obj], names: dict[str, str], span_x: float, span_y: float, rng: random.Random
) -> str | None:
    """Where the object starts ("in the upper left"), or, when its grid cell is ambiguous, where it lies relative to
    the first of `others` that is clearly apart ("to the left of the blue square"); None when neither is clear."""
    region = vocab.region_name(obj.x, obj.y, span_x, span_y)
    if region is not None:
        return _say(rng, place_kind(region), r=region)
    for other in others:
        dx, dy = obj.x - other.x, obj.y - other.y
        if abs(dx) > NEAR:
            return f"to the {'left' if dx < 0 else 'right'} of the {names[other.id]}"
        if abs(dy) > NEAR:
            return f"{'above' if dy < 0 else 'below'} the {names[other.id]}"
    return None


def describe_motion(motion: Motion, rng: random.Random, duration: float, manner: bool = True) -> str:
    """A verb phrase for an object's motion in a shot of `duration` seconds: "glides to the left slowly"."""
    kind = motion.kind
    if kind == "linear":
        verbs = ("moves", "glides", "travels") + (("drifts",) if motion.speed == "slow" else ())
        words = [rng.choice(verbs), rng.choice(_DIRECTION_WORDS[motion.direction or "right"])]
        if manner:
            words.append(rng.choice(_SPEED_WORDS.get(motion.speed or "", ("steadily",))))
            late = motion.start > 0.05
            early = motion.stop is not None and motion.stop < duration - 0.05
            if late and early:
                words.append(f"from {_t(motion.start)} s to {_t(motion.stop)} s")
            elif late:
                words.append(f"from {_t(motion.start)} s on")
            elif early:
                words.append(f"until {_t(motion.stop)} s, then stops")
        return " ".join(words)
    side = "" if abs(motion.vx) < 0.02 else ("to the right" if motion.vx > 0 else "to the left")
    if kind == "bounce" and side:
        return _say(rng, "bounce_side", side=side)
    if kind == "fall" and side and manner:
        return _say(rng, "fall") + f" while drifting {side}"
    if kind in ("static", "bounce", "fall", "orbit", "rotate", "grow", "shrink"):
        return _say(rng, kind, spin=motion.direction or "clockwise")
    raise ValueError(f"motion kind {kind!r}: expected static, linear, bounce, fall, orbit, grow, shrink or rotate")


def describe_event(event: Event, rng: random.Random, subject: str = "it") -> str:
    """A clause for a timed event: "at 1.5 seconds it turns blue"."""
    if event.kind not in ("color", "appear", "disappear"):
        raise ValueError(f"event kind {event.kind!r}: expected color, appear or disappear")
    return _say(rng, event.kind, s=subject, t=_t(event.time), c=event.color or "")


def _knock_direction(a: Obj, b: Obj) -> str:
    """The way a collision sends `b`: along `a`'s line of motion, or else away from `a`."""
    if a.motion.kind == "linear" and a.motion.direction in _DIRECTION_WORDS:
        return _DIRECTION_WORDS[a.motion.direction][-1]
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dx) >= abs(dy):
        return "to the right" if dx > 0 else "to the left"
    return "downward" if dy > 0 else "upward"


def describe_interaction(
    inter: Interaction, shot: Shot, names: dict[str, str], rng: random.Random, manner: bool = True
) -> str | None:
    """A clause for a collision, or for an occlusion with "it" as the pillar; None when its objects are missing."""
    objs = {o.id: o for o in shot.objects}
    a, b = objs.get(inter.a), objs.get(inter.b or "")
    t = _t(inter.time)
    if inter.kind == "collision":
        if a is None or b is None:
            return None
        way = _knock_direction(a, b)
        if not manner:
            return f"the {names[a.id]} hits the {names[b.id]} at {t} s and knocks it {way}"
        hit = f"the {names[a.id]} {'rolls' if a.shape in _ROLLERS else 'slides'} into the resting {names[b.id]}"
        return _say(rng, "collision", hit=hit, t=t, way=way)
    if inter.kind == "occlusion":
        if a is None:
            return None
        hidden = f", hidden from {t} s to {_t(inter.until)} s," if manner and inter.until is not None else ""
        return f"the {names[a.id]} passes behind it{hidden} and {_say(rng, 'reappear')}"
    raise ValueError(f"interaction kind {inter.kind!r}: expected collision or occlusion")


def describe_background(bg: Background, rng: random.Random, detailed: bool = True) -> str:
    """A noun phrase: "a plain gray background", "a white and charcoal checkerboard", "a sand floor below a ... sky"."""
    if bg.kind not in vocab.BACKGROUND_KINDS:
        raise ValueError(f"background kind {bg.kind!r}: expected one of {', '.join(vocab.BACKGROUND_KINDS)}")
    a, b = bg.colors[0], bg.colors[-1]
    turn = bg.angle % 180
    way = "vertical" if turn < 10 or turn > 170 else "horizontal" if 80 < turn < 100 else "diagonal"
    if detailed:
        return _say(rng, bg.kind, a=a, b=b, way=way)
    brief = {"solid": f"a {a} background", "stripes": f"{way} stripes", "floor": f"a {b} floor"}
    return brief.get(bg.kind, f"a {bg.kind}")


def describe_camera(camera: Camera, rng: random.Random) -> str:
    """A sentence about the camera: "The camera pans left."."""
    if camera.kind not in ("static", "pan", "zoom"):
        raise ValueError(f"camera kind {camera.kind!r}: expected static, pan or zoom")
    text = _say(rng, f"camera_{camera.kind}", d=camera.direction or "")
    if camera.zoom > 1.01:
        text = rng.choice(("The view is framed closer. ", "This time the framing is tighter. ")) + text
    return text


@dataclass
class _Writer:
    """One pass over a scene at one level of detail; `nouns` holds the word chosen for each object's shape."""

    scene: Scene
    rng: random.Random
    detail: Detail
    nouns: dict[tuple[str, str], str]

    @property
    def span(self) -> tuple[float, float]:
        """The view's extent in world units at the start of a shot."""
        return self.scene.width / self.scene.unit, self.scene.height / self.scene.unit

    def noun(self, obj: Obj) -> str:
        return self.nouns[obj.id, obj.shape]

    def object_sentences(self, shot: Shot, opener: bool, seen: dict[str, Obj], names: dict[str, str]) -> list[str]:
        """Sentences on a shot's objects, one or two each, or one for them all when `detail.grouped`. `seen` holds
        the objects of earlier shots by id; `opener` lets the first sentence open the video."""
        rng, d = self.rng, self.detail
        hits = [x for x in shot.interactions if x.kind == "collision"] if d.events else []
        back = {o.id for o in shot.objects if o.id in seen and seen[o.id].shape == o.shape}
        all_back = d.grouped and len(back) == len(shot.objects)
        out, clauses, events = [], [], []
        for i, obj in enumerate(shot.objects):
            if all_back:
                np_ = f"the {names[obj.id]}"
            elif obj.id in back:
                was = seen[obj.id].color
                np_ = (
                    f"the same {names[obj.id]}" if was == obj.color else f"the same {self.noun(obj)} (now {obj.color})"
                )
            else:
                np_ = _a(describe_object(obj, self.noun(obj), d.adjectives))
            pos = None
            if d.positions:
                others = shot.objects[:i][::-1] + shot.objects[i + 1 :] if d.relative else []  # described ones first
                pos = describe_position(obj, others, names, *self.span, rng)
            at = f" {pos}" if pos else ""
            if any(x.b == obj.id for x in hits):
                m = rng.choice(("rests at first", "sits still at first"))  # the collision sentence tells the rest
            else:
                motion = replace(obj.motion, stop=None) if any(x.a == obj.id for x in hits) else obj.motion
                m = describe_motion(motion, rng, shot.duration, d.manner)
            subject = f"the {names[obj.id]}" if d.grouped else "it"
            said = [_cap(describe_event(e, rng, subject)) + "." for e in obj.events] if d.events else []
            if d.grouped:
                clauses.append(f"{np_}{at} {m}")
                events += said
                continue
            role = "again" if obj.id in back else "also" if i else "opener" if opener else "first"
            forms = _PHRASES["first" if role == "opener" else role] + (_PHRASES[role] if role == "opener" else ())
            out += [rng.choice(forms).format(A=_cap(np_), a=np_, at=at, m=m), *said]
        if clauses:
            joined = "; ".join(clauses[:-1]) + "; and " + clauses[-1] if len(clauses) > 1 else clauses[0]
            out = [_cap(("the same objects return: " if all_back else "") + joined) + ".", *events]
        return out

    def shot_sentences(self, k: int, seen: dict[str, Obj]) -> list[str]:
        """The sentences of shot k: its objects, pillar and collisions, then (or, sometimes, first) its setting."""
        rng, d, shot = self.rng, self.detail, self.scene.shots[k]
        prev = self.scene.shots[k - 1] if k else None
        bg = describe_background(shot.background, rng, d.background)
        setting_first = prev is None and rng.random() < 0.3
        if prev is None:
            setting = [_say(rng, "setting_first" if setting_first else "setting_last", bg=bg)]
        elif shot.background != prev.background:
            setting = [_say(rng, "setting_new", bg=bg)]
        else:
            setting = ["The background stays the same."] if d.extras else []
        if shot.camera.kind != "static" or (d.extras and (prev is None or prev.camera != shot.camera)):
            setting.append(describe_camera(shot.camera, rng))
        names = {o.id: f"{o.color} {self.noun(o)}" for o in shot.objects}
        body = self.object_sentences(shot, len(self.scene.shots) == 1 and not setting_first, seen, names)
        new_pillar = d.extras or prev is None or prev.occluder != shot.occluder
        if shot.occluder is not None and (new_pillar or (d.events and shot.interactions)):
            column = vocab.region_name(shot.occluder.x, self.span[1] / 2, *self.span) if d.extras else None
            where = {"left side": " on the left", "center": " at the center", "right side": " on the right"}
            clauses = [f"a {vocab.OCCLUDER_COLOR[0]} pillar stands{where.get(column or '', '')}"]
            if d.events:
                occlusions = [x for x in shot.interactions if x.kind == "occlusion"]
                clauses += [describe_interaction(x, shot, names, rng, d.manner) or "" for x in occlusions]
            body.append(_cap("; ".join(c for c in clauses if c)) + ".")
        for x in shot.interactions if d.events else []:
            if x.kind == "collision" and (clause := describe_interaction(x, shot, names, rng, d.manner)):
                body.append(_cap(clause) + ".")
        return setting + body if setting_first else body + setting

    def caption(self) -> str:
        rng, shots = self.rng, self.scene.shots
        multi = len(shots) > 1
        count = _say(rng, "shots", n=_COUNTS.get(len(shots), str(len(shots))))
        out = [count] if multi and not self.detail.plain else []  # the ordinals of the cuts say it too
        seen: dict[str, Obj] = {}
        for k, start in enumerate(self.scene.shot_starts()):
            body = self.shot_sentences(k, seen)
            if multi and body:
                lead = _say(rng, "cut", t=_t(start), nth=_ORDINALS.get(k, "next")) if k else _say(rng, "first_shot")
                body[0] = lead + body[0][:1].lower() + body[0][1:]
            out += body
            seen.update({o.id: o for o in shots[k].objects})
        if self.detail.extras:
            out.append(_say(rng, "duration", t=_t(self.scene.seconds)))
        return " ".join(out)


def _nouns(scene: Scene, rng: random.Random) -> dict[tuple[str, str], str]:
    """One shape word per object, kept for the whole caption so "the same ..." reads true across shots."""
    nouns: dict[tuple[str, str], str] = {}
    for shot in scene.shots:
        for o in shot.objects:
            if (o.id, o.shape) not in nouns:
                nouns[o.id, o.shape] = rng.choice(SHAPE_WORDS.get(o.shape, (o.shape,)))
    return nouns


def _clamp(text: str, limit: int) -> str:
    """Cut a text to `limit` words, ending on a full stop (a last resort that sampled scenes do not reach)."""
    words = text.split()
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]).rstrip(",;:.") + "."


def dense_caption(scene: Scene) -> str:
    """A dense, recaption-style description of a scene, 30 to 150 words; busy scenes drop detail to fit."""
    nouns = _nouns(scene, scene_rng(scene, "nouns"))
    for detail in LEVELS:
        rng = _FirstWording(0) if detail.plain else scene_rng(scene)
        text = _Writer(scene, rng, detail, nouns).caption()
        if word_count(text) <= MAX_WORDS:
            break
    fillers = scene_rng(scene, "fill").sample(_PHRASES["filler"], len(_PHRASES["filler"]))
    while word_count(text) < MIN_WORDS and fillers:
        text = f"{text} {fillers.pop()}".strip()
    return _clamp(text, MAX_WORDS)


def short_prompt(scene: Scene) -> str:
    """A 3-15 word prompt as a user would type it: the main object (the first shot's first) and its motion, maybe
    with the background, a second object, a colour change, the cuts or the camera."""
    rng = scene_rng(scene, "prompt")
    first = scene.shots[0]
    if not first.objects:
        return f"{describe_background(first.background, rng, detailed=False)} with nothing on it"
    main, nouns = first.objects[0], _nouns(scene, rng)
    subject = f"{main.color} {nouns[main.id, main.shape]}"
    subject = rng.choice((subject, _a(subject), _a(f"{main.size} {subject}")))
    objs = {o.id: o for o in first.objects}
    hits = [x for x in first.interactions if x.kind == "collision" and x.a == main.id and x.b in objs]
    if hits:
        b = objs[hits[0].b or ""]
        verb = rng.choice(("rolls into" if main.shape in _ROLLERS else "slides into", "hits"))
        action = f"{verb} {_a(b.color)} {nouns[b.id, b.shape]}"
    else:
        action = describe_motion(main.motion, rng, first.duration, manner=False)
    extras = [] if "floor" in action else [f" on {describe_background(first.background, rng, detailed=False)}"]
    if len(first.objects) > 1 and not hits:
        other = first.objects[1]
        motion = describe_motion(other.motion, rng, first.duration, manner=False)
        extras.append(f" while {_a(other.color)} {nouns[other.id, other.shape]} {motion}")
    extras += [f" and turns {e.color}" for e in main.events if e.kind == "color"][:1]
    if len(scene.shots) > 1:
        extras.append(
            rng.choice((f", {_COUNTS.get(len(scene.shots), 'several')} shots", ", then a hard cut", ", with a cut"))
        )
    picked = set(rng.sample(range(len(extras)), rng.randint(0, min(2, len(extras)))))
    moving = [s.camera for s in scene.shots if s.camera.kind != "static"]
    if moving and rng.random() < 0.8:
        verb = {"pan": "pans", "zoom": "zooms"}.get(moving[0].kind, "moves")
        extras.append(rng.choice((", camera ", ", the camera ", " as the camera ")) + f"{verb} {moving[0].direction}")
        picked.add(len(extras) - 1)
    text = f"{subject} {action}"
    for i, extra in enumerate(extras):
        if i in picked and word_count(text + extra) <= PROMPT_MAX_WORDS:
            text += extra
    return text


# Word swaps that turn a caption into the caption of the mirrored scene: left-right, and up-down.
_MIRROR = {
    "across": {"left": "right", "leftward": "rightward", "clockwise": "counterclockwise"},
    "updown": {"up": "down", "upward": "downward", "upper": "lower", "top": "bottom", "above": "below"},
}
COUNTERFACTUAL_KINDS = ("shape", "mirror", "size", "color")


def _swap_words(text: str, pairs: dict[str, str]) -> str:
    """`text` with each word of `pairs` (either way round) replaced by its partner, all at once, whole words only."""
    both = {**pairs, **{v: k for k, v in pairs.items()}}
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, both), key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: both[m.group(1)], text)


def _shape_word(shape: str) -> re.Pattern:
    """The words of one shape in a caption, whole words, except the path of an orbit ("a clockwise circle")."""
    return re.compile(r"(?<!clockwise )\b(" + "|".join(SHAPE_WORDS[shape]) + r")\b")


def counterfactual_caption(caption: str, rng: random.Random, kind: str | None = None) -> str | None:
    """The caption of a scene that differs in one kind of word (`COUNTERFACTUAL_KINDS`, `rng` picks one unless
    `kind` is given): every word of one shape said as another shape; the scene mirrored left-right or up-down (all
    place, direction and spin words at once); one size word changed; one colour changed everywhere. None when the
    caption has no word of that kind (or mirroring leaves it as it was). A model that reads these words finds the
    caption wrong for the scene's video: training can ask it to (`kinema train dit --contrast`)."""
    kind = kind or rng.choice(COUNTERFACTUAL_KINDS)
    words = set(re.findall(r"[a-z]+(?:-sized)?", caption.lower()))
    if kind == "shape":
        said = [s for s in SHAPE_WORDS if _shape_word(s).search(caption)]
        if not said:
            return None
        old = rng.choice(said)
        new = rng.choice(SHAPE_WORDS[rng.choice([s for s in SHAPE_WORDS if s != old])])
        return _shape_word(old).sub(new, caption)
    if kind == "mirror":
        ways = ["across"] + ([] if "floor" in words else ["updown"])  # no floor above: gravity has a direction
        out = _swap_words(caption, _MIRROR[rng.choice(ways)])
        return out if out != caption else None
    if kind == "size":
        said = [w for w in SIZE_WORDS.values() if w in words]
        if not said:
            return None
        old = rng.choice(said)
        return re.sub(rf"\b{old}\b", rng.choice([w for w in SIZE_WORDS.values() if w != old]), caption, count=1)
    if kind == "color":
        said = [c for c in vocab.COLORS if c in words]
        if not said:
            return None
        old = rng.choice(said)
        return re.sub(rf"\b{old}\b", rng.choice([c for c in vocab.COLORS if c != old]), caption)
    raise ValueError(f"counterfactual kind {kind!r}: choose one of {', '.join(COUNTERFACTUAL_KINDS)}")
