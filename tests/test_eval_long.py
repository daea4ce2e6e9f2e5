"""The long-video identity measure: the judge passes the true render in every window and fails a wrong subject."""

from types import SimpleNamespace

from kinema.eval.generate import LONG_MOTIONS, eval_long, long_scenes, window_claims
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


def test_eval_long_reports_windows_and_presence():
    config = SimpleNamespace(size=(64, 64), fps=(12.0,), window=7)
    scenes = long_scenes(2, 0, config, 6.0)

    class Truth:  # a "pipeline" that renders the scene it is asked for; the second one loses its subject halfway
        def __init__(self):
            self.config, self.calls = config, 0

        def __call__(self, caption, **kw):
            frames = render(scenes[self.calls])
            if self.calls == 1:
                frames[len(frames) // 2 :] = frames[0, 0, 0]
            self.calls += 1
            return SimpleNamespace(frames=frames)

    r = eval_long(Truth(), scenes, progress=False)
    assert r["per_video"][0] == 1.0 and r["per_video"][1] < 1.0
    assert len(r["per_window"]) == r["windows"] == 3 and r["per_window"][0] == 1.0 and r["per_window"][-1] == 0.5
    assert 0.5 < r["subject_present"] < 1.0
