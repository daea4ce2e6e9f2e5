"""The long-video identity measure: the judge passes the true render in every window and fails a wrong subject."""

from types import SimpleNamespace

from kinema.eval.generate import LONG_MOTIONS, long_scenes, window_claims
from kinema.world.judge import judge
from kinema.world.render import render


def test_true_renders_pass_every_window_and_a_changed_subject_fails():
    config = SimpleNamespace(size=(64, 64), fps=(12.0,))
    scenes = long_scenes(3, 0, config, 10.0)
    assert len({s.id for s in scenes}) == 3
    for scene in scenes:
        (obj,) = scene.shots[0].objects
        assert obj.motion.kind in LONG_MOTIONS and scene.seconds == 10.0
        claims = window_claims(scene, 25 / 12)
        assert len(claims) == 5 and claims[-1].data["end"] == 10.0
        frames = render(scene)
        assert judge(frames, scene.fps, claims).score == 1.0
        swapped = frames[..., ::-1].copy()  # another colour
        assert judge(swapped, scene.fps, claims).score == 0.0
        gone = frames.copy()
        gone[len(frames) // 2 :] = frames[0, 0, 0]  # the subject vanishes halfway: later windows fail
        score = judge(gone, scene.fps, claims).score
        assert 0.2 <= score <= 0.6, score
