"""Rectified flow: the path and its velocity, the Euler step in closed form, time shifts, logit-normal times,
conditioning masks per task, and a loss that ignores conditioning frames."""

import math

import pytest
import torch

from kinema import flow


def latents(b=2, c=3, t=5, h=4, w=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, t, h, w, generator=g), torch.randn(b, c, t, h, w, generator=g)


def test_path_ends_and_velocity():
    x0, noise = latents()
    assert torch.equal(flow.path(x0, noise, torch.zeros(2)), x0)
    assert torch.equal(flow.path(x0, noise, torch.ones(2)), noise)
    eps = 1e-3
    t = torch.tensor([0.3, 0.7])
    fd = (flow.path(x0, noise, t + eps) - flow.path(x0, noise, t - eps)) / (2 * eps)
    assert torch.allclose(fd, flow.velocity_target(x0, noise), atol=1e-3)


def test_one_euler_step_with_exact_velocity_recovers_data():
    x0, noise = latents()
    v = flow.velocity_target(x0, noise)
    assert torch.allclose(flow.euler_step(noise, v, 1.0, 0.0), x0, atol=1e-6)
    x = flow.path(x0, noise, 0.8)  # from any point, any step lands on the path
    x_next = flow.euler_step(x, v, torch.full((2,), 0.8), torch.full((2,), 0.3))
    assert torch.allclose(x_next, flow.path(x0, noise, 0.3))


def test_per_frame_times_keep_clean_frames():
    x0, noise = latents(t=4)
    clean = torch.tensor([[True, False, False, False], [True, True, False, True]])
    t = flow.frame_timesteps(torch.tensor([1.0, 0.5]), clean)
    assert t.tolist() == [[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.0]]
    xt = flow.path(x0, noise, t)
    assert torch.equal(xt[0, :, 0], x0[0, :, 0]) and torch.equal(xt[1, :, 3], x0[1, :, 3])
    assert torch.allclose(xt[1, :, 2], 0.5 * x0[1, :, 2] + 0.5 * noise[1, :, 2])
    t_next = flow.frame_timesteps(torch.tensor([0.5, 0.3]), clean)
    x = flow.euler_step(xt, torch.randn_like(xt), t, t_next)
    assert torch.equal(x[:, :, 0], x0[:, :, 0])  # conditioning frames do not move
    # noised conditions: a level per example or per frame; still fixed by every step
    per_example = flow.frame_timesteps(torch.tensor([1.0, 0.5]), clean, torch.tensor([0.1, 0.2]))
    assert torch.allclose(per_example, torch.tensor([[0.1, 1.0, 1.0, 1.0], [0.2, 0.2, 0.5, 0.2]]))
    per_frame = torch.tensor([[0.1, 0.0, 0.0, 0.0], [0.0, 0.1, 0.0, 0.2]])
    t = flow.frame_timesteps(torch.tensor([1.0, 0.5]), clean, per_frame)
    assert torch.allclose(t, torch.tensor([[0.1, 1.0, 1.0, 1.0], [0.0, 0.1, 0.5, 0.2]]))
    x = flow.euler_step(xt, torch.randn_like(xt), t, flow.frame_timesteps(torch.tensor([0.5, 0.3]), clean, per_frame))
    assert torch.equal(x[0, :, 0], xt[0, :, 0]) and torch.equal(x[1, :, 3], xt[1, :, 3])


def test_shift_properties():
    t = torch.linspace(0, 1, 101)
    assert torch.equal(flow.shift_timesteps(t, 1.0), t)
    for s in (0.5, 3.0):
        st = flow.shift_timesteps(t, s)
        assert st[0] == 0 and st[-1] == 1
        assert (st.diff() > 0).all()
    assert (flow.shift_timesteps(t[1:-1], 3.0) > t[1:-1]).all()  # shift > 1 moves times towards noise
    shifts = [flow.token_shift(n) for n in (64, 256, 1024, 4096, 16384)]
    assert all(a < b for a, b in zip(shifts, shifts[1:]))
    assert flow.token_shift(256) == pytest.approx(math.exp(0.5))
    assert flow.token_shift(4096) == pytest.approx(math.exp(1.15))
    sched = flow.sampling_schedule(10, shift=3.0)
    assert sched.shape == (11,) and sched[0] == 1 and sched[-1] == 0 and (sched.diff() < 0).all()


