"""The causal video VAE: causality, chunked = whole, shapes, folders, bad input, and exact training resume."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from kinema.models.vae import VAEConfig, VideoVAE, pad_frames, tiled
from kinema.train import vae as train_mod
from kinema.train.vae import train_vae

TINY = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3))


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VideoVAE(TINY).eval()


def clip(t=17, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1


@torch.no_grad()
def test_shapes_images_and_videos(vae):
    assert vae.encode(clip(1)).shape == (1, 4, 1, 8, 8)
    z = vae.encode(clip(17))
    assert z.shape == (1, 4, 5, 8, 8)
    assert vae.decode(z).shape == (1, 3, 17, 32, 32)
    assert vae.decode(vae.encode(clip(1))).shape == (1, 3, 1, 32, 32)


@torch.no_grad()
def test_encoder_is_causal(vae):
    x = clip(17)
    z = vae.encode(x)
    assert torch.allclose(vae.encode(x[:, :, :1]), z[:, :, :1], atol=1e-5)
    assert torch.allclose(vae.encode(x[:, :, :9]), z[:, :, :3], atol=1e-5)
    y = x.clone()
    y[:, :, 9:] = 0  # changing the future leaves the past's latents alone
    assert torch.allclose(vae.encode(y)[:, :, :3], z[:, :, :3], atol=1e-5)


@torch.no_grad()
def test_decoder_is_causal(vae):
    z = vae.encode(clip(17))
    y = vae.decode(z)
    assert torch.allclose(vae.decode(z[:, :, :1]), y[:, :, :1], atol=1e-5)
    assert torch.allclose(vae.decode(z[:, :, :3]), y[:, :, :9], atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("chunk", [4, 8, 12])
def test_chunked_encode_equals_whole(vae, chunk):
    x = clip(25)
    assert (vae.encode(x, chunk=chunk) - vae.encode(x)).abs().max() < 1e-4


@torch.no_grad()
@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_chunked_decode_equals_whole(vae, chunk):
    z = vae.encode(clip(25))
    assert (vae.decode(z, chunk=chunk) - vae.decode(z)).abs().max() < 1e-4


@torch.no_grad()
def test_cache_carries_the_past(vae):
    """Without the cache, a chunk pads with its own first frame and comes out different."""
    x = clip(9)
    whole = vae.encode(x)
    alone = vae.encode_moments(x[:, :, 1:5])[0]
    assert (alone - whole[:, :, 1:2]).abs().max() > 1e-4


@torch.no_grad()
def test_tiling_matches_whole_when_one_tile_covers_the_frame(vae):
    x = clip(5, 32, 32)
    whole = vae.encode(x)
    t = tiled(vae.encode, x, tile=32, overlap=8, scale=1 / 4, out_channels=4)
    assert torch.allclose(t, whole, atol=1e-5)
    t2 = tiled(vae.encode, clip(5, 48, 64), tile=32, overlap=16, scale=1 / 4, out_channels=4)
    assert t2.shape == (1, 4, 2, 12, 16) and torch.isfinite(t2).all()


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(1, 4, 5, 32, 32), "video must be"),
        (torch.zeros(1, 3, 0, 32, 32), "zero frames"),
        (torch.zeros(1, 3, 6, 32, 32), "1 \\+ 4k frames"),
        (torch.zeros(1, 3, 5, 30, 32), "multiples of 4"),
        (torch.full((1, 3, 5, 32, 32), float("nan")), "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(vae, x, match):
    with pytest.raises(ValueError, match=match):
        vae.encode(x)


def test_pad_frames():
    x, orig = pad_frames(clip(6, 30, 30), 4, 4)
    assert x.shape[2:] == (9, 32, 32) and orig == (6, 30, 30)
    assert torch.equal(x[:, :, 8], x[:, :, 5])


def test_folder_roundtrip_and_mismatch(vae, tmp_path):
    vae.save_pretrained(tmp_path / "v")
    back = VideoVAE.from_pretrained(tmp_path / "v")
    x = clip(5)
    with torch.no_grad():
        assert torch.equal(back.encode(x), vae.encode(x))
    cfg = json.loads((tmp_path / "v" / "config.json").read_text())
    cfg["channels"] = [8, 16, 32]
    (tmp_path / "v" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match the weights"):
        VideoVAE.from_pretrained(tmp_path / "v")
    with pytest.raises(ValueError, match="no such folder"):
        VideoVAE.from_pretrained(tmp_path / "missing")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text(json.dumps({"kind": "video-vae"}))
    (tmp_path / "c" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        VideoVAE.from_pretrained(tmp_path / "c")


def test_training_resumes_exactly(tmp_path):
    kw = dict(preset="tiny", data="world", batch=1, every=2, progress=False, config=TINY, warmup=2)
    train_vae(out=tmp_path / "a", steps=4, **kw)
    train_vae(out=tmp_path / "b", steps=2, **kw)
    with open(tmp_path / "b" / "log.jsonl", "a") as f:  # a killed run logged past its last checkpoint
        f.write(json.dumps({"step": 2, "loss": 99.0}) + "\n")
    train_vae(out=tmp_path / "b", steps=4, resume=True, **kw)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))
    a = VideoVAE.from_pretrained(tmp_path / "a" / "final").state_dict()
    b = VideoVAE.from_pretrained(tmp_path / "b" / "final").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "loss_curve.png").is_file()
    assert len(list((tmp_path / "a" / "samples").glob("*.png"))) == 2
    with pytest.raises(ValueError, match="not empty"):
        train_vae(out=tmp_path / "a", steps=4, **kw)


def test_decoder_only_keeps_the_encoder_and_the_calibration(tmp_path):
    kw = dict(preset="tiny", data="world", batch=1, every=2, progress=False, config=TINY, warmup=1)
    train_vae(out=tmp_path / "a", steps=2, **kw)
    first = VideoVAE.from_pretrained(tmp_path / "a" / "final")
    calibrated = VideoVAE(dataclasses.replace(first.config, shift=0.25, scale=2.0))
    calibrated.load_state_dict(first.state_dict())
    calibrated.save_pretrained(tmp_path / "cal")
    train_vae(out=tmp_path / "b", steps=3, init=tmp_path / "cal", decoder_only=True, lr=1e-2, **kw)
    tuned = VideoVAE.from_pretrained(tmp_path / "b" / "final")
    assert (tuned.config.shift, tuned.config.scale) == (0.25, 2.0)
    before, after = first.state_dict(), tuned.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    with pytest.raises(ValueError, match="needs --init"):
        train_vae(out=tmp_path / "c", steps=1, decoder_only=True, **kw)
    other = dict(kw, config=VAEConfig(latent_channels=8, channels=(8, 16, 16), time_kernel=(1, 3, 3)))
    with pytest.raises(ValueError, match="another VAE shape"):
        train_vae(out=tmp_path / "d", steps=1, init=tmp_path / "cal", **other)


def test_encoder_only_keeps_the_decoder(tmp_path):
    kw = dict(preset="tiny", data="world", batch=1, every=2, progress=False, config=TINY, warmup=1)
    train_vae(out=tmp_path / "a", steps=2, **kw)
    train_vae(out=tmp_path / "b", steps=3, init=tmp_path / "a", encoder_only=True, lr=1e-2, objects=4.0, **kw)
    before = VideoVAE.from_pretrained(tmp_path / "a" / "final").state_dict()
    after = VideoVAE.from_pretrained(tmp_path / "b" / "final").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    for bad in (dict(), dict(init=tmp_path / "a", decoder_only=True), dict(init=tmp_path / "a", decoder_blocks=3)):
        with pytest.raises(ValueError, match="encoder-only training needs --init"):
            train_vae(out=tmp_path / "c", steps=1, encoder_only=True, **bad, **kw)
    assert not (tmp_path / "c").exists()


def test_training_stops_on_nan_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = train_mod.vae_loss
    calls = {"n": 0}

    def flaky(model, x, kl_weight, *rest):
        calls["n"] += 1
        loss, parts = real(model, x, kl_weight, *rest)
        return (loss * float("nan"), parts) if calls["n"] == 4 else (loss, parts)

    monkeypatch.setattr(train_mod, "vae_loss", flaky)
    with pytest.raises(FloatingPointError, match="last good checkpoint \\(step 2\\)"):
        train_vae("tiny", "world", tmp_path / "r", steps=6, batch=1, every=2, progress=False, config=TINY)
    state = json.loads((tmp_path / "r" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    assert np.isfinite(state["step"])


@torch.no_grad()
def test_tiny_preset_is_causal_and_chunkable():
    from kinema.models.vae import PRESETS

    torch.manual_seed(0)
    m = VideoVAE(PRESETS["tiny"]).eval()
    x = clip(17, 32, 32)
    z = m.encode(x)
    assert (m.encode(x, chunk=8) - z).abs().max() < 1e-4
    assert torch.allclose(m.encode(x[:, :, :1]), z[:, :, :1], atol=1e-5)
    assert (m.decode(z, chunk=2) - m.decode(z)).abs().max() < 1e-4


def test_frame_group_norm_keeps_chunked_encoding_equal_to_whole():
    torch.manual_seed(0)
    cfg = VAEConfig(channels=(8, 16), time_kernel=(3, 3), time_down=(True,), norm="group", patch=2)
    m = VideoVAE(cfg).eval()
    for p in m.parameters():  # zero-initialised residual branches would hide a chunking bug
        torch.nn.init.normal_(p, std=0.1)
    x = clip(9, 16, 16)
    with torch.no_grad():
        assert (m.encode(x, chunk=4) - m.encode(x)).abs().max() < 1e-4


def test_space_down_flags_set_the_spatial_stride():
    cfg = VAEConfig(channels=(8, 16, 16), time_kernel=(1, 1, 3), space_down=(True, False), patch=2)
    assert cfg.spatial_stride == 4 and cfg.temporal_stride == 4
    z = VideoVAE(cfg).encode(clip(5, 16, 16))
    assert z.shape[2:] == (2, 4, 4)
    with pytest.raises(ValueError, match="space_down"):
        VAEConfig(channels=(8, 16), time_kernel=(1, 3), time_down=(True,), space_down=(True, False))


def test_chroma_weights_favour_coloured_pixels():
    from kinema.train.vae import chroma_weights

    x = torch.zeros(1, 3, 1, 2, 1)
    x[0, :, 0, 0, 0] = torch.tensor([1.0, -1.0, -1.0])  # red
    w = chroma_weights(x, 4.0)
    assert w.mean().item() == pytest.approx(1.0)
    assert w[0, 0, 0, 0, 0] > 4 * w[0, 0, 0, 1, 0]


def test_edge_loss_sees_blur_that_shifts_nothing_else():
    from kinema.train.vae import edge_l1, vae_loss

    x = -torch.ones(1, 3, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0  # a sharp square
    blurred = torch.nn.functional.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
    assert edge_l1(x, x) == 0 and edge_l1(blurred, x) > 0.1
    assert edge_l1(x + 0.5, x) == 0  # a uniform shift has the same edges
    model = VideoVAE(VAEConfig(latent_channels=4, channels=(8, 8, 16), time_kernel=(1, 1, 3), norm="none"))
    torch.manual_seed(0)
    plain, parts = vae_loss(model, x, 1e-6)
    torch.manual_seed(0)
    with_edge, parts_edge = vae_loss(model, x, 1e-6, edge=2.0)
    assert "edge" not in parts and torch.isclose(with_edge, plain + 2.0 * parts_edge["edge"], rtol=1e-4)


def test_small_object_map_weighs_a_small_object_like_a_large_one():
    from kinema.train.videos import small_object_map

    small, large = np.zeros((2, 32, 32), np.float32), np.zeros((2, 32, 32), np.float32)
    small[:, 2:6, 2:6] = 1  # 16 px
    large[1, 10:30, 10:30] = 1  # 400 px, shown in frame 1 only
    m = small_object_map([small, large], ref_area=64.0, cap=8.0)
    assert m[0, 3, 3] == 4.0 and m[1, 20, 20] == 1.0 and m[0, 20, 20] == 0  # 64/16; clipped up to 1; not shown
    assert m[:, 0, 0].max() == 0
    tiny = np.zeros((1, 32, 32), np.float32)
    tiny[0, 0, 0] = 1
    assert small_object_map([tiny], cap=8.0)[0, 0, 0] == 8.0  # capped
    assert small_object_map([]).size == 0


def test_object_weighted_loss_moves_weight_onto_objects():
    from kinema.train.vae import vae_loss

    model = VideoVAE(VAEConfig(latent_channels=4, channels=(8, 8, 16), time_kernel=(1, 1, 3), norm="none"))
    x = -torch.ones(1, 3, 1, 16, 16)
    obj = torch.zeros(1, 1, 1, 16, 16)
    obj[..., 2:5, 2:5] = 2.0
    x[..., 2:5, 2:5] = 1.0
    torch.manual_seed(0)
    plain, _ = vae_loss(model, x, 1e-6, edge=1.0)
    torch.manual_seed(0)
    same, _ = vae_loss(model, x, 1e-6, edge=1.0, objects=8.0, object_map=torch.zeros_like(obj))
    assert torch.isclose(plain, same, rtol=1e-5)  # an empty map weighs nothing differently
    with pytest.raises(ValueError, match="small-object maps"):
        vae_loss(model, x, 1e-6, objects=8.0)
    # all the error on the object: the weighted loss is larger; all of it off the object: smaller
    for where, bigger in ((obj > 0), True), ((obj == 0), False):
        recon = torch.where(where, x + 0.5, x)
        fake = lambda _x, r=recon: (r, torch.zeros(1, 4, 1, 4, 4), torch.zeros(1, 4, 1, 4, 4))  # noqa: E731
        a, _ = vae_loss(fake, x, 0.0)
        b, _ = vae_loss(fake, x, 0.0, objects=8.0, object_map=obj)
        assert (b > 5 * a) if bigger else (b < 0.7 * a)  # weights 17 on 9 px, 1 on 247 px, then mean 1


def test_anchor_adds_the_latent_drift_from_a_reference():
    from kinema.train.vae import vae_loss

    model = VideoVAE(VAEConfig(latent_channels=4, channels=(8, 8, 16), time_kernel=(1, 1, 3), norm="none"))
    x = clip(1, 16, 16)
    mean = model.encode_moments(x)[0].detach()
    torch.manual_seed(0)
    plain, _ = vae_loss(model, x, 1e-6)
    torch.manual_seed(0)
    same, parts = vae_loss(model, x, 1e-6, anchor=10.0, anchor_mean=mean)
    assert parts["anchor"] == 0 and torch.isclose(plain, same)  # its own means: no drift
    torch.manual_seed(0)
    moved, parts = vae_loss(model, x, 1e-6, anchor=10.0, anchor_mean=mean + 0.1)
    assert parts["anchor"] == pytest.approx(0.01, rel=1e-4) and torch.isclose(moved, plain + 0.1, rtol=1e-4)
    with pytest.raises(ValueError, match="reference encoder"):
        vae_loss(model, x, 1e-6, anchor=1.0)


def test_anchored_training_keeps_latents_near_the_init(tmp_path):
    kw = dict(steps=4, batch=1, every=4, progress=False, config=TINY, lr=3e-3, edge=1.0, objects=4.0)
    train_vae("tiny", "world", tmp_path / "init", **kw)
    init = tmp_path / "init" / "final"
    with pytest.raises(ValueError, match="anchored encoder needs"):
        train_vae("tiny", "world", tmp_path / "x", anchor=1.0, **kw)
    with pytest.raises(ValueError, match="anchored encoder needs"):
        train_vae("tiny", "world", tmp_path / "x", anchor=1.0, init=init, decoder_only=True, **kw)
    drift = {}
    for a in (0.0, 1000.0):
        run = train_vae("tiny", "world", tmp_path / f"a{a:g}", anchor=a, init=init, **kw)
        x = clip(5, 32, 32)
        with torch.no_grad():
            before = VideoVAE.from_pretrained(init).encode_moments(x)[0]
            after = VideoVAE.from_pretrained(run / "final").encode_moments(x)[0]
        drift[a] = (after - before).pow(2).mean().item()
    assert drift[1000.0] < drift[0.0] / 2  # the anchor holds the encoder back


def test_object_weighting_needs_world_data(tmp_path):
    with pytest.raises(ValueError, match="needs the world data"):
        train_vae("tiny", str(tmp_path / "m.csv"), tmp_path / "r", steps=1, objects=1.0, progress=False, config=TINY)


def test_posterior_starts_nearly_deterministic():
    # unit posterior noise at init drowns the small initial means and the decoder learns only the mean colour
    torch.manual_seed(0)
    m = VideoVAE(VAEConfig(channels=(8, 16), time_kernel=(1, 3), time_down=(True,)))
    mean, logvar = m.encode_moments(clip(5, 16, 16))
    assert logvar.mean().item() < -8


def _trained_like(cfg: VAEConfig, seed: int = 0) -> VideoVAE:
    """A VAE whose every weight is random and non-zero, as after training (fresh blocks start as the identity)."""
    torch.manual_seed(seed)
    v = VideoVAE(cfg).eval()
    with torch.no_grad():
        for p in v.parameters():  # unit-scale activations: 1 / sqrt(fan-in)
            p.copy_(torch.randn_like(p) * (p[0].numel() ** -0.5 if p.ndim > 1 else 0.1))
    return v


@pytest.mark.parametrize(("channels", "blocks"), [((12, 20, 24), None), (None, 3), ((10, 16, 20), 4)])
@torch.no_grad()
def test_grown_decoder_computes_the_same_video(channels, blocks):
    from kinema.models.vae import grow_decoder

    cfg = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none")
    small = _trained_like(cfg)
    big = grow_decoder(small, channels, blocks).eval()
    assert big.config.dec_channels == (channels or cfg.channels)
    assert big.config.dec_blocks == (blocks or cfg.blocks + 1)
    assert sum(p.numel() for p in big.decoder.parameters()) > sum(p.numel() for p in small.decoder.parameters())
    x = clip(t=9, h=16, w=16)
    assert torch.equal(big.encode(x), small.encode(x))  # the encoder, and so the latent space, is the same
    z = small.encode(x)
    torch.testing.assert_close(big.decode(z), small.decode(z), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(big.decode(z, chunk=1), small.decode(z), atol=1e-5, rtol=1e-5)


def test_grown_decoder_learns_through_its_new_channels():
    from kinema.models.vae import grow_decoder

    cfg = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none")
    big = grow_decoder(_trained_like(cfg), (12, 20, 24), 2).train()
    z = torch.randn(1, 4, 3, 4, 4)
    big.decode(z).square().mean().backward()
    w = big.decoder.conv_out.conv.weight  # old outputs (RGB) read the 8 old and 4 new full-size channels
    assert torch.all(w[:, 8:] == 0)
    assert w.grad[:, 8:].abs().sum() > 0  # ...and the zero weights that join the new ones get a gradient


def test_grow_decoder_refuses_what_would_change_the_function():
    from kinema.models.vae import grow_decoder

    cfg = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none")
    with pytest.raises(ValueError, match="widths >="):
        grow_decoder(VideoVAE(cfg), (4, 16, 16))
    with pytest.raises(ValueError, match="blocks 1 must be >="):
        grow_decoder(VideoVAE(cfg), None, 1)
    with pytest.raises(ValueError, match="without norms"):
        grow_decoder(VideoVAE(dataclasses.replace(cfg, norm="rms")), (8, 16, 32))


def test_training_grows_the_init_decoder_and_keeps_the_encoder(tmp_path):
    cfg = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none")
    _trained_like(cfg).save_pretrained(tmp_path / "init")
    kw = dict(preset="tiny", data="world", batch=1, every=2, progress=False, config=cfg, warmup=1)
    train_vae(
        out=tmp_path / "a", steps=2, init=tmp_path / "init", decoder_only=True, decoder_channels=[12, 16, 24], **kw
    )
    grown = VideoVAE.from_pretrained(tmp_path / "a" / "final")
    assert grown.config.decoder_channels == (12, 16, 24)
    before = VideoVAE.from_pretrained(tmp_path / "init").state_dict()
    assert all(torch.equal(before[k], v) for k, v in grown.state_dict().items() if k.startswith("encoder."))
    # resuming rebuilds the grown shape before loading the checkpoint
    train_vae(
        out=tmp_path / "a",
        steps=3,
        init=tmp_path / "init",
        decoder_only=True,
        decoder_channels=[12, 16, 24],
        resume=True,
        **kw,
    )
    with pytest.raises(ValueError, match="cannot grow"):
        train_vae(out=tmp_path / "b", steps=1, init=tmp_path / "init", decoder_channels=[4, 16, 16], **kw)


def test_a_grown_decoder_stays_grown_when_training_goes_on(tmp_path):
    cfg = VAEConfig(latent_channels=4, channels=(8, 16, 16), time_kernel=(1, 3, 3), norm="none")
    _trained_like(cfg).save_pretrained(tmp_path / "init")
    kw = dict(preset="tiny", data="world", batch=1, every=2, progress=False, config=cfg, warmup=1, decoder_only=True)
    train_vae(
        out=tmp_path / "a", steps=2, init=tmp_path / "init", decoder_channels=[12, 16, 24], decoder_blocks=3, **kw
    )
    train_vae(out=tmp_path / "b", steps=2, init=tmp_path / "a" / "final", **kw)  # no decoder flags: the init's shape
    goes_on = VideoVAE.from_pretrained(tmp_path / "b" / "final").config
    assert (goes_on.decoder_channels, goes_on.decoder_blocks) == ((12, 16, 24), 3)


@torch.no_grad()
def test_refined_latents_decode_closer_to_the_input_and_leave_the_model_alone(vae):
    x = vae.decode(torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(3)))  # a reachable target
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    z = vae.encode(x)
    err = lambda z, chunk=None: (vae.decode(z, chunk=chunk) - x).abs().mean().item()  # noqa: E731
    assert torch.equal(vae.encode(x, refine=0), z)
    whole = vae.encode(x, refine=20)
    assert whole.shape == z.shape and err(whole) < 0.7 * err(z)
    # chunked: windows in decode_chunks order through the cache; the chunked decode is what they were fitted to
    windows = vae.refine_latents(x, z, 20, chunk=1)
    assert windows.shape == z.shape and err(windows, chunk=1) < 0.7 * err(z, chunk=1)
    assert torch.equal(vae.encode(x, chunk=4, refine=3), vae.refine_latents(x, vae.encode(x, chunk=4), 3, chunk=8))
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    assert all(p.grad is None for p in vae.parameters())
    for bad in (dict(steps=-1), dict(steps=2, lr=0.0), dict(steps=2, chunk=0)):
        with pytest.raises(ValueError, match="must be"):
            vae.refine_latents(x, z, **bad)
