"""The diffusion transformer: patches, shapes on any grid, RoPE, adaLN-Zero, per-frame timesteps, text masks,
folders, and a few training steps that lower the flow loss."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kinema import flow
from kinema.models.dit import PRESETS, DiT, DiTConfig, load_weights, param_count, patchify, preset, unpatchify
from kinema.models.layers import _NormRope, apply_rope, frame_position, norm_rope, rope_3d

TINY = DiTConfig(latent_channels=4, hidden=32, depth=2, heads=2, text_dim=16)


def perturbed(cfg: DiTConfig = TINY, seed: int = 0) -> DiT:
    """A DiT whose zero-initialised layers are moved off zero, so its output depends on every input."""
    torch.manual_seed(seed)
    model = DiT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def inputs(b=2, t=3, h=4, w=6, s=5, seed=0, cfg=TINY):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cfg.latent_channels, t, h, w, generator=g)
    text = torch.randn(b, s, cfg.text_dim, generator=g)
    return x, torch.rand(b, generator=g), text, torch.ones(b, s, dtype=torch.bool)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    patch=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3)),
    grid=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    c=st.integers(1, 4),
)
def test_patchify_unpatchify_round_trip(patch, grid, c):
    x = torch.randn(2, c, *(g * p for g, p in zip(grid, patch)))
    tokens = patchify(x, patch)
    assert tokens.shape == (2, grid[0] * grid[1] * grid[2], c * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, patch, grid), x)


def test_patchify_names_the_bad_size():
    with pytest.raises(ValueError, match=r"latent 5x15x16 is not divisible by patch \(1,2,2\); pad it to 5x16x16"):
        patchify(torch.zeros(1, 4, 5, 15, 16), (1, 2, 2))


@torch.no_grad()
@pytest.mark.parametrize("thw", [(1, 4, 4), (3, 4, 6), (5, 8, 2), (2, 2, 10)])
def test_output_shape_on_any_grid(thw):
    model = perturbed()
    x, t, text, mask = inputs(t=thw[0], h=thw[1], w=thw[2])
    out = model(x, t, text, mask)
    assert out.shape == x.shape and torch.isfinite(out).all()


@torch.no_grad()
def test_output_is_exactly_zero_at_init():
    torch.manual_seed(0)
    out = DiT(TINY)(*inputs())
    assert torch.equal(out, torch.zeros_like(out))


def test_rope_scores_depend_only_on_offsets():
    dims = (4, 6, 6)
    cos, sin = rope_3d(3, 5, 7, dims)  # (105, 8)
    q, k = torch.randn(16), torch.randn(16)
    rq = apply_rope(q.expand(1, 1, 105, 16), cos, sin)[0, 0].view(3, 5, 7, 16)
    rk = apply_rope(k.expand(1, 1, 105, 16), cos, sin)[0, 0].view(3, 5, 7, 16)
    score = lambda a, b: (rq[a] * rk[b]).sum()  # noqa: E731
    assert torch.allclose(score((0, 0, 0), (1, 2, 3)), score((1, 2, 3), (2, 4, 6)), atol=1e-4)
    assert torch.allclose(score((0, 1, 0), (0, 1, 0)), q @ k, atol=1e-4)
    small = rope_3d(2, 3, 4, dims)[0].view(2, 3, 4, 8)  # a smaller grid is the corner of a larger one
    assert torch.allclose(small, cos.view(3, 5, 7, 8)[:2, :3, :4])


@pytest.mark.parametrize("rotate", [True, False])
def test_norm_rope_is_rms_norm_then_rope_with_exact_gradients(rotate):
    """The fused QK norm + RoPE (hand-written backward) equals the composite and passes gradcheck."""
    torch.manual_seed(0)
    cos, sin = rope_3d(2, 2, 3, (8, 4, 4))  # (12, 8)
    rot = torch.complex(cos.double(), sin.double())[:, None, None] if rotate else None  # (L, 1, 1, 8)
    x = torch.randn(2, 12, 2, 3, 16, dtype=torch.double, requires_grad=True)  # (B, L, q/k, H, D)
    scale = torch.randn(2, 1, 16, dtype=torch.double, requires_grad=True)  # a gain each for q and k
    normed = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-6) * scale
    want = apply_rope(normed, cos[:, None, None], sin[:, None, None]) if rotate else normed
    assert torch.allclose(norm_rope(x.float(), scale, rot), want.float(), atol=1e-5)
    assert torch.autograd.gradcheck(lambda x, s: _NormRope.apply(x, s, rot, 1e-6), (x, scale))


@torch.no_grad()
def test_unseen_grid_works():
    model = perturbed()
    x, t, text, mask = inputs(t=2, h=4, w=4)
    model(x, t, text, mask)
    x, t, text, mask = inputs(t=4, h=12, w=6)
    assert torch.isfinite(model(x, t, text, mask)).all()


def test_bad_configs_fail_at_construction():
    with pytest.raises(ValueError, match="rope_dims"):
        DiTConfig(hidden=32, heads=2, rope_dims=(4, 4, 4))  # head is 16
    with pytest.raises(ValueError, match="rope_dims"):
        DiTConfig(hidden=32, heads=2, rope_dims=(4, 5, 7))  # odd
    with pytest.raises(ValueError, match="heads"):
        DiTConfig(hidden=30, heads=4)
    assert DiTConfig(hidden=32, heads=2, rope_dims=(4, 6, 6)).rope_axes == (4, 6, 6)
    with pytest.raises(ValueError, match="preset"):
        preset("huge")


@torch.no_grad()
def test_bad_inputs_are_clear_errors():
    model = DiT(TINY)
    x, t, text, mask = inputs()
    with pytest.raises(ValueError, match="latents must be"):
        model(x[:, :3], t, text, mask)
    with pytest.raises(ValueError, match="timesteps must be"):
        model(x, t[:, None].expand(2, 2), text, mask)
    with pytest.raises(ValueError, match="text states"):
        model(x, t, text[..., :8], mask)
    with pytest.raises(ValueError, match="text mask"):
        model(x, t, text, mask[:, :2])


@torch.no_grad()
def test_per_frame_timesteps():
    model = perturbed()
    x, t, text, mask = inputs(t=3)
    base = model(x, t, text, mask)
    assert torch.allclose(model(x, t[:, None].expand(2, 3), text, mask), base, atol=1e-6)  # (B,) = (B, T) constant
    tf = t[:, None].repeat(1, 3)
    tf[:, 0] = 0.0  # a clean conditioning frame among noisy ones
    out = model(x, tf, text, mask)
    assert torch.isfinite(out).all()
    assert (out[:, :, 0] - base[:, :, 0]).abs().max() > 1e-3  # frame 0's own output follows its time
    assert (out[:, :, 1:] - base[:, :, 1:]).abs().max() > 1e-6  # and the others see it through attention


@torch.no_grad()
def test_text_mask_hides_padding_and_empty_prompt_is_finite():
    model = perturbed()
    x, t, text, mask = inputs(s=5)
    mask[:, 3:] = False
    out = model(x, t, text, mask)
    text2 = text.clone()
    text2[:, 3:] = 100.0
    assert torch.allclose(model(x, t, text2, mask), out, atol=1e-5)
    empty = model(x, t, text, torch.zeros_like(mask))  # a fully masked prompt
    assert torch.isfinite(empty).all()
    assert torch.isfinite(model(x, t, text[:, :0], mask[:, :0])).all()  # no text tokens at all


@torch.no_grad()
def test_deterministic_and_batch_independent():
    model = perturbed()
    x, t, text, mask = inputs()
    a, b = model(x, t, text, mask), model(x, t, text, mask)
    assert torch.equal(a, b)
    one = model(x[:1], t[:1], text[:1], mask[:1])
    assert torch.allclose(one, a[:1], atol=1e-5)


def test_save_load_round_trip_and_mismatch(tmp_path):
    model = perturbed()
    model.save_pretrained(tmp_path / "dit")
    loaded = DiT.from_pretrained(tmp_path / "dit")
    assert loaded.config == model.config
    x, t, text, mask = inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x, t, text, mask), model(x, t, text, mask))
    DiT(DiTConfig(latent_channels=4, hidden=32, depth=3, heads=2, text_dim=16)).save_pretrained(tmp_path / "deep")
    (tmp_path / "deep" / "config.json").write_text((tmp_path / "dit" / "config.json").read_text())
    with pytest.raises(ValueError, match="does not match the weights"):
        DiT.from_pretrained(tmp_path / "deep")
    with pytest.raises(ValueError, match="no such folder"):
        DiT.from_pretrained(tmp_path / "missing")


def test_frame_position_names_each_place_the_same_at_every_size():
    f = frame_position(8, 12)
    assert f.shape == (96, 16) and torch.unique(f, dim=0).shape[0] == 96  # every token its own features
    # the centre row of 3 rows and the only row of 1 sit at the same height; likewise the centre column
    assert torch.allclose(frame_position(3, 5)[7], frame_position(1, 1)[0])
    # the top-left token of an 8x8 grid and of a 16x16 grid: the same corner, nearly the same features
    assert (frame_position(8, 8)[0] - frame_position(16, 16)[0]).abs().max() < 0.8
    assert (frame_position(8, 8)[0] - frame_position(8, 8)[63]).abs().max() > 1.0  # top left vs bottom right


@torch.no_grad()
def test_without_frame_pos_an_even_input_gives_an_even_output_and_with_it_not():
    """Rotary positions are relative: on an even input every token sees the same values, so a DiT without frame
    positions answers the same everywhere and cannot place anything; with them the answer depends on the place."""
    x, t, text, mask = inputs(b=1, t=2, h=6, w=8)
    even = x[:, :, :1, :1, :1].expand_as(x).contiguous()  # one value per channel, everywhere and always

    def spread(out):  # how much the answer changes from one patch (2 x 2) to the next, across the frame
        return max((out[..., 2:, :] - out[..., :-2, :]).abs().max(), (out[..., 2:] - out[..., :-2]).abs().max())

    assert spread(perturbed(TINY)(even, t, text, mask)) < 1e-5
    assert spread(perturbed(DiTConfig(**{**TINY.__dict__, "frame_pos": True}))(even, t, text, mask)) > 1e-2


def test_a_new_dits_frame_positions_start_as_strong_as_a_noise_patchs_embedding():
    """A place vector that starts at zero stays weak next to the patch embedding and goes unused; a new DiT's starts
    at about the size of a noise patch's embedding, and only a grown one (load_weights) starts at zero."""
    from kinema.models.dit import FRAME_POS_FREQS, FRAME_POS_STD, preset
    from kinema.models.layers import frame_position

    torch.manual_seed(0)
    model = DiT(preset("tiny"))
    assert abs(model.pos_embed.weight.std().item() - FRAME_POS_STD) < 0.02
    place = model.pos_embed(frame_position(8, 8, FRAME_POS_FREQS))
    place = (place - place.mean(0)).norm(dim=-1).mean()
    noise = model.x_embed(torch.randn(64, model.config.patch_dim)).norm(dim=-1).mean()
    assert 0.5 < place / noise < 2


