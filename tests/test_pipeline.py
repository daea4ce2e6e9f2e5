"""The generation pipeline on tiny random weights: folders, seeds, every task's shapes and pins, windows that keep
the model's input bounded, the ODE solvers and guidance, prompt scripts, and clear errors."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kinema import flow
from kinema.models.dit import DiT, DiTConfig
from kinema.models.text import RandomTextEncoder
from kinema.models.vae import VAEConfig, VideoVAE
from kinema.pipeline import Pipeline, PipelineConfig, load_default, sampler
from kinema.pipeline import pipeline as pipeline_module
from kinema.pipeline.pipeline import plan_windows
from kinema.pipeline.script import Script, carry_over, retime, split_shots, timeline_text
from kinema.pipeline.tasks import complete_groups, group, latent_frames, make_job
from kinema.train.videos import to_tensor

CONFIG = PipelineConfig(
    text_encoder="random", sizes=("32x32", "48x32"), fps=(8.0,), num_steps=3, window=4, context=1, seconds=1.0
)
VAE = VAEConfig(latent_channels=4, channels=(8, 8, 16), time_kernel=(1, 1, 3), norm="none")
DIT = DiTConfig(latent_channels=4, hidden=32, depth=2, heads=2, text_dim=16)


def tiny(config: PipelineConfig = CONFIG, safety=False) -> Pipeline:
    """Safety off by default here: these tests are about generation (test_pipeline_safety.py tests the Guard's
    place in the pipeline, with its defaults on)."""
    return Pipeline.random(config, VAE, DIT, safety=safety)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return tiny()


def clip(n: int, seed: int = 0, w: int = 32, h: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


class Recorder:
    """Records the latent frames of every DiT call."""

    def __init__(self, pipe: Pipeline):
        self.pipe, self.frames = pipe, []

    def __enter__(self):
        self.handle = self.pipe.dit.register_forward_pre_hook(lambda m, args: self.frames.append(args[0].shape[2]))
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# -- folders ------------------------------------------------------------------------------------------------------


def test_folder_roundtrip_gives_the_same_video(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"pipeline.json", "vae", "dit"}
    assert json.loads((tmp_path / "m" / "pipeline.json").read_text())["kind"] == "kinema-pipeline"
    loaded = Pipeline.from_pretrained(tmp_path / "m", safety=False)
    assert loaded.config == pipe.config
    a = pipe("a red ball", seed=3).frames
    b = loaded("a red ball", seed=3).frames
    assert np.array_equal(a, b)


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        Pipeline.from_pretrained(tmp_path / "nothing")
    (tmp_path / "m").mkdir()
    with pytest.raises(ValueError, match="pipeline.json is missing"):
        Pipeline.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "pipeline.json").write_text('{"kind": "kinema-pipeline", "speed": 3}')
    with pytest.raises(ValueError, match="unknown fields"):
        Pipeline.from_pretrained(tmp_path / "m")


def test_load_default_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline_module, "DEFAULT_MODEL", tmp_path)
    with pytest.raises(ValueError, match=r"default model is not bundled yet \(pipeline.json, vae/model.safetensors"):
        load_default()


def test_the_package_exposes_the_pipeline_api():
    import kinema

    assert kinema.load_default is load_default and kinema.Pipeline is Pipeline
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kinema.nope  # noqa: B018


def test_mismatched_parts_are_refused():
    with pytest.raises(ValueError, match="text encoder gives 16-wide states, the DiT takes 8"):
        Pipeline(VideoVAE(VAE), DiT(dataclasses.replace(DIT, text_dim=8)), RandomTextEncoder(16), CONFIG)
    with pytest.raises(ValueError, match="size 36x32: width and height must be multiples of 8"):
        tiny(PipelineConfig(text_encoder="random", sizes=("36x32",)))


# -- the call -----------------------------------------------------------------------------------------------------


def test_seeds_reproduce_and_differ(pipe):
    a, b, c = (pipe("a red ball bounces", seed=s).frames for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_prompt_and_guidance_change_the_video(pipe):
    a = pipe("a red ball", seed=0, upsample=False).frames
    assert not np.array_equal(a, pipe("a blue square", seed=0, upsample=False).frames)
    assert not np.array_equal(a, pipe("a red ball", seed=0, upsample=False, guidance=1.0).frames)


@pytest.mark.parametrize(
    "kw, shape",
    [
        (dict(seconds=1.0), (8, 32, 32, 3)),
        (dict(seconds=2.0, size="48x32"), (16, 32, 48, 3)),
        (dict(num_frames=1), (1, 32, 32, 3)),
        (dict(seconds=0.5, sampler="heun"), (4, 32, 32, 3)),
    ],
)
def test_text_to_video_and_image_shapes(pipe, kw, shape):
    v = pipe("a red ball", **kw)
    assert v.frames.shape == shape and v.frames.dtype == np.uint8 and v.fps == 8.0


def test_progress_reaches_one_in_order(pipe):
    seen = []
    pipe("a red ball", seconds=3.0, sampler="heun", on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3


def test_long_video_feeds_the_model_bounded_windows(pipe):
    with Recorder(pipe) as rec:
        v = pipe("a red ball moves right", seconds=12.0, upsample=False)
    assert v.frames.shape[0] == 96
    assert max(rec.frames) == CONFIG.window and len(rec.frames) > 10


def test_context_noise_reaches_only_frames_an_earlier_window_made():
    noisy = tiny(dataclasses.replace(CONFIG, context_noise=0.1))
    times = []
    handle = noisy.dit.register_forward_pre_hook(lambda m, args: times.append(args[1][0].clone()))
    image = clip(1)[0]
    try:
        noisy("a red ball moves right", image=image, seconds=3.0, upsample=False, seed=1)
    finally:
        handle.remove()
    first = times[0]  # window 1: the pinned image at t = 0, the rest from noise
    assert first[0] == 0 and (first[1:] > 0.5).all()
    later = times[-1]  # the last window: its first frame came from the window before, noised to 0.1
    assert torch.isclose(later[0], torch.tensor(0.1)) and (later[1:] < 0.5).all()
    # a single window has nothing made earlier: the same video as without context noise (no extra draws)
    plain = tiny()  # the same seeded weights
    a = noisy("a red ball", image=image, seconds=1.0, upsample=False, seed=2).frames
    b = plain("a red ball", image=image, seconds=1.0, upsample=False, seed=2).frames
    assert np.array_equal(a, b)
    long_a = noisy("a red ball", seconds=3.0, upsample=False, seed=2).frames
    long_b = plain("a red ball", seconds=3.0, upsample=False, seed=2).frames
    assert long_a.shape == long_b.shape and not np.array_equal(long_a, long_b)
    with pytest.raises(ValueError, match="context_noise"):
        dataclasses.replace(CONFIG, context_noise=1.0)


def test_pins_are_kept_exactly(pipe):
    image = clip(1)[0]
    job = make_job(pipe.config, seconds=1.0, image=image)
    job.script = Script([("x", 1.0)])
    (z,) = pipe.run([job], 0, 3, [4.0], "euler", False, None)
    want = pipe.scale(pipe.vae.encode(to_tensor(image[None])[None]))[0, :, 0]
    assert torch.allclose(z[:, 0], want)
    assert not torch.allclose(z[:, 1], z[:, 0])


def test_image_to_video_starts_from_the_image(pipe):
    image = clip(1)[0]
    v = pipe("a red ball", image=image, seconds=1.0)
    roundtrip = pipe.decode(pipe.scale(pipe.vae.encode(to_tensor(image[None])[None]))[0], 32, 32)[0]
    assert np.array_equal(v.frames[0], roundtrip)


def test_extend_lengths_and_direction(pipe):
    src = clip(9)
    fwd = pipe("more", video=(src, 8.0), mode="extend-forward", seconds=1.0)
    back = pipe("before", video=(src, 8.0), mode="extend-backward", seconds=1.0)
    assert fwd.frames.shape[0] == back.frames.shape[0] == 17
    assert fwd.info["task"] == "extend_forward" and back.info["task"] == "extend_backward"
    length = latent_frames(17 + 24)
    pinned = [j >= length - 3 for j in range(length)]
    windows = plan_windows(length, pinned, 4, 1)
    assert windows[0][1] == length  # backwards: the first window holds the given end


def test_a_clip_that_ends_inside_a_latent_frame_keeps_it():
    # 12 frames to extend: latent 3 (frames 9-12) holds 3 given frames; frame 12 repeats frame 11 so it is pinned.
    src = clip(12)
    job = make_job(CONFIG, video=(src, 8.0), mode="extend-forward", seconds=1.0)
    assert np.array_equal(job.canvas[12], src[11]) and all(np.array_equal(job.canvas[i], src[i]) for i in range(12))
    assert sorted(job.canvas) == list(range(13))
    # Extended backwards, a clip of 13 frames starts on the last frame of latent 3: one of four is too few to keep.
    back = make_job(CONFIG, video=(clip(13), 8.0), mode="extend-backward", num_frames=12)
    assert sorted(back.canvas) == list(range(12, 25))
    # Frames past the end of the video never count as missing: a 10-frame clip after 12 new frames ends on
    # frame 21, alone in latent 6 (frames 21-24) of a 22-frame video, and that latent is kept.
    end = make_job(CONFIG, video=(clip(10), 8.0), mode="extend-backward", num_frames=12)
    assert end.frames == 22 and sorted(end.canvas) == list(range(12, 25))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(total=st.integers(1, 30), given_frames=st.sets(st.integers(0, 29)))
def test_completed_groups_are_whole_and_keep_what_was_given(total, given_frames):
    canvas = {i: np.full((2, 2, 3), i, np.uint8) for i in given_frames if i < total}
    before = dict(canvas)
    complete_groups(canvas, total)
    assert all(canvas[i] is v for i, v in before.items())  # given frames are untouched
    for j in range(latent_frames(total)):
        added = [i for i in group(j) if i in canvas and i not in before]
        if added:  # a group is completed whole, from its own given frames, when they are at least half of it
            have = [i for i in group(j) if i in before]
            assert all(i in canvas for i in group(j))
            assert 2 * len(have) >= len([i for i in group(j) if i < total])
            assert all(int(canvas[i][0, 0, 0]) in have for i in added)


def test_extend_backward_gives_different_beginnings_with_one_ending(pipe):
    src = clip(9)
    a = pipe("before", video=(src, 8.0), mode="extend-backward", seconds=2.0, seed=0).frames
    b = pipe("before", video=(src, 8.0), mode="extend-backward", seconds=2.0, seed=1).frames
    assert not np.array_equal(a[:8], b[:8])
    assert np.abs(a[-4:].astype(int) - b[-4:].astype(int)).mean() < np.abs(a[:8].astype(int) - b[:8].astype(int)).mean()


def test_keyframes_connect_loop_and_shots(pipe):
    still = clip(1, 1)[0]
    kf = pipe("kf", keyframes=[(0.0, still), (1.0, (clip(4, 2), 8.0))], seconds=2.0)
    assert kf.frames.shape[0] == 16 and kf.info["task"] == "keyframes"
    cn = pipe("cn", connect=((clip(8), 8.0), (clip(8, 3), 8.0)), seconds=1.0)
    assert cn.frames.shape[0] == 24
    lp = pipe("lp", loop=True, seconds=2.0)
    assert lp.frames.shape[0] == 17  # rounded up to 1 + 4k frames, the VAE's step
    ms = pipe("a red ball", shots=[("it bounces", 1.0), ("it spins", 1.5)], upsample=False)
    assert ms.frames.shape[0] == 20 and ms.info["prompts"] == ["a red ball. it bounces", "a red ball. it spins"]


def test_edit_at_low_strength_stays_near_the_source(pipe):
    src = clip(9, 4)
    roundtrip = pipe.decode(pipe.scale(pipe.vae.encode(to_tensor(src)[None]))[0], 32, 32)
    near = pipe("edit", video=(src, 8.0), mode="edit", strength=0.02).frames
    far = pipe("edit", video=(src, 8.0), mode="edit", strength=1.0).frames
    d_near = np.abs(near.astype(int) - roundtrip.astype(int)).mean()
    d_far = np.abs(far.astype(int) - roundtrip.astype(int)).mean()
    assert d_near < 0.5 * d_far


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(size="100x64"), "size 100x64 is not supported by this model; choose one of 32x32, 48x32"),
        (dict(seconds=0.0), "seconds 0: must be more than 0"),
        (dict(seconds=-1.0), "seconds -1: must be more than 0"),
        (dict(seconds=61.0), "beyond this model's limit of 60 s"),
        (dict(fps=24.0), "fps 24 is not supported by this model; choose one of 8"),
        (dict(mode="edit"), "mode 'edit' needs a video"),
        (dict(mode="sideways", video=(clip(2), 8.0)), "mode 'sideways': choose one of"),
        (dict(video=(clip(2), 8.0)), "say what to do with it"),
        (dict(num_steps=0), "num_steps 0"),
        (dict(sampler="rk4"), "sampler 'rk4'"),
        (dict(loop=True, video=(clip(2), 8.0), mode="edit"), "loop works with"),
        (dict(keyframes=[(5.0, clip(1)[0])]), "keyframe at 5 s: must lie within the video"),
        (dict(image=np.zeros((4, 4), np.uint8)), "image: expected uint8 frames"),
        (dict(video=(clip(2), 8.0), mode="edit", strength=1.5), "strength 1.5"),
    ],
)
def test_bad_input_is_a_clear_error(pipe, kw, match):
    with pytest.raises(ValueError, match=match):
        pipe("a red ball", **kw)


def test_empty_prompt_is_refused(pipe):
    with pytest.raises(ValueError, match="empty prompt"):
        pipe("  ")
    with pytest.raises(ValueError, match="empty prompt"):
        pipe("", shots=[("it bounces", 1.0), (" ", 1.0)])


def test_save_writes_video_and_sheet(pipe, tmp_path):
    v = pipe("a red ball", seconds=1.0)
    path, sheet = v.save(tmp_path / "out.mp4")
    assert path.is_file() and sheet == tmp_path / "out.sheet.png" and sheet.is_file()


# -- windows, solvers, guidance -----------------------------------------------------------------------------------


def test_windows_cover_everything_with_context():
    spans = plan_windows(11, [False] * 11, 4, 1)
    assert spans[0] == (0, 4) and spans[-1][1] == 11
    assert all(b[0] == a[1] - 1 or b[0] < a[1] for a, b in zip(spans, spans[1:]))
    assert set().union(*(range(a, b) for a, b in spans)) == set(range(11))
    assert plan_windows(11, [True] * 4 + [False] * 7, 4, 1)[0] == (3, 7)  # a fully given window is skipped
    assert [list(group(j)) for j in range(3)] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]


def test_euler_step_is_the_closed_form_and_clean_frames_stay():
    x = torch.randn(1, 2, 3, 2, 2)
    clean = torch.tensor([[True, False, False]])
    c = torch.randn_like(x)
    out = sampler.solve(lambda x, t: c, x, torch.tensor([1.0, 0.4]), clean)
    assert torch.allclose(out[:, :, 1:], x[:, :, 1:] - 0.6 * c[:, :, 1:])
    assert torch.equal(out[:, :, :1], x[:, :, :1])


def test_heun_is_more_accurate_than_euler():
    # dx/dt = x from t = 1 to 0: x(0) = x(1) / e
    x = torch.ones(1, 1, 1, 1, 1)
    times = torch.linspace(1, 0, 5)
    clean = torch.zeros(1, 1, dtype=torch.bool)
    exact = x / torch.e
    err = {m: (sampler.solve(lambda x, t: x, x, times, clean, m) - exact).abs().item() for m in ("euler", "heun")}
    assert err["heun"] < err["euler"] / 3


def test_jobs_that_give_frames_run_at_the_models_guidance_given():
    pipe = tiny(dataclasses.replace(CONFIG, guidance=4.0, guidance_given=1.0))
    image = clip(1)[0]
    i2v = pipe("a red ball", image=image, seed=1, upsample=False)
    assert i2v.info["guidance"] == 1.0 and pipe("a red ball", upsample=False).info["guidance"] == 4.0
    same = pipe("a red ball", image=image, seed=1, upsample=False, guidance=1.0).frames
    assert np.array_equal(i2v.frames, same)
    assert pipe("a red ball", image=image, seed=1, upsample=False, guidance=4.0).info["guidance"] == 4.0
    two = pipe("a", image=image, shots=[("a red ball", 1.0), ("a blue box", 1.0)], upsample=False)
    assert two.info["guidance"] == [1.0, 4.0]  # the second shot gives no frames
    assert tiny().config.guidance_given is None  # by default one guidance for all
    with pytest.raises(ValueError, match="guidance_given"):
        dataclasses.replace(CONFIG, guidance_given=-1.0)


def test_guidance_combines_prompt_and_null_in_one_batch():
    calls = []

    def model(x, t, text, mask):
        calls.append(x.shape[0])
        return text[:, :1, :1, None, None].expand(-1, 1, x.shape[2], 1, 1) * torch.ones_like(x)

    cond = (torch.full((1, 2, 1), 3.0), torch.ones(1, 2, dtype=torch.bool))
    null = (torch.full((1, 1, 1), 1.0), torch.ones(1, 1, dtype=torch.bool))
    text, mask = sampler.batch_text(cond, null)
    assert text.shape == (2, 2, 1) and mask.tolist() == [[True, True], [True, False]]
    v = sampler.guided(model, text, mask, 2.5)(torch.zeros(1, 1, 2, 1, 1), torch.zeros(1, 2))
    assert torch.allclose(v, torch.full_like(v, 1.0 + 2.5 * (3.0 - 1.0))) and calls == [2]
    sampler.guided(model, text, mask, 1.0)(torch.zeros(1, 1, 2, 1, 1), torch.zeros(1, 2))
    assert calls == [2, 1]


def test_frame_guidance_adds_a_branch_that_sees_neither_prompt_nor_given_frames():
    seen = []

    def model(x, t, text, mask):  # v = the text's value + frame 0's value + frame 0's time, on every frame
        seen.append((x[:, 0, :, 0, 0].clone(), t.clone()))
        out = text[:, :1, :1, None, None] + x[:, :1, :1] + t[:, :1, None, None, None]
        return out.expand(-1, 1, x.shape[2], 1, 1).clone()

    cond = (torch.full((1, 1, 1), 3.0), torch.ones(1, 1, dtype=torch.bool))
    null = (torch.full((1, 1, 1), 1.0), torch.ones(1, 1, dtype=torch.bool))
    text, mask = sampler.batch_text(cond, null)
    x = torch.tensor([5.0, -2.0]).view(1, 1, 2, 1, 1)  # frame 0 given (clean, t = 0), frame 1 made, at t = 0.6
    t = torch.tensor([[0.0, 0.6]])
    given, eps = torch.tensor([[True, False]]), torch.ones_like(x)
    v = sampler.guided(model, text, mask, 2.5, (given, eps, 2.0))(x, t)
    xs, ts = seen[-1]
    assert xs.shape[0] == 3 and torch.allclose(ts[2], torch.tensor([0.6, 0.6]))  # the bare branch: all at t = 0.6,
    assert torch.allclose(xs[2], torch.tensor([0.4 * 5 + 0.6 * 1, -2.0]))  # the given frame noised to that time
    cond_v, null_v, bare_v = 3 + 5 + 0, 1 + 5 + 0, 1 + 2.6 + 0.6
    assert torch.allclose(v, torch.full_like(v, bare_v + 2.0 * (null_v - bare_v) + 2.5 * (cond_v - null_v)))
    plain = sampler.guided(model, text, mask, 2.5)(x, t)
    for scale, frames_given in ((1.0, given), (2.0, torch.tensor([[True, True]])), (2.0, torch.tensor([[False] * 2]))):
        same = sampler.guided(model, text, mask, 2.5, (frames_given, eps, scale))(x, t)
        assert torch.equal(same, plain) and seen[-1][0].shape[0] == 2  # nothing to guide on: plain guidance


def test_frame_guidance_guides_only_jobs_that_give_frames(pipe):
    image = clip(1)[0]
    kw = dict(image=image, seed=2, upsample=False, num_frames=9)
    base, framed = pipe("a red ball", **kw), pipe("a red ball", frame_guidance=3.0, **kw)
    assert base.info["frame_guidance"] == 1.0 and framed.info["frame_guidance"] == 3.0
    assert not np.array_equal(base.frames, framed.frames)
    assert np.abs(framed.frames[0].astype(int) - base.frames[0].astype(int)).max() <= 2  # the given frame stays
    t2v = [pipe("a red ball", seed=2, upsample=False, num_frames=9, frame_guidance=g) for g in (1.0, 3.0)]
    assert np.array_equal(t2v[0].frames, t2v[1].frames) and t2v[1].info["frame_guidance"] is None
    with pytest.raises(ValueError, match="frame_guidance"):
        pipe("a red ball", frame_guidance=-1.0)
    with pytest.raises(ValueError, match="frame_guidance"):
        dataclasses.replace(CONFIG, frame_guidance=float("nan"))


def test_schedule_shift_and_strength():
    full = sampler.schedule(10, flow.token_shift(1024))
    assert full[0] == 1 and full[-1] == 0 and (full[1:] < full[:-1]).all()
    assert (full[1:-1] > torch.linspace(1, 0, 11)[1:-1]).all()  # the shift spends more steps near noise
    part = sampler.schedule(10, 1.0, strength=0.35)
    assert part[0] == pytest.approx(0.35) and part[-1] == 0 and len(part) == 5


# -- scripts ------------------------------------------------------------------------------------------------------


def test_timeline_and_retiming():
    text = timeline_text("A red ball moves right.", [(2.0, "the ball turns blue")])
    assert text == "A red ball moves right. At 2.0 s the ball turns blue."
    assert retime(text, 0.0, 4.0) == text
    assert retime(text, 1.5, 2.0) == "A red ball moves right. At 0.5 s the ball turns blue."
    assert retime(text, 2.5, 2.0) == "A red ball moves right."


def test_script_windows_name_their_cuts():
    s = Script([("A red ball bounces.", 2.0), ("The red ball spins.", 2.0)])
    assert s.window(0.0, 1.5) == "A red ball bounces."
    assert s.window(1.0, 3.0) == (
        "The video has two shots. In the first shot, a red ball bounces. "
        "After a cut at 1.0 s, in the second shot, the red ball spins."
    )
    assert s.cuts == [2.0] and s.seconds == 4.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_split_shots_reads_the_cuts_a_world_caption_names(seed):
    from kinema.world.caption import dense_caption
    from kinema.world.sample import sample_scene

    scene = sample_scene(np.random.default_rng(seed), 4, seconds=4.0 + seed % 5, require="multishot")
    assert len(scene.shots) > 1
    caption = dense_caption(scene)
    shots = split_shots(caption, scene.seconds)
    starts = np.cumsum([0.0] + [s for _, s in shots])[:-1]
    assert starts == pytest.approx(scene.shot_starts(), abs=0.051)  # the caption says each cut's time to 0.1 s
    assert sum(s for _, s in shots) == pytest.approx(scene.seconds)
    texts = " ".join(t for t, _ in shots)
    for word in ("cut", "first shot", "second shot", "shots.", "second clip", "seconds long", "clip lasts"):
        assert word not in texts.lower()
    assert all(t[:1].isupper() for t, _ in shots)
    for text, _ in shots[1:]:  # later shots read like first shots: they are made alone
        assert " same " not in text and " again" not in text and " is back" not in text
    # Script.window writes its cuts the same way: reading them back gives the script's shots
    script = Script([(t.rstrip("."), s) for t, s in shots])
    back = split_shots(script.window(0.0, script.seconds), script.seconds)
    assert [s for _, s in back] == pytest.approx([s for _, s in shots])


def test_split_shots_keeps_a_prompt_without_cuts_and_drops_cuts_past_the_end():
    assert split_shots("a red ball bounces, then a hard cut", 2.0) == [("a red ball bounces, then a hard cut", 2.0)]
    text = "In the first shot, a red ball. After a cut at 1.0 s, in the second shot, a blue box."
    assert split_shots(text, 3.0) == [("A red ball.", 1.0), ("A blue box.", 2.0)]
    assert split_shots(text, 1.0) == [("A red ball.", 1.0)]


def test_carry_over_lets_a_later_shot_stand_on_its_own():
    shots = carry_over(
        [
            ("A small red ball sits on the left. Everything is set against a plain gray background.", 1.0),
            ("The same red ball is back on the right and spins. The background stays the same.", 1.0),
            ("We see the same ball (now blue) again at the top; it rests. The background stays the same.", 1.0),
        ]
    )
    assert [t for t, _ in shots[1:]] == [
        "A red ball on the right spins. Everything is set against a plain gray background.",
        "We see a blue ball at the top; it rests. Everything is set against a plain gray background.",
    ]
    assert shots[0] == ("A small red ball sits on the left. Everything is set against a plain gray background.", 1.0)


def captions_read(pipe, prompt, **kw):
    """The captions the text encoder is given while `pipe(prompt, **kw)` runs, and the video."""
    prompts = []
    orig = pipe.encode_text

    def spy(texts):
        prompts.extend(texts)
        return orig(texts)

    pipe.encode_text = spy
    try:
        video = pipe(prompt, **kw)
    finally:
        pipe.encode_text = orig
    return prompts, video


def test_a_caption_that_names_a_cut_is_made_shot_by_shot(pipe):
    """The frames before the cut are the first shot made alone (same seed: it is generated first), and the DiT never
    sees a window that spans the cut."""
    caption = (
        "The video has two shots. In the first shot, a red ball. After a cut at 1.0 s, in the second shot, a blue box."
    )
    prompts, both = captions_read(pipe, caption, seconds=2.5, seed=3, upsample=False)
    assert both.frames.shape[0] == 20 and both.info["prompts"] == ["A red ball.", "A blue box."]
    assert set(prompts) - {""} == {"A red ball.", "A blue box."}
    first = pipe("A red ball.", num_frames=8, seed=3, upsample=False).frames
    assert np.array_equal(both.frames[:8], first)
    shots = pipe("a", shots=[("a red ball", 1.0), ("a blue box", 1.5)], seed=3, upsample=False)
    assert shots.frames.shape[0] == 20
    with pytest.raises(ValueError, match="a loop cannot have cuts"):
        pipe(caption, seconds=2.5, loop=True, upsample=False)


def test_timeline_events_reach_the_window_they_fall_in(pipe):
    prompts, _ = captions_read(
        pipe, "a red ball moves right", seconds=6.0, timeline=[(4.0, "the ball turns blue")], upsample=False
    )
    timed = [p for p in prompts if "turns blue" in p]
    assert timed and all("At 4.0 s" not in p for p in timed[1:]) and len(timed) < len(prompts) - 1
