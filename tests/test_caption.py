"""Captions: dense descriptions and short prompts read true, stay within their word limits, and vary by scene."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinema.world import vocab
from kinema.world.caption import (
    COUNTERFACTUAL_KINDS,
    MAX_WORDS,
    MIN_WORDS,
    PROMPT_MAX_WORDS,
    PROMPT_MIN_WORDS,
    SHAPE_WORDS,
    counterfactual_caption,
    dense_caption,
    describe_background,
    describe_camera,
    describe_event,
    describe_motion,
    short_prompt,
    word_count,
)
from kinema.world.scene import Background, Camera, Event, Interaction, Motion, Obj, Occluder, Scene, Shot


def obj(shape="circle", color="red", x=0.5, y=0.5, size="medium", ident="o1", **kw) -> Obj:
    return Obj(ident, shape, color, size, x, y, **kw)


def scene(*objs: Obj, duration=2.0, ident="t", **shot_kw) -> Scene:
    return Scene(ident, 64, 64, 12.0, [Shot(duration, objects=list(objs), **shot_kw)])


def has_word(text: str, words) -> bool:
    words = [words] if isinstance(words, str) else words
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def check_caption(s: Scene) -> None:
    """The invariants every caption of every scene keeps."""
    dense, prompt = dense_caption(s), short_prompt(s)
    assert MIN_WORDS <= word_count(dense) <= MAX_WORDS, dense
    assert PROMPT_MIN_WORDS <= word_count(prompt) <= PROMPT_MAX_WORDS, prompt
    assert dense_caption(Scene.from_json(s.to_json())) == dense
    assert short_prompt(Scene.from_json(s.to_json())) == prompt
    for shot in s.shots:
        for o in shot.objects:
            assert has_word(dense, o.color) and has_word(dense, SHAPE_WORDS[o.shape]), (o, dense)
        if shot.camera.kind == "pan":
            assert f"pans {shot.camera.direction}" in dense
        if shot.camera.kind == "zoom":
            assert f"zooms {shot.camera.direction}" in dense
    if len(s.shots) > 1:
        assert "cut" in dense and "shot" in dense
    main = s.shots[0].objects[0]
    assert has_word(prompt, main.color) and has_word(prompt, SHAPE_WORDS[main.shape]), prompt


def test_one_still_object_on_a_plain_background_reaches_the_minimum():
    s = scene(obj())
    text = dense_caption(s)
    assert MIN_WORDS <= word_count(text) <= MAX_WORDS
    assert has_word(text, "red") and has_word(text, SHAPE_WORDS["circle"])
    assert "gray" in text and ("center" in text or "middle" in text)
    assert "2.0 seconds" in text or "2.0-second" in text
    check_caption(s)


@pytest.mark.parametrize(
    "motion, words",
    [
        (Motion("static"), ["rests", "still", "does not move"]),
        (Motion("linear", direction="up-right", speed="fast"), ["up and to the right", "toward the upper right"]),
        (Motion("bounce", vx=0.1, gravity=3.0, restitution=0.7), ["bounces"]),
        (Motion("fall", gravity=3.0), ["falls"]),
        (Motion("orbit", direction="clockwise", radius=0.15, rate=2.0), ["circles clockwise", "clockwise circle"]),
        (Motion("grow", factor=1.6), ["grows"]),
        (Motion("shrink", factor=0.6), ["shrinks"]),
        (Motion("rotate", direction="counterclockwise", rate=2.0), ["counterclockwise"]),
    ],
)
def test_motion_phrases_name_the_motion(motion, words):
    for seed in range(10):
        text = describe_motion(motion, random.Random(seed), 2.0)
        assert any(w in text for w in words), text


def test_linear_motion_says_speed_and_timing():
    rng = random.Random(0)
    text = describe_motion(Motion("linear", direction="left", speed="slow", start=0.5, stop=1.5), rng, 2.0)
    assert "slowly" in text and "0.5 s" in text and "1.5 s" in text and "left" in text
    fast = [describe_motion(Motion("linear", direction="down", speed="fast"), random.Random(i), 2.0) for i in range(9)]
    assert all("quickly" in t or "fast" in t for t in fast)
    assert all("drifts" not in t for t in fast)  # drifting is slow


def test_events_are_timed_to_one_decimal():
    for seed in range(6):
        rng = random.Random(seed)
        turn = describe_event(Event("color", 1.5, "blue"), rng)
        assert "turns blue" in turn or "color to blue" in turn, turn
        assert re.search(r"\b1\.5 s(econds)?\b", turn), turn
        appear = describe_event(Event("appear", 0.8), rng)
        assert ("appear" in appear or "into view" in appear) and re.search(r"\b0\.8 s", appear), appear
        assert re.search(r"\b1\.2 s", describe_event(Event("disappear", 1.23), rng))
    text = dense_caption(scene(obj(events=[Event("color", 1.5, "blue")])))
    assert "turns blue" in text or "color to blue" in text


def test_collision_names_both_objects_the_time_and_the_knock():
    a = obj("circle", "red", 0.2, 0.5, ident="a", motion=Motion("linear", direction="right", speed="medium", stop=1.2))
    b = obj(
        "square", "blue", 0.5, 0.5, ident="b", motion=Motion("linear", direction="right", speed="medium", start=1.2)
    )
    text = dense_caption(scene(a, b, interactions=[Interaction("collision", "a", "b", time=1.2)]))
    assert "resting blue" in text and "1.2 s" in text and "it to the right" in text
    assert re.search(r"red (circle|disc|ball) rolls into", text), text


def test_occlusion_mentions_the_pillar_and_the_crossing():
    a = obj("star", "green", 0.2, 0.5, motion=Motion("linear", direction="right", speed="medium"))
    s = scene(a, occluder=Occluder(0.5, 0.2), interactions=[Interaction("occlusion", "o1", time=0.8, until=1.4)])
    text = dense_caption(s)
    assert "brown-gray pillar" in text and "at the center" in text
    assert "green star passes behind it" in text and "unchanged" in text


@pytest.mark.parametrize(
    "bg, words",
    [
        (Background("solid", ["gray"]), ["gray"]),
        (Background("gradient", ["beige", "slate"]), ["from beige to slate"]),
        (Background("stripes", ["white", "charcoal"], angle=0.0), ["vertical white and charcoal stripes"]),
        (Background("checkerboard", ["white", "charcoal"]), ["white and charcoal", "checkerboard"]),
        (Background("floor", ["light gray", "sand"], floor_y=0.8), ["sand floor", "light gray sky"]),
    ],
)
def test_backgrounds(bg, words):
    for seed in range(6):
        text = describe_background(bg, random.Random(seed))
        assert all(w in text for w in words), text


def test_camera_moves_are_always_said():
    assert "pans left" in describe_camera(Camera("pan", "left", 0.1), random.Random(0))
    assert "zooms in" in describe_camera(Camera("zoom", "in"), random.Random(0))
    assert "still" in describe_camera(Camera(), random.Random(0))
    text = dense_caption(
        scene(obj(), camera=Camera("pan", "up", 0.1), background=Background("checkerboard", ["white", "charcoal"]))
    )
    assert "pans up" in text


def test_ambiguous_position_falls_back_to_a_relative_phrase():
    # x = 1/3 sits on a grid line: the region is ambiguous, so the caption places it by its neighbour.
    left = obj("circle", "red", 1 / 3, 0.5, ident="a")
    right = obj("square", "blue", 0.8, 0.5, ident="b")
    assert vocab.region_name(left.x, left.y, 1.0, 1.0) is None
    text = dense_caption(scene(right, left))
    assert re.search(r"to the left of the blue (square|box|block)", text), text


def test_multi_shot_names_the_cut_and_the_same_objects():
    a = obj("circle", "red", 0.2, 0.5, motion=Motion("linear", direction="right", speed="slow"))
    a2 = obj("circle", "red", 0.8, 0.2, motion=Motion("rotate", direction="clockwise", rate=2.0))
    shots = [
        Shot(2.0, objects=[a], background=Background("solid", ["white"])),
        Shot(2.0, objects=[a2], background=Background("floor", ["gray", "sand"], floor_y=0.8)),
    ]
    text = dense_caption(Scene("m", 64, 64, 12.0, shots))
    assert "two shots" in text and "cut at 2.0 s" in text and "second shot" in text
    assert re.search(r"same red (circle|disc|ball)", text), text
    check_caption(Scene("m", 64, 64, 12.0, shots))


def busy_scene(rng: random.Random, ident: str = "busy") -> Scene:
    """Busier than the sampler makes: three shots of four objects, each with one or two events, a pillar, an
    occlusion and a collision in every shot, and a moving camera in the first."""
    kinds = ["static", "linear", "bounce", "fall", "orbit", "grow", "shrink", "rotate"]
    colors = list(vocab.COLORS)
    shapes = [rng.choice(vocab.SHAPES) for _ in range(4)]  # an object keeps its shape across shots
    shots = []
    for k in range(3):
        objs = []
        for i in range(4):
            kind = rng.choice(kinds)
            way = rng.choice(list(vocab.DIRECTIONS)) if kind == "linear" else rng.choice(vocab.SPINS)
            m = Motion(kind, direction=way, speed="fast", start=rng.choice([0.0, 0.4]), vx=rng.uniform(-0.2, 0.2))
            events = [Event(rng.choice(["color", "appear", "disappear"]), rng.uniform(0.1, 1.9), rng.choice(colors))]
            events += [Event("color", 1.9, rng.choice(colors))] if rng.random() < 0.5 else []
            x, y, size = rng.random(), rng.random(), rng.choice(list(vocab.SIZES))
            extra = dict(angle=rng.choice([0.0, 15.0]), outline=rng.random() < 0.3)
            objs.append(obj(shapes[i], colors[i], x, y, size, f"o{i}", motion=m, events=events, **extra))
        inter = [Interaction("collision", "o0", "o1", time=1.0), Interaction("occlusion", "o2", time=0.5, until=0.9)]
        bg = Background(rng.choice(vocab.BACKGROUND_KINDS), rng.sample(list(vocab.BACKGROUND_COLORS), 2), angle=45.0)
        cam = (
            rng.choice([Camera("pan", rng.choice(vocab.CAMERA_PANS), 0.1), Camera("zoom", "out")])
            if k == 0
            else Camera()
        )
        shots.append(Shot(2.0, bg, cam, objs, Occluder(0.5, 0.2), inter))
    return Scene(ident, 96, 64, 12.0, shots, level=4)


def test_the_busiest_scenes_fit_the_word_limit():
    for seed in range(40):
        check_caption(busy_scene(random.Random(seed), f"busy{seed}"))


def test_captions_vary_across_scenes():
    captions, prompts, nouns = [], [], set()
    for i in range(50):
        rng = random.Random(i)
        o = obj(
            rng.choice(["circle", "ring"]), rng.choice(list(vocab.COLORS)), rng.random(), rng.random(), ident=f"o{i}"
        )
        s = scene(o, ident=f"one-{i}")
        captions.append(dense_caption(s))
        prompts.append(short_prompt(s))
        nouns |= {w for w in SHAPE_WORDS["circle"] + SHAPE_WORDS["ring"] if has_word(captions[-1], w)}
    assert len({" ".join(c.split()[:2]) for c in captions}) >= 4
    assert len(set(prompts)) >= 25
    assert len(nouns) >= 4


def test_short_prompts_mention_collisions_and_cameras():
    a = obj("circle", "red", 0.2, 0.5, ident="a", motion=Motion("linear", direction="right", speed="medium", stop=1.2))
    b = obj("square", "blue", 0.5, 0.5, ident="b")
    prompt = short_prompt(scene(a, b, interactions=[Interaction("collision", "a", "b", time=1.2)]))
    assert re.search(r"(rolls into|hits) a blue (square|box|block)", prompt), prompt
    pans = [short_prompt(scene(obj(ident=f"p{i}"), camera=Camera("pan", "left", 0.1))) for i in range(20)]
    assert any("pans left" in p for p in pans)
    assert all(PROMPT_MIN_WORDS <= word_count(p) <= PROMPT_MAX_WORDS for p in pans)


def test_wording_does_not_depend_on_the_process():
    # The variation is seeded from a SHA-256 of the scene, not from Python's per-process string hash.
    s = busy_scene(random.Random(3))
    code = (
        "import sys; from kinema.world.scene import Scene; from kinema.world import caption as c;"
        "s = Scene.from_json(sys.stdin.read()); print(c.dense_caption(s)); print(c.short_prompt(s))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            input=s.to_json(),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outs == {f"{dense_caption(s)}\n{short_prompt(s)}\n"}


def test_unknown_kinds_are_named():
    with pytest.raises(ValueError, match="wobble"):
        describe_motion(Motion("wobble"), random.Random(0), 1.0)


@st.composite
def hand_scenes(draw) -> Scene:
    """One to three shots of the same one to four objects, each shot with its own motions, background and camera."""
    n = draw(st.integers(1, 4))
    shapes = draw(st.lists(st.sampled_from(vocab.SHAPES), min_size=n, max_size=n))
    colors = draw(st.permutations(list(vocab.COLORS)))[:n]
    shots = []
    for _ in range(draw(st.integers(1, 3))):
        objs = []
        for i in range(n):
            kind = draw(st.sampled_from(["static", "linear", "orbit", "rotate", "grow", "shrink", "bounce", "fall"]))
            ways = list(vocab.DIRECTIONS) if kind == "linear" else list(vocab.SPINS)
            motion = Motion(kind, draw(st.sampled_from(ways)), draw(st.sampled_from(list(vocab.SPEEDS))))
            x, y = draw(st.floats(0.05, 0.95)), draw(st.floats(0.05, 0.95))
            size = draw(st.sampled_from(list(vocab.SIZES)))
            turns = draw(st.lists(st.sampled_from(list(vocab.COLORS)), max_size=1))
            events = [Event("color", draw(st.floats(0.1, 1.9)), c) for c in turns]
            objs.append(obj(shapes[i], colors[i], x, y, size, f"o{i}", motion=motion, events=events))
        bg_colors = draw(st.lists(st.sampled_from(list(vocab.BACKGROUND_COLORS)), min_size=2, max_size=2, unique=True))
        bg = Background(
            draw(st.sampled_from(vocab.BACKGROUND_KINDS)), bg_colors, angle=draw(st.sampled_from([0.0, 45.0, 90.0]))
        )
        cam = draw(
            st.sampled_from([Camera(), Camera("pan", "right", 0.1), Camera("pan", "down", 0.1), Camera("zoom", "in")])
        )
        shots.append(Shot(draw(st.sampled_from([1.0, 2.0, 2.5])), bg, cam, objs))
    return Scene(f"h{draw(st.integers(0, 10**6))}", draw(st.sampled_from([64, 96])), 64, 12.0, shots)


@settings(max_examples=200, deadline=None)
@given(hand_scenes())
def test_hand_built_scenes_keep_every_invariant(s):
    check_caption(s)


def test_sampled_scenes_keep_every_invariant():
    sample = pytest.importorskip("kinema.world.sample")

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, 10**6), st.sampled_from([None, 1, 2, 3, 4]), st.sampled_from([None, 6.0]))
    def check(seed, level, seconds):
        for s in sample.sample_scenes(3, seed, level=level, seconds=seconds):
            check_caption(s)

    check()


def _shape_counts(text: str) -> dict[str, int]:
    text = re.sub(r"clockwise circle", "clockwise path", text)  # an orbit's path is not a shape
    return {s: len(re.findall(r"\b(" + "|".join(ws) + r")\b", text)) for s, ws in SHAPE_WORDS.items()}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from(COUNTERFACTUAL_KINDS), st.integers(0, 99))
def test_a_counterfactual_caption_changes_one_kind_of_word(seed, kind, draw):
    from kinema.world import sample

    caption = dense_caption(next(sample.sample_scenes(1, seed)))
    other = counterfactual_caption(caption, random.Random(draw), kind)
    if other is None:
        return
    assert other != caption
    before, after = caption.split(), other.split()
    if kind == "mirror":  # mirroring twice gives the caption back; only place, direction and spin words change
        assert counterfactual_caption(other, random.Random(draw), kind) == caption
        assert len(before) == len(after)
        changed = {w.strip(".,") for a, w in zip(before, after) if a != w} | {
            a.strip(".,") for a, w in zip(before, after) if a != w
        }
        assert changed <= {"left", "right", "leftward", "rightward", "clockwise", "counterclockwise", "up", "down"} | {
            "upward",
            "downward",
            "upper",
            "lower",
            "top",
            "bottom",
            "above",
            "below",
        }
    elif kind == "shape":  # every word of one shape now names one other shape; the other shapes' words stay
        a, b = _shape_counts(caption), _shape_counts(other)
        gone = [s for s in SHAPE_WORDS if b[s] < a[s]]
        assert len(gone) == 1 and b[gone[0]] == 0
        grown = [s for s in SHAPE_WORDS if b[s] > a[s]]
        assert len(grown) == 1 and b[grown[0]] == a[grown[0]] + a[gone[0]]
    elif kind == "size":  # one size word
        assert len(before) == len(after) and sum(x != y for x, y in zip(before, after)) == 1
    else:  # one colour, everywhere it is said
        diff = {(x.strip(".,"), y.strip(".,")) for x, y in zip(before, after) if x != y}
        assert len(before) == len(after) and len(diff) == 1
        ((old, new),) = diff
        assert old in vocab.COLORS and new in vocab.COLORS and old not in re.findall(r"[a-z]+", other)


def test_a_counterfactual_needs_words_of_its_kind():
    still = "A small red circle in the center moves in a clockwise circle. The camera is still."
    assert counterfactual_caption("The camera is still. It is a 2.0-second clip.", random.Random(0), "shape") is None
    assert counterfactual_caption(still, random.Random(0), "mirror") != still  # spin
    assert "moves in a clockwise circle" in counterfactual_caption(still, random.Random(0), "shape")
    assert counterfactual_caption("A dot falls to the floor at the top.", random.Random(0), "mirror") is None
    assert counterfactual_caption("A red dot.", random.Random(0), "size") is None
    with pytest.raises(ValueError, match="counterfactual kind"):
        counterfactual_caption(still, random.Random(0), "smell")
