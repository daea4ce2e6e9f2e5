"""Solving the flow ODE dx/dt = v(x, t) from noise (t = 1) to data (t = 0), with clean conditioning frames.

Each latent frame has its own time: frames given as conditions stay at t = 0 (kinema.flow.frame_timesteps), so
every step leaves them as they are, and the model sees them clean beside the frames being generated.

    Euler:  x' = x + (t' - t) v(x, t)
    Heun:   x~ = x + (t' - t) v1,   x' = x + (t' - t) (v1 + v(x~, t')) / 2   (Euler on the last step, to t' = 0)
    CFG:    v = v_null + g (v_prompt - v_null), both halves in one batch
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .. import flow

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x (B, C, T, H, W), per-frame times (B, T)) -> v


def batch_text(cond: tuple[Tensor, Tensor], null: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Prompt and null-prompt states (B, S_i, D) with masks, padded to one length and stacked: (2B, S, D), (2B, S)."""
    (a, am), (b, bm) = cond, null
    s = max(a.shape[1], b.shape[1])

    def pad(x: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        extra = s - x.shape[1]
        return torch.nn.functional.pad(x, (0, 0, 0, extra)), torch.nn.functional.pad(m, (0, extra))

    (a, am), (b, bm) = pad(a, am), pad(b, bm)
    return torch.cat([a, b]), torch.cat([am, bm])


def guided(
    model: torch.nn.Module,
    text: Tensor,
    mask: Tensor,
    guidance: float,
    frames: tuple[Tensor, Tensor, float] | None = None,
) -> Velocity:
    """The velocity with classifier-free guidance; `text`/`mask` hold the prompt's rows then the null prompt's
    (batch_text). guidance 1 runs the prompt alone.

    `frames` = (given (B, T) bool, noise like x, scale) adds guidance on the given frames, as InstructPix2Pix
    guides on its input image: a third branch sees neither the prompt nor the given frames (they come in noised to
    the generated frames' time, as in a text-to-video example), and
    v = v(-, -) + scale (v(frames, -) - v(-, -)) + guidance (v(frames, prompt) - v(frames, -)).
    scale 1 is plain classifier-free guidance."""
    b = text.shape[0] // 2
    given, eps, scale = frames if frames is not None else (None, None, 1.0)
    if given is not None and (bool(given.all()) or not bool(given.any())):
        scale = 1.0  # nothing given, or nothing to generate: no frame guidance to give

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        if guidance == 1.0 and scale == 1.0:
            return model(x, t, text[:b], mask[:b])
        if scale == 1.0:
            v = model(torch.cat([x, x]), torch.cat([t, t]), text, mask)
            v_cond, v_null = v.chunk(2)
            return v_null + guidance * (v_cond - v_null)
        t_gen = t.masked_fill(given, -1.0).amax(1, keepdim=True)  # (B, 1): the time of the frames being made
        t_bare = torch.where(given, t_gen, t)
        x_bare = torch.where(flow.per_frame(given.float(), x) > 0, flow.path(x, eps, t_bare), x)
        v = model(torch.cat([x, x, x_bare]), torch.cat([t, t, t_bare]), torch.cat([text, text[b:]]),
                  torch.cat([mask, mask[b:]]))  # fmt: skip
        v_cond, v_null, v_bare = v.chunk(3)
        return v_bare + scale * (v_null - v_bare) + guidance * (v_cond - v_null)

    return velocity


def schedule(steps: int, shift: float, strength: float = 1.0) -> Tensor:
    """Times from `strength` down to 0: the shifted schedule's times below `strength`, starting at `strength`
    (strength 1: the whole path from noise; less: an edit that starts part way, as img2img does)."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength {strength}: must be in (0, 1]")
    full = flow.sampling_schedule(steps, shift)
    if strength >= 1:
        return full
    return torch.cat([torch.tensor([strength]), full[full < strength]])


@torch.no_grad()
def solve(
    velocity: Velocity,
    x: Tensor,
    times: Tensor,
    clean: Tensor,
    method: str = "euler",
    on_step: Callable[[int], None] | None = None,
    context: Tensor | float = 0.0,
) -> Tensor:
    """Integrate x (B, C, T, H, W) along `times` (decreasing to 0); frames where clean (B, T) is True stay fixed,
    at time `context` (a number, per example (B,) or per frame (B, T): 0 for clean conditions, more for conditions
    the caller noised to that time). `on_step(n)` is told after each step how many model evaluations it took."""
    if method not in ("euler", "heun"):
        raise ValueError(f"sampler {method!r}: choose euler or heun")
    b = x.shape[0]
    for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
        tf = flow.frame_timesteps(torch.full((b,), t), clean, context)  # (B, T): `context` on given frames
        tn = flow.frame_timesteps(torch.full((b,), t_next), clean, context)
        v = velocity(x, tf)
        second = method == "heun" and t_next > 0
        if second:
            x_euler = flow.euler_step(x, v, tf, tn)
            v = (v + velocity(x_euler, tn)) / 2
        x = flow.euler_step(x, v, tf, tn)
        if on_step is not None:
            on_step(2 if second else 1)
    return x


def evaluations(steps: int, method: str) -> int:
    """Model calls a solve of `steps` steps makes (Heun: two per step but one on the last)."""
    return steps if method == "euler" else 2 * steps - 1
