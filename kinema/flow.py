"""Rectified flow on video latents, with a time per latent frame.

    x_t = (1 - t) x0 + t noise          t = 0: data, t = 1: noise
    v   = dx_t / dt = noise - x0        what the model learns to predict
    x_{t'} = x_t + (t' - t) v           one Euler step (t' < t when sampling)

Each latent frame has its own t, so conditioning frames (the first image, a clip to extend, keyframes) are kept
clean at t = 0 while the rest are noised, and the loss counts only the noisy frames. Latents are (B, C, T, H, W);
times are (B,) for the whole clip or (B, T) per latent frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

TASKS = ("none", "image_to_video", "extend_forward", "extend_backward", "keyframes", "connect")
MIN_FRAMES = {"none": 1, "image_to_video": 2, "extend_forward": 2, "extend_backward": 2, "keyframes": 2, "connect": 3}


def per_frame(t: Tensor | float, x: Tensor) -> Tensor:
    """Times (B,) or (B, T), or a number, shaped to broadcast against latents x (B, C, T, H, W)."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim == 0:
        return t
    if t.ndim == 1:
        return t.view(-1, 1, 1, 1, 1)
    if t.ndim == 2:
        return t.view(t.shape[0], 1, t.shape[1], 1, 1)
    raise ValueError(f"times must be a number, (B,) or (B, T), got {tuple(t.shape)}")


def path(x0: Tensor, noise: Tensor, t: Tensor | float) -> Tensor:
    """The straight path from data to noise: x_t = (1 - t) x0 + t noise."""
    t = per_frame(t, x0)
    return (1 - t) * x0 + t * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The path's velocity dx_t/dt = noise - x0 (the same at every t)."""
    return noise - x0


def euler_step(x: Tensor, v: Tensor, t: Tensor | float, t_next: Tensor | float) -> Tensor:
    """x_{t_next} = x_t + (t_next - t) v; frames whose t does not change (conditioning, t = 0) stay as they are."""
    return x + (per_frame(t_next, x) - per_frame(t, x)) * v


def sample_timesteps(
    n: int, generator: torch.Generator | None = None, mean: float = 0.0, std: float = 1.0, device=None
) -> Tensor:
    """n times from the logit-normal distribution, t = sigmoid(mean + std * N(0, 1)), in (0, 1) (SD3): the
    middle of the path, where the velocity is hardest to predict, is sampled most."""
    z = torch.randn(n, generator=generator, device=device)
    return torch.sigmoid(mean + std * z)


def shift_timesteps(t: Tensor, shift: float) -> Tensor:
    """t -> shift t / (1 + (shift - 1) t): shift > 1 spends more of the path near noise (large or long frames,
    where more of the signal survives a given noise level); 0 and 1 stay fixed."""
    return shift * t / (1 + (shift - 1) * t)


def token_shift(
    num_tokens: int,
    base_tokens: int = 256,
    max_tokens: int = 4096,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
) -> float:
    """The shift for a sequence of num_tokens: exp(mu), mu linear in the token count from base_shift at
    base_tokens to max_shift at max_tokens (as flux and SD3 do)."""
    slope = (max_shift - base_shift) / (max_tokens - base_tokens)
    return math.exp(base_shift + slope * (num_tokens - base_tokens))


def sampling_schedule(steps: int, shift: float = 1.0) -> Tensor:
    """steps + 1 times from 1 (noise) down to 0 (data), evenly spaced, then shifted."""
    if steps <= 0:
        raise ValueError(f"steps {steps}: must be positive")
    return shift_timesteps(torch.linspace(1.0, 0.0, steps + 1), shift)


def flow_loss(
    model_velocity: Tensor, x0: Tensor, noise: Tensor, mask: Tensor | None = None, weight: Tensor | None = None
) -> Tensor:
    """Mean squared error to the velocity noise - x0 over the noisy frames; mask (B, T) bool marks the clean
    conditioning frames, which are left out. All frames clean: zero. With `weight` (B, 1, T, H, W), the mean is
    weighted per latent position: sum(w * err) / sum(w) over the noisy frames."""
    err = (model_velocity.float() - velocity_target(x0, noise).float()).pow(2)  # (B, C, T, H, W)
    if mask is not None and mask.shape != (x0.shape[0], x0.shape[2]):
        raise ValueError(f"conditioning mask must be (B, T) = {(x0.shape[0], x0.shape[2])}, got {tuple(mask.shape)}")
    if weight is not None:
        want = (x0.shape[0], 1, *x0.shape[2:])
        if weight.shape != want:
            raise ValueError(f"loss weight must be (B, 1, T, H, W) = {want}, got {tuple(weight.shape)}")
        w = weight.float() if mask is None else weight.float() * per_frame((~mask).float(), err)
        return (err * w).sum() / (w.sum() * err.shape[1]).clamp_min(1e-12)
    if mask is None:
        return err.mean()
    noisy = per_frame((~mask).float(), err)  # (B, 1, T, 1, 1)
    per_frame_values = err.shape[1] * err.shape[3] * err.shape[4]
    return (err * noisy).sum() / (noisy.sum() * per_frame_values).clamp_min(1)


def task_frames(task: str, frames: int, generator: torch.Generator | None = None) -> Tensor:
    """Which of `frames` latent frames are given clean for one example of `task` (T,) bool:
    none: no frame; image_to_video: frame 0; extend_forward: a random prefix; extend_backward: a random suffix;
    keyframes: random frames; connect: a random prefix and a random suffix. At least one frame is left to generate."""
    if task not in TASKS:
        raise ValueError(f"conditioning task '{task}': choose one of {', '.join(TASKS)}")
    if frames < MIN_FRAMES[task]:
        raise ValueError(f"conditioning task '{task}' needs at least {MIN_FRAMES[task]} latent frames, got {frames}")

    def randint(lo: int, hi: int) -> int:  # in [lo, hi]
        return int(torch.randint(lo, hi + 1, (), generator=generator))

    clean = torch.zeros(frames, dtype=torch.bool)
    if task == "image_to_video":
        clean[0] = True
    elif task == "extend_forward":
        clean[: randint(1, frames - 1)] = True
    elif task == "extend_backward":
        clean[frames - randint(1, frames - 1) :] = True
    elif task == "keyframes":
        clean[torch.randperm(frames, generator=generator)[: randint(1, frames - 1)]] = True
    elif task == "connect":
        head = randint(1, frames - 2)
        clean[:head] = True
        clean[frames - randint(1, frames - 1 - head) :] = True
    return clean


def conditioning_mask(
    tasks: str | Sequence[str], batch: int, frames: int, generator: torch.Generator | None = None, device=None
) -> Tensor:
    """(B, T) bool of the latent frames given clean, one random draw per example; `tasks` is one task for the whole
    batch or one per example (see task_frames)."""
    names = [tasks] * batch if isinstance(tasks, str) else list(tasks)
    if len(names) != batch:
        raise ValueError(f"{len(names)} tasks for a batch of {batch}")
    return torch.stack([task_frames(name, frames, generator) for name in names]).to(device)


def frame_timesteps(t: Tensor, mask: Tensor, context: Tensor | float = 0.0) -> Tensor:
    """Per-frame times (B, T) from one sampled time per example t (B,): conditioning frames (mask True) get
    `context` (a number, one per example (B,), or per frame (B, T)): 0 for clean conditions, a little more for
    conditions noised on purpose (conditioning augmentation)."""
    c = torch.as_tensor(context, dtype=t.dtype, device=t.device)
    return torch.where(mask, c[:, None] if c.ndim == 1 else c, t[:, None])
