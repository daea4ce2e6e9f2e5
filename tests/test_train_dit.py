"""DiT training: one process, 2-process DDP and FSDP2 (gloo) give the same loss curve; resume after a kill continues
it exactly; NaN stops with the last good checkpoint; conditioning masks, text dropout, data sources, CLI, bench."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kinema.models.dit import DiT, DiTConfig
from kinema.models.text import RandomTextEncoder
from kinema.models.vae import VAEConfig, VideoVAE
from kinema.train import dit as dit_mod
from kinema.train.dit import Prefetch, encode_prompts, flow_matching_loss, train_dit, with_null
from kinema.train.dit_data import ManifestClips, check_buckets, make_source

TINY = DiTConfig(latent_channels=4, hidden=32, depth=2, heads=2, text_dim=16)
BUCKETS = ((32, 32, 5, 1.0), (48, 32, 5, 1.0), (32, 32, 1, 0.5))
KW = dict(config=TINY, text="random", buckets=BUCKETS, every=2, warmup=2, progress=False, sample_steps=2)


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae") / "vae"
    VideoVAE(VAEConfig(latent_channels=4, channels=(8, 8, 8), time_kernel=(1, 1, 1), norm="none")).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def baseline(vae_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "one"
    train_dit("tiny", vae_dir, "world", run, steps=4, batch=4, **KW)
    return run


def losses(run):
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_run_folder_has_checkpoint_samples_curve_and_final(baseline):
    ck = baseline / "checkpoint"
    assert {"model.safetensors", "ema.safetensors", "optimizer.pt", "state.json"} <= {f.name for f in ck.iterdir()}
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 4 and state["data_position"]["step"] == 4 and "rng" in state
    assert DiT.from_pretrained(baseline / "final").config == TINY
    assert (baseline / "loss_curve.png").is_file()
    assert sorted(p.name for p in (baseline / "samples").glob("*.png")) == ["step_0000002.png", "step_0000004.png"]
    rows = [json.loads(line) for line in (baseline / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert all(r["tokens_per_s"] > 0 and r["mfu"] is None and np.isfinite(r["loss"]) for r in rows)
    assert not list(baseline.glob(".checkpoint*"))


def val_losses(run):
    return [json.loads(line).get("val_loss") for line in (run / "log.jsonl").read_text().splitlines()]


def test_val_loss_is_the_held_out_loss_of_the_ema_weights(baseline, vae_dir):
    import contextlib

    from kinema.eval.vae import load_vae
    from kinema.models.text import load_text_encoder
    from kinema.train.dit_data import VAL_STEP

    logged = val_losses(baseline)
    assert [v is not None for v in logged] == [False, True, False, True]  # at the checkpoints (every 2 steps)
    vae, encoder, source = load_vae(vae_dir), load_text_encoder("random", dim=16), make_source("world", 0, BUCKETS)
    cpu = torch.device("cpu")
    val = [dit_mod._load(source(VAL_STEP + k, 4, range(4)), vae, encoder, cpu) for k in range(2)]
    final = DiT.from_pretrained(baseline / "final").eval()
    again = dit_mod.validation_loss(final, val, 0, 0.5, contextlib.nullcontext())
    assert again == pytest.approx(logged[3], rel=1e-5)
    torch.manual_seed(0)
    untrained = DiT(TINY).eval()
    assert dit_mod.validation_loss(untrained, val, 0, 0.5, contextlib.nullcontext()) != pytest.approx(
        logged[3], rel=1e-3
    )
    plain = dict(KW, val_batches=0)
    train_dit("tiny", vae_dir, "world", baseline.parent / "noval", steps=2, batch=4, **plain)
    assert val_losses(baseline.parent / "noval") == [None, None]
    assert losses(baseline.parent / "noval") == losses(baseline)[:2]  # validation draws nothing from training's streams


def test_prefetching_changes_no_number(baseline, vae_dir, tmp_path):
    train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=4, batch=4, prefetch=False, **KW)
    assert losses(tmp_path / "r") == losses(baseline)
    assert val_losses(tmp_path / "r") == val_losses(baseline)
    a = DiT.from_pretrained(baseline / "final").state_dict()
    b = DiT.from_pretrained(tmp_path / "r" / "final").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prefetch_loads_the_next_step_on_its_thread_and_raises_its_errors():
    import threading

    seen = []

    def load(step):
        if step == 3:
            raise ValueError("video 3 cannot be read")
        seen.append((step, threading.current_thread().name))
        return step * 10

    batches = Prefetch(load, steps=5)
    assert [batches(0), batches(1), batches(2)] == [0, 10, 20]
    batches.settle()
    assert seen[0] == (0, threading.current_thread().name)  # the first batch has nobody to load it ahead
    assert all(name.startswith("kinema-prefetch") for _, name in seen[1:]) and [s for s, _ in seen] == [0, 1, 2]
    with pytest.raises(ValueError, match="video 3"):
        batches(3)
    batches.close()


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_give_the_one_process_loss_curve(baseline, vae_dir, tmp_path, parallel):
    train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=4, batch=4, nproc=2, parallel=parallel, **KW)
    np.testing.assert_allclose(losses(tmp_path / "r"), losses(baseline), rtol=1e-4)
    np.testing.assert_allclose(val_losses(tmp_path / "r")[1::2], val_losses(baseline)[1::2], rtol=1e-4)
    one = DiT.from_pretrained(baseline / "final").state_dict()
    two = DiT.from_pretrained(tmp_path / "r" / "final").state_dict()
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-4


def test_resume_after_a_kill_continues_the_same_curve(baseline, vae_dir, tmp_path, monkeypatch):
    real, calls = dit_mod.flow_matching_loss, {"n": 0}

    def killed_at_step_3(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # after the step-2 checkpoint and the step-2 log row
        return real(*args)

    monkeypatch.setattr(dit_mod, "flow_matching_loss", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=4, batch=4, **KW)
    monkeypatch.setattr(dit_mod, "flow_matching_loss", real)
    train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=4, batch=4, resume=True, **KW)
    assert losses(tmp_path / "r") == losses(baseline)
    assert val_losses(tmp_path / "r") == val_losses(baseline)
    a = DiT.from_pretrained(baseline / "final").state_dict()
    b = DiT.from_pretrained(tmp_path / "r" / "final").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="not empty"):
        train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=4, batch=4, **KW)
    other = dict(KW, config=DiTConfig(latent_channels=4, hidden=64, depth=2, heads=2, text_dim=16))
    with pytest.raises(ValueError, match="another shape"):
        train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=6, batch=4, resume=True, **other)


def test_nan_loss_stops_with_the_last_good_checkpoint(vae_dir, tmp_path, monkeypatch):
    real, calls = dit_mod.flow_matching_loss, {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        loss = real(*args)
        return loss * float("nan") if calls["n"] == 4 else loss

    monkeypatch.setattr(dit_mod, "flow_matching_loss", flaky)
    with pytest.raises(FloatingPointError, match="last good checkpoint \\(step 2\\)"):
        train_dit("tiny", vae_dir, "world", tmp_path / "r", steps=6, batch=2, **KW)
    assert json.loads((tmp_path / "r" / "checkpoint" / "state.json").read_text())["step"] == 2


class Recorder(torch.nn.Module):
    """Returns w * x_t and remembers its inputs, so the test sees what the loss fed the model."""

    config = TINY

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, t, text, mask):
        self.x, self.t = x, t
        self.out = self.w * x
        self.out.retain_grad()
        return self.out


def test_conditioning_frames_are_clean_and_out_of_the_loss():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(16, 4, 5, 2, 2, generator=g)
    gens = [torch.Generator().manual_seed(i) for i in range(16)]
    model = Recorder()
    flow_matching_loss(model, x0, torch.zeros(16, 1, 16), torch.ones(16, 1, dtype=torch.bool), gens, 1.0, 20).backward()
    clean = model.t == 0  # (B, T)
    assert clean.any(1).all() and (~clean).any(1).all()  # every example conditions on some frames and makes others
    frames = clean[:, None, :, None, None].expand_as(x0)
    assert torch.equal(model.x[frames], x0[frames])  # clean frames are the data itself
    assert (model.out.grad[frames] == 0).all() and (model.out.grad[~frames] != 0).all()
    assert len({tuple(c.tolist()) for c in clean}) > 4  # the tasks' masks vary
    model = Recorder()
    flow_matching_loss(model, x0, torch.zeros(16, 1, 16), torch.ones(16, 1, dtype=torch.bool), gens, 0.0, 20)
    assert (model.t > 0).all()  # cond_p 0: plain text-to-video


def test_context_noise_noises_the_conditions_of_half_the_examples_and_keeps_them_out_of_the_loss():
    x0 = torch.randn(32, 4, 5, 2, 2, generator=torch.Generator().manual_seed(0))
    text, mask = torch.zeros(32, 1, 16), torch.ones(32, 1, dtype=torch.bool)

    def run(level):
        model, gens = Recorder(), [torch.Generator().manual_seed(i) for i in range(32)]
        flow_matching_loss(model, x0, text, mask, gens, 1.0, 20, level).backward()
        return model

    plain, noised = run(0.0), run(0.2)
    cond = plain.t == 0  # the same tasks, times and noise are drawn first, whatever the level
    assert torch.equal(noised.t[~cond], plain.t[~cond])
    levels = torch.stack([noised.t[i][cond[i]].unique() for i in range(32)]).squeeze(1)  # one level per example
    assert (levels >= 0).all() and (levels <= 0.2).all()
    assert 4 < (levels == 0).sum() < 28  # about half stay clean
    frames = cond[:, None, :, None, None].expand_as(x0)
    assert not torch.equal(noised.x[frames], x0[frames])  # the others see their conditions noised
    clean_rows = (levels == 0)[:, None, None, None, None].expand_as(x0) & frames
    assert torch.equal(noised.x[clean_rows], x0[clean_rows])
    assert (noised.out.grad[frames] == 0).all()  # still out of the loss


def test_text_dropout_gives_the_null_prompt():
    enc = RandomTextEncoder(dim=8)
    text, mask, cut = encode_prompts(enc, ["a red ball", "a blue square slides"], "cpu")
    null, _ = enc.encode([""])
    assert mask.sum(1).tolist() == [4, 5] and cut == 0
    assert torch.equal(text[1], enc.encode(["a blue square slides"])[0][0])
    cached, cmask = enc.encode(["a red ball", "a green circle"])
    t2, m2 = with_null(cached, cmask, [False, True], null[0])
    assert torch.equal(t2[0], cached[0]) and m2.sum(1).tolist() == [4, 1] and torch.equal(t2[1, :1], null[0])


def test_sources_same_batch_in_any_split_and_buckets(tmp_path):
    world = make_source("world", seed=3, buckets=BUCKETS)
    whole = world(5, 4, range(4))
    halves = [world(5, 4, range(0, 2)), world(5, 4, range(2, 4))]
    assert torch.equal(torch.cat([h.frames for h in halves]), whole.frames)
    assert halves[0].captions + halves[1].captions == whole.captions
    with pytest.raises(ValueError, match="try 32x32 or 48x32"):
        check_buckets(((40, 32, 5, 1.0),), stride=8, temporal=4, patch=(1, 2, 2))
    with pytest.raises(ValueError, match="expected 'world'"):
        make_source(str(tmp_path / "missing"))


def test_manifest_clips_bucket_by_aspect(tmp_path):
    from kinema.io import write_video

    rng = np.random.default_rng(0)
    write_video(tmp_path / "wide.mp4", rng.integers(0, 255, (6, 32, 64, 3), dtype=np.uint8), 12)
    write_video(tmp_path / "tall.mp4", rng.integers(0, 255, (6, 64, 32, 3), dtype=np.uint8), 12)
    (tmp_path / "m.csv").write_text("path,text\nwide.mp4,a wide clip\ntall.mp4,a tall clip\n")
    src = ManifestClips(tmp_path / "m.csv", buckets=((32, 16, 5, 1.0), (16, 32, 5, 1.0)))
    seen = {}
    for step in range(6):
        ex = src(step, 2, range(2))
        seen[tuple(ex.frames.shape)] = set(ex.captions)
    assert seen == {(2, 3, 5, 16, 32): {"a wide clip"}, (2, 3, 5, 32, 16): {"a tall clip"}}


def test_cli_bad_input_is_one_error_line(tmp_path, vae_dir):
    from kinema.cli import app

    runner = CliRunner()
    cases = [
        (["--preset", "huge"], "--preset 'huge'"),
        (["--data", str(tmp_path / "none.csv")], "--data"),
        (["--vae", str(tmp_path / "novae")], "no such folder"),
        (["--vae", vae_dir, "--steps", "1"], "latent channels"),  # the tiny preset takes 6 channels, this VAE 4
        (["--vae", vae_dir, "--batch", "3", "--nproc", "2"], "divisible"),
        (["--val-batches", "-1"], "--val-batches"),
        (["--vae", vae_dir, "--object-weight", "-1"], "--object-weight"),
    ]
    for args, message in cases:
        r = runner.invoke(app, ["train", "dit", "--out", str(tmp_path / "run"), *args])
        assert r.exit_code == 2 and message in r.output, (args, r.output)


def test_bench_prints_the_issue_keys():
    pytest.importorskip("diffusers")
    from kinema.eval.bench_train import bench_train

    r = bench_train("tiny", tokens=16, repeats=1)
    keys = {"ours_tokens_per_s", "diffusers_tokens_per_s", "ratio", "params", "flops_per_token", "mfu", "device"}
    assert set(r) == keys and r["ours_tokens_per_s"] > 0 and r["mfu"] is None
    assert r["params"] == sum(p.numel() for p in DiT(dit_mod.dit_preset("tiny")).parameters())
    prof = bench_train("tiny", tokens=16, repeats=1, profile=True)["profile"]
    for side in ("ours", "diffusers"):
        assert 0 < prof[side]["kernel_share"] < 1 and prof[side]["top_ops"][0][1] > 0
    assert prof["ratio_ceiling"] > 1


def test_init_warm_starts_from_a_dit_folder(baseline, vae_dir, tmp_path):
    from safetensors.torch import load_file

    final = baseline / "final"
    kw = {**KW, "every": 1, "seed": 1}  # another seed: a fresh init would differ from the baseline's weights
    train_dit("tiny", vae_dir, "world", tmp_path / "w", steps=1, batch=4, init=str(final), **kw)
    ema = load_file(str(tmp_path / "w" / "checkpoint" / "ema.safetensors"))
    start = DiT.from_pretrained(final).state_dict()
    torch.manual_seed(1)
    fresh = DiT(TINY).state_dict()
    keys = [k for k in start if start[k].ndim == 2 and k in ema]
    near = sum((ema[k] - start[k]).abs().mean().item() for k in keys)
    far = sum((fresh[k] - start[k]).abs().mean().item() for k in keys)
    assert near < 0.2 * far
    # a DiT saved without frame positions warm-starts one with them: the same weights, the new layer at zero
    grown = dict(KW, config=DiTConfig(**{**TINY.__dict__, "frame_pos": True}), steps=1) | {"every": 1, "seed": 1}
    train_dit("tiny", vae_dir, "world", tmp_path / "g", batch=4, init=str(final), **grown)
    ema = load_file(str(tmp_path / "g" / "checkpoint" / "ema.safetensors"))
    assert sum((ema[k] - start[k]).abs().mean().item() for k in keys) < 0.2 * far
    assert ema["pos_embed.weight"].abs().max() < 1e-2  # one step from zero
    with pytest.raises(ValueError, match="another DiT shape"):
        other = dict(KW, config=DiTConfig(latent_channels=4, hidden=64, depth=2, heads=2, text_dim=16))
        train_dit("tiny", vae_dir, "world", tmp_path / "x", steps=1, batch=4, init=str(final), **other)


def test_latent_weights_pool_object_maps_onto_the_causal_latent_grid():
    m = torch.zeros(1, 1, 9, 8, 8)  # 9 frames -> latent frames {0}, {1..4}, {5..8}; 8 px -> 2 latent px
    m[0, 0, 0, :4, :4] = 1.0  # frame 0, top-left quarter
    m[0, 0, 5:7, 4:, 4:] = 2.0  # half of latent frame 2's frames, bottom-right quarter
    w = dit_mod.latent_weights(m, (3, 2, 2), 3.0)
    want = torch.ones(1, 1, 3, 2, 2)
    want[0, 0, 0, 0, 0] = 1 + 3.0
    want[0, 0, 2, 1, 1] = 1 + 3.0 * 1.0
    assert torch.allclose(w, want)


def test_object_weighted_training_renders_maps_and_trains(baseline, vae_dir, tmp_path):
    plain, weighted = make_source("world", 3, BUCKETS), make_source("world", 3, BUCKETS, objects=True)
    a, b = plain(5, 4, range(4)), weighted(5, 4, range(4))
    assert a.objects is None and torch.equal(a.frames, b.frames) and a.captions == b.captions
    assert b.objects.shape == (4, 1, *b.frames.shape[2:]) and b.objects.max() >= 1  # every scene has an object
    train_dit("tiny", vae_dir, "world", tmp_path / "o", steps=2, batch=4, objects=4.0, **KW)
    assert json.loads((tmp_path / "o" / "config.json").read_text())["objects"] == 4.0
    got, plain_run = losses(tmp_path / "o"), losses(baseline)[:2]  # same seed, data and start: only the weights differ
    assert all(np.isfinite(got)) and got[0] != pytest.approx(plain_run[0], rel=1e-3)
    with pytest.raises(ValueError, match="--object-weight"):
        train_dit("tiny", vae_dir, str(tmp_path / "m.csv"), tmp_path / "p", steps=1, batch=4, objects=1.0, **KW)
    assert not (tmp_path / "p").exists()


def test_levels_pick_the_world_levels_and_all_four_keep_the_old_stream(vae_dir, tmp_path):
    from kinema.train.dit_data import WorldClips
    from kinema.world.sample import sample_scene

    for i in range(6):  # all four levels draw exactly the scenes drawn before levels could be chosen
        old = np.random.default_rng([3, i])
        want = sample_scene(old, int(old.integers(1, 5)), 32, 32, seconds=5 / 12, fps=12.0)
        assert WorldClips(3).scene(np.random.default_rng([3, i]), 32, 32, 5) == want
    assert {WorldClips(3, levels=(2,)).scene(np.random.default_rng([3, i]), 32, 32, 5).level for i in range(8)} == {2}
    assert {WorldClips(3, levels=(1, 3)).scene(np.random.default_rng([4, i]), 32, 32, 1).level for i in range(12)} == {
        1,
        3,
    }
    with pytest.raises(ValueError, match="--levels 5"):
        WorldClips(levels=(5,))
    with pytest.raises(ValueError, match="needs --data world"):
        make_source(str(tmp_path / "m.csv"), levels=(1,))
    train_dit("tiny", vae_dir, "world", tmp_path / "l", steps=1, batch=4, levels=(1,), **KW)
    assert json.loads((tmp_path / "l" / "config.json").read_text())["levels"] == [1]


def test_an_image_is_its_scenes_first_frame_where_the_caption_places_things():
    from kinema.train.dit_data import WorldClips
    from kinema.train.videos import to_tensor
    from kinema.world.render import render

    source = WorldClips(5, buckets=((32, 32, 1, 1.0),), levels=(1,))
    got = source(0, 4, range(4))
    for i in range(4):
        scene = source.scene(np.random.default_rng([5, 0, i]), 32, 32, 1)
        frames = render(scene)
        assert len(frames) > 1 and torch.equal(got.frames[i], to_tensor(frames[:1]))


def test_plain_draws_level_one_scenes_in_one_palette_captions_and_all():
    from kinema.train.dit_data import PLAIN, WorldClips, make_source
    from kinema.world.vocab import BACKGROUND_COLORS, COLORS

    def scenes(source, n=24):
        return [source.scene(np.random.default_rng([5, 0, i]), 32, 32, 1) for i in range(n)]

    world, plain = WorldClips(5, levels=(1,)), WorldClips(5, levels=(1,), plain=1.0)
    got = plain(0, 4, range(4))
    for caption, frame in zip(got.captions, got.frames):
        words = caption.lower()
        assert "charcoal" in words or "background" not in words
        assert not any(c in words for c in COLORS if c != PLAIN[0])
        # the background is charcoal and the object's pixels are red
        rgb = {tuple(int(v) for v in px) for px in (frame.permute(1, 2, 3, 0).reshape(-1, 3) * 127.5 + 127.5).round()}
        assert any(max(abs(a - b) for a, b in zip(px, BACKGROUND_COLORS[PLAIN[1]])) <= 2 for px in rgb)
        assert any(max(abs(a - b) for a, b in zip(px, COLORS[PLAIN[0]])) <= 2 for px in rgb)
    recoloured = [s for s in scenes(plain) if s.shots[0].objects and s.shots[0].objects[0].color == PLAIN[0]]
    assert len(recoloured) == 24 and all(s.shots[0].background.colors == [PLAIN[1]] for s in recoloured)
    assert len({s.shots[0].objects[0].color for s in scenes(world)}) > 3  # off: the world's colours
    half = [s.shots[0].background.colors == [PLAIN[1]] for s in scenes(WorldClips(5, levels=(1,), plain=0.5), 64)]
    assert 16 < sum(half) < 48
    busy = scenes(WorldClips(5, levels=(3,), plain=1.0), 8)  # other levels keep their colours
    assert len({o.color for s in busy for o in s.shots[0].objects}) > 2
    with pytest.raises(ValueError, match="--plain 1.5"):
        WorldClips(5, plain=1.5)
    with pytest.raises(ValueError, match="need --data world"):
        make_source("clips.csv", plain=0.5)


def test_placed_draws_level_one_scenes_whose_dense_caption_names_the_place():
    from kinema.train.dit_data import WorldClips
    from kinema.world.caption import place_phrases
    from kinema.world.vocab import REGIONS

    phrases = [p for r in REGIONS for p in place_phrases(r)]

    def named(source):
        return sum(any(p in c for p in phrases) for c in source(0, 32, range(32)).captions)

    buckets = ((32, 32, 1, 1.0),)
    assert named(WorldClips(3, buckets, levels=(1,), placed=1.0)) == 32
    assert named(WorldClips(3, buckets, levels=(1,))) < 24  # the world's own mix: many captions leave it out
    assert named(WorldClips(3, buckets, levels=(1,), placed=1.0, plain=1.0)) == 32
    with pytest.raises(ValueError, match="--placed -0.5"):
        WorldClips(3, placed=-0.5)


def test_image_batch_sizes_the_steps_of_image_buckets_only(vae_dir, tmp_path, baseline):
    run = tmp_path / "img"
    train_dit("tiny", vae_dir, "world", run, steps=8, batch=2, image_batch=6, **KW)
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    sizes = {(r["shape"][0], r["batch"]) for r in rows}
    assert sizes == {(1, 6), (2, 2)}  # this seed's eight steps draw both kinds of bucket
    assert json.loads((run / "config.json").read_text())["image_batch"] == 6
    plain = [json.loads(line) for line in (baseline / "log.jsonl").read_text().splitlines()]
    assert {r["batch"] for r in plain} == {4}
    with pytest.raises(ValueError, match="--image-batch 0"):
        train_dit("tiny", vae_dir, "world", tmp_path / "z", steps=1, batch=2, image_batch=0, **KW)
    assert not (tmp_path / "z").exists()


def test_workers_build_the_same_batches_and_the_same_run(vae_dir, tmp_path, baseline):
    from kinema.train.dit_data import ParallelSource, WorldClips

    source = WorldClips(7, buckets=BUCKETS, objects=True)
    with ParallelSource(source, 2) as parallel:
        for step in range(3):
            alone, split = source(step, 5, range(1, 4)), parallel(step, 5, range(1, 4))
            assert split.captions == alone.captions and torch.equal(split.frames, alone.frames)
            assert torch.equal(split.objects, alone.objects)
        assert parallel.bucket_at(2) == source.bucket_at(2)
    train_dit("tiny", vae_dir, "world", tmp_path / "w", steps=4, batch=4, workers=2, **KW)
    assert losses(tmp_path / "w") == losses(baseline)
    with pytest.raises(ValueError, match="--workers -1"):
        train_dit("tiny", vae_dir, "world", tmp_path / "z", steps=1, batch=2, workers=-1, **KW)


def test_echo_serves_each_batch_for_steps_in_a_row(vae_dir, tmp_path, baseline):
    train_dit("tiny", vae_dir, "world", tmp_path / "e", steps=4, batch=4, echo=2, **KW)
    rows = [json.loads(line) for line in (tmp_path / "e" / "log.jsonl").read_text().splitlines()]
    assert rows[0]["loss"] == losses(baseline)[0]  # step 0: the same batch, times and noise
    assert rows[0]["shape"] == rows[1]["shape"] and rows[2]["shape"] == rows[3]["shape"]
    assert rows[1]["loss"] != rows[0]["loss"]  # the same clips at new times and noise
    with pytest.raises(ValueError, match="--echo 0"):
        train_dit("tiny", vae_dir, "world", tmp_path / "z", steps=1, batch=2, echo=0, **KW)


def test_time_limit_and_stop_at_stop_with_a_checkpoint_and_resume_goes_on_exactly(vae_dir, tmp_path, baseline):
    run = tmp_path / "t"
    train_dit("tiny", vae_dir, "world", run, steps=4, batch=4, time_limit=1e-6, **KW)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == 1
    assert (run / "final" / "model.safetensors").is_file() and len(losses(run)) == 1
    train_dit("tiny", vae_dir, "world", run, steps=4, batch=4, resume=True, stop_at=3, **KW)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == 3
    train_dit("tiny", vae_dir, "world", run, steps=4, batch=4, resume=True, **KW)
    assert losses(run) == losses(baseline)
    with pytest.raises(ValueError, match="--stop-at 5"):
        train_dit("tiny", vae_dir, "world", tmp_path / "z", steps=4, batch=4, stop_at=5, **KW)


def test_cli_levels_errors(tmp_path):
    from kinema.cli import app

    for flag, message in (("a,b", "expected levels separated by commas"), ("0,1", "--levels 0,1")):
        r = CliRunner().invoke(app, ["train", "dit", "--out", str(tmp_path / "r"), "--levels", flag, "--steps", "1"])
        assert r.exit_code == 2 and message in r.stderr, r.output
        assert not (tmp_path / "r").exists()
    bad = (("--echo", "0"), ("--time-limit", "0"), ("--workers", "-1"), ("--image-batch", "0"), ("--contrast", "-1"))
    for flag, value in (*bad, ("--contrast-beta", "0")):
        r = CliRunner().invoke(app, ["train", "dit", "--out", str(tmp_path / "r"), flag, value, "--steps", "1"])
        assert r.exit_code == 2 and f"{flag} {value}" in r.stderr, r.output
        assert not (tmp_path / "r").exists()


def test_a_run_begun_before_frame_positions_resumes_without_them(baseline, vae_dir, tmp_path):
    import shutil

    run = tmp_path / "old"
    shutil.copytree(baseline, run)
    settings = json.loads((run / "config.json").read_text())
    del settings["dit"]["frame_pos"]  # as written before the field existed
    (run / "config.json").write_text(json.dumps(settings))
    grown = dict(KW, config=DiTConfig(**{**TINY.__dict__, "frame_pos": True}))  # what the preset now says
    train_dit("tiny", vae_dir, "world", run, steps=5, batch=4, resume=True, **grown)
    assert len(losses(run)) == 5 and DiT.from_pretrained(run / "final").config.frame_pos is False
    other = dict(KW, config=DiTConfig(**{**TINY.__dict__, "depth": 3, "frame_pos": True}))
    with pytest.raises(ValueError, match="another shape"):
        train_dit("tiny", vae_dir, "world", run, steps=6, batch=4, resume=True, **other)


def test_time_mean_moves_the_training_times_towards_noise(vae_dir, tmp_path):
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x, t, text, mask):
            seen.append(t[:, -1])  # the last latent frame is never a condition (cond_p = 0 anyway)
            return torch.zeros_like(x)

    x0, text = torch.zeros(256, 6, 1, 4, 4), torch.zeros(256, 3, 8)
    for mean in (0.0, 1.5):
        gens = [torch.Generator().manual_seed(i) for i in range(256)]
        flow_matching_loss(Spy(), x0, text, None, gens, 0.0, 16, time_mean=mean)
    assert torch.equal(seen[0], seen[0].clamp(0, 1)) and seen[1].mean() > seen[0].mean() + 0.15
    assert (seen[1] > 0.8).float().mean() > 2 * (seen[0] > 0.8).float().mean()
    with pytest.raises(ValueError, match="--time-mean 5"):
        train_dit("tiny", vae_dir, "world", tmp_path / "z", steps=1, batch=2, time_mean=5.0, **KW)
    assert not (tmp_path / "z").exists()


def test_counterfactual_prompts_add_a_preference_only_a_text_reading_model_can_meet():
    torch.manual_seed(0)
    x0 = torch.randn(4, 4, 5, 2, 2)
    text, mask = torch.randn(4, 3, 16), torch.ones(4, 3, dtype=torch.bool)
    negatives = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool), [1, 3]

    def loss(model, contrast, stats=None):
        gens = [torch.Generator().manual_seed(i) for i in range(4)]
        return flow_matching_loss(model, x0, text, mask, gens, 0.5, 20, 0.0, None, 0.0, negatives, contrast, stats)

    # A model that ignores the prompt: the same output under both, a gap of 0, the loss plus weight * log 2
    blind, stats = Recorder(), {}
    plain = flow_matching_loss(blind, x0, text, mask, [torch.Generator().manual_seed(i) for i in range(4)], 0.5, 20)
    assert torch.allclose(loss(blind, (0.1, 50.0), stats), plain + 0.1 * np.log(2))
    assert blind.x.shape[0] == 6 and torch.equal(blind.x[4:], blind.x[[1, 3]])  # the same noised latents again
    assert torch.equal(blind.t[4:], blind.t[[1, 3]]) and stats["contrast_gap"] == 0
    assert torch.equal(loss(blind, (0.0, 50.0)), plain)  # weight 0: no extra rows, the plain loss
    # A DiT reads its prompt: the loss adds weight * softplus(-beta * gap), the gap its own loss under the
    # counterfactual prompt minus that under the true one
    dit, stats, negatives = DiT(TINY), {}, (negatives[0][:1], negatives[1][:1], [1])
    for w in dit.parameters():  # (the gates and the output start at zero: every prompt would give the same)
        torch.nn.init.normal_(w, std=0.1)
    total, own = loss(dit, (0.1, 50.0), stats), loss(dit, (0.0, 50.0))
    gap = torch.tensor(stats["contrast_gap"])
    assert gap != 0 and torch.allclose(total, own + 0.1 * torch.nn.functional.softplus(-50 * gap))
    total.backward()
    assert dit.blocks[0].cross.kv.weight.grad.abs().sum() > 0


def test_text_dropout_drops_the_counterfactuals_of_the_dropped_prompts():
    x0, text, mask = torch.zeros(3, 4, 1, 2, 2), torch.randn(3, 2, 16), torch.ones(3, 2, dtype=torch.bool)
    negatives = torch.arange(2.0)[:, None, None].expand(2, 4, 16), torch.ones(2, 4, dtype=torch.bool), [0, 2]
    null = torch.full((1, 16), 9.0)

    def dropped(seed: int) -> bool:  # text dropout's one draw per example, at rate 0.5
        return bool(torch.rand((), generator=torch.Generator().manual_seed(seed)) < 0.5)

    seeds = {d: next(k for k in range(100) if dropped(k) == d) for d in (False, True)}

    def prepare(drops):
        gens = [torch.Generator().manual_seed(seeds[d]) for d in drops]
        return dit_mod._prepare((x0, text, mask, 0, None, negatives), null, gens, 0.5)

    *_, kept = prepare([False, False, True])
    assert kept[2] == [0] and torch.equal(kept[0], negatives[0][:1])
    *_, kept = prepare([True, False, True])
    assert kept is None
    *_, kept = prepare([False, False, False])
    assert kept[2] == [0, 2]


def test_a_contrast_run_logs_the_counterfactual_gap(vae_dir, baseline, tmp_path):
    run = train_dit("tiny", vae_dir, "world", tmp_path / "c", steps=4, batch=4, contrast=0.05, **KW)
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["contrast_gap"]) for r in rows)
    # Step 0 is the baseline's step 0 with counterfactuals: the model (its output starts at zero) cannot tell them
    # apart yet, so the loss is the plain one plus 0.05 * log 2
    assert rows[0]["contrast_gap"] == 0 and rows[0]["loss"] == pytest.approx(losses(baseline)[0] + 0.05 * np.log(2))
    assert json.loads((run / "config.json").read_text())["contrast"] == 0.05


def test_a_plain_run_logs_no_counterfactual_gap(baseline):
    assert not any("contrast_gap" in line for line in (baseline / "log.jsonl").read_text().splitlines())