@torch.no_grad()
def test_load_weights_grows_frame_pos_at_zero_and_keeps_the_function():
    old = perturbed(TINY)
    grown = perturbed(DiTConfig(**{**TINY.__dict__, "frame_pos": True}), seed=5)
    load_weights(grown, old)
    assert torch.equal(grown.pos_embed.weight, torch.zeros_like(grown.pos_embed.weight))
    x, t, text, mask = inputs()
    assert torch.equal(grown(x, t, text, mask), old(x, t, text, mask))
    with pytest.raises(ValueError, match="differ in shape"):
        load_weights(old, grown)  # frame positions are only ever added
    with pytest.raises(ValueError, match="differ in shape"):
        load_weights(perturbed(DiTConfig(**{**TINY.__dict__, "depth": 3, "frame_pos": True})), old)


def test_a_folder_saved_before_frame_pos_loads_without_it(tmp_path):
    import json

    perturbed(TINY).save_pretrained(tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    assert cfg.pop("frame_pos") is False
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))  # as written before the field existed
    assert DiT.from_pretrained(tmp_path / "old").pos_embed is None
    assert all(p.frame_pos for p in PRESETS.values())


def test_training_steps_lower_the_flow_loss():
    torch.manual_seed(0)
    model = DiT(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    x0, _, text, text_mask = inputs(b=4, t=3)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x0.shape, generator=g)
    clean = flow.conditioning_mask("image_to_video", 4, 3, generator=g)
    t = flow.frame_timesteps(flow.sample_timesteps(4, g), clean)
    losses = []
    for _ in range(4):
        loss = flow.flow_loss(model(flow.path(x0, noise, t), t, text, text_mask), x0, noise, clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_presets_and_flops():
    tiny = DiT(PRESETS["tiny"])
    n = sum(p.numel() for p in tiny.parameters())
    assert 2e6 < n < 6e6
    assert param_count(PRESETS["tiny"]) == n
    assert 30e6 < param_count(PRESETS["small"]) < 70e6
    assert tiny.flops_per_token(448) == 6 * n + 12 * 6 * 192 * 448