def test_logit_normal_timesteps():
    t = flow.sample_timesteps(10_000, torch.Generator().manual_seed(0))
    assert ((t > 0) & (t < 1)).all()
    assert abs(t.median().item() - 0.5) < 0.02
    shifted = flow.sample_timesteps(10_000, torch.Generator().manual_seed(0), mean=1.0)
    assert shifted.median() > 0.7
    assert torch.equal(t, flow.sample_timesteps(10_000, torch.Generator().manual_seed(0)))


def test_conditioning_masks_per_task():
    g = torch.Generator().manual_seed(0)
    frames = 6
    assert not flow.conditioning_mask("none", 8, frames, g).any()
    i2v = flow.conditioning_mask("image_to_video", 8, frames, g)
    assert i2v[:, 0].all() and not i2v[:, 1:].any()
    for _ in range(20):
        fwd, bwd, key, con = (
            flow.conditioning_mask(task, 1, frames, g)[0]
            for task in ("extend_forward", "extend_backward", "keyframes", "connect")
        )
        for m in (fwd, bwd, key, con):
            assert 0 < m.sum() < frames  # something given, something to generate
        k = int(fwd.sum())
        assert fwd[:k].all() and not fwd[k:].any()  # a prefix
        k = int(bwd.sum())
        assert bwd[frames - k :].all() and not bwd[: frames - k].any()  # a suffix
        assert con[0] and con[-1] and not con.all()
        inner = con.int().diff()  # prefix, gap, suffix: exactly one drop and one rise
        assert (inner == -1).sum() == 1 and (inner == 1).sum() == 1
    mixed = flow.conditioning_mask(["none", "image_to_video"], 2, frames, g)
    assert mixed.tolist()[0] == [False] * frames and mixed[1, 0]


def test_conditioning_mask_errors():
    with pytest.raises(ValueError, match="choose one of"):
        flow.conditioning_mask("inpaint", 2, 4)
    with pytest.raises(ValueError, match="at least 3 latent frames"):
        flow.conditioning_mask("connect", 2, 2)
    with pytest.raises(ValueError, match="3 tasks for a batch of 2"):
        flow.conditioning_mask(["none"] * 3, 2, 4)


def test_loss_ignores_conditioning_frames():
    x0, noise = latents(t=4)
    v = flow.velocity_target(x0, noise)
    assert flow.flow_loss(v, x0, noise) == 0
    clean = torch.tensor([[True, False, False, False], [True, True, False, False]])
    wrong = v.clone()
    wrong[0, :, 0] += 100.0  # errors on conditioning frames are not counted
    wrong[1, :, 1] -= 100.0
    assert flow.flow_loss(wrong, x0, noise, clean) == 0
    wrong[0, :, 2] += 1.0  # an error of 1 on one of the 5 noisy frames
    assert flow.flow_loss(wrong, x0, noise, clean).item() == pytest.approx(1 / 5)
    assert flow.flow_loss(wrong, x0, noise, torch.ones(2, 4, dtype=torch.bool)) == 0


def test_weighted_loss_is_the_weighted_mean_over_noisy_frames():
    x0, noise = latents(t=4)
    v = flow.velocity_target(x0, noise)
    clean = torch.tensor([[True, False, False, False], [False, False, False, False]])
    ones = torch.ones(x0.shape[0], 1, *x0.shape[2:])
    wrong = v + torch.randn(v.shape, generator=torch.Generator().manual_seed(1))
    # weights of one: the plain loss, with and without a conditioning mask
    assert flow.flow_loss(wrong, x0, noise, clean, ones).item() == pytest.approx(
        flow.flow_loss(wrong, x0, noise, clean).item()
    )
    assert flow.flow_loss(wrong, x0, noise, None, ones).item() == pytest.approx(flow.flow_loss(wrong, x0, noise).item())
    # all the weight on one position of a noisy frame: that position's mean error over channels
    w = torch.zeros_like(ones)
    w[1, 0, 2, 1, 3] = 5.0
    w[0, 0, 0] = 7.0  # a clean frame's weight does not count
    want = (wrong - v)[1, :, 2, 1, 3].pow(2).mean().item()
    assert flow.flow_loss(wrong, x0, noise, clean, w).item() == pytest.approx(want)
    with pytest.raises(ValueError, match="loss weight must be"):
        flow.flow_loss(wrong, x0, noise, clean, ones[:, :, :2])
