"""Transformer building blocks as small pure functions: 3D rotary embedding, modulation, RMS norm, attention.

Attention tensors are (B, L, H, D): batch, tokens, heads, head size. Rotary tables are (L, D/2) angles' cos and sin
for a (t, h, w) token grid flattened in that order, the order `patchify` gives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def rope_axis(n: int, dim: int, theta: float = 10000.0, device=None) -> Tensor:
    """Rotation angles (n, dim/2) of positions 0..n-1 along one axis: pos * theta^(-2i/dim)."""
    if dim % 2:
        raise ValueError(f"rotary axis size {dim} must be even")
    freqs = theta ** -(torch.arange(0, dim, 2, device=device, dtype=torch.float64) / dim)
    return torch.arange(n, device=device, dtype=torch.float64)[:, None] * freqs[None]


def rope_3d(
    t: int, h: int, w: int, dims: tuple[int, int, int], theta: float = 10000.0, device=None
) -> tuple[Tensor, Tensor]:
    """cos and sin (t*h*w, sum(dims)/2) for a t x h x w grid: the head splits into a time, a row and a column part
    (dims), each rotated by its own position. Built for the grid at hand, so sizes never seen in training work."""
    at, ah, aw = (rope_axis(n, d, theta, device) for n, d in zip((t, h, w), dims))
    angles = torch.cat(
        [
            at[:, None, None].expand(t, h, w, -1),
            ah[None, :, None].expand(t, h, w, -1),
            aw[None, None, :].expand(t, h, w, -1),
        ],
        dim=-1,
    )  # (t, h, w, D/2)
    angles = rearrange(angles, "t h w d -> (t h w) d").float()
    return angles.cos(), angles.sin()


def frame_position(h: int, w: int, freqs: int = 4, device=None) -> Tensor:
    """Where each token of an h x w grid sits in the frame, (h*w, 4 * freqs): sin and cos of its row and column
    centres as fractions of the frame in [-1, 1], at frequencies pi/2 .. pi/2 * 2^(freqs-1). The same place gets the
    same features at every size and aspect ratio, so words like "lower left" can be grounded at all of them."""
    f = math.pi / 2 * 2.0 ** torch.arange(freqs, device=device, dtype=torch.float32)
    y = ((torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 - 1)[:, None] * f  # (h, F)
    x = ((torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 - 1)[:, None] * f  # (w, F)
    rows = torch.cat([y.sin(), y.cos()], -1)[:, None].expand(h, w, -1)
    cols = torch.cat([x.sin(), x.cos()], -1)[None].expand(h, w, -1)
    return torch.cat([rows, cols], -1).reshape(h * w, 4 * freqs)


def rope_complex(cos: Tensor, sin: Tensor) -> Tensor:
    """The rotations cos + i sin as one complex table, built once per forward and shared by every block."""
    return torch.complex(cos.float(), sin.float())


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each pair (x[2i], x[2i+1]) of x (..., D) by the angle whose cos, sin (broadcastable to (..., D/2))
    are given."""
    return apply_rope_complex(x, rope_complex(cos, sin))


def apply_rope_complex(x: Tensor, rot: Tensor) -> Tensor:
    """Rotate the pairs of x (..., D) by the unit complex numbers rot (broadcastable to (..., D/2)): one complex
    product (x[2i] + i x[2i+1]) (cos + i sin), which runs as one contiguous kernel (strided real pairs were the
    slowest part of a CPU training step)."""
    pairs = torch.view_as_complex(rearrange(x.float(), "... (d r) -> ... d r", r=2).contiguous())
    return rearrange(torch.view_as_real(pairs * rot), "... d r -> ... (d r)").type_as(x)


class _NormRope(torch.autograd.Function):
    """rope(x / rms(x) * scale) with a hand-written backward: the rotation is undone by its conjugate and the RMS
    norm's gradient is one closed form, a few kernels where autograd's trace of the composite takes about twice as
    many (queries' and keys' norm and rotation were the largest cost of a CPU step after matmuls and attention)."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor, rot: Tensor, eps: float) -> Tensor:
        r = torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)
        xhat = x * r
        ctx.save_for_backward(xhat, r, scale, rot)
        if rot is None:
            return xhat * scale
        return torch.view_as_real(torch.view_as_complex((xhat * scale).unflatten(-1, (-1, 2))) * rot).flatten(-2)

    @staticmethod
    def backward(ctx, grad: Tensor):
        xhat, r, scale, rot = ctx.saved_tensors
        g = grad
        if rot is not None:  # the gradient before the rotation
            g = torch.view_as_real(torch.view_as_complex(grad.unflatten(-1, (-1, 2)).contiguous()) * rot.conj())
            g = g.flatten(-2)
        grad_scale = None
        if ctx.needs_input_grad[1]:
            dims = [i for i in range(g.ndim) if i < g.ndim - scale.ndim or scale.shape[i - g.ndim + scale.ndim] == 1]
            grad_scale = (g * xhat).sum(dims, keepdim=True).view_as(scale)
        g = g * scale  # gradient of xhat
        grad_x = (g - xhat * (g * xhat).mean(-1, keepdim=True)) * r
        return grad_x, grad_scale, None, None


def norm_rope(x: Tensor, scale: Tensor, rot: Tensor | None, eps: float = 1e-6) -> Tensor:
    """RMS-norm x (..., D) in float32 with a gain `scale` (broadcastable to x), then rotate its pairs by the
    complex `rot` (broadcastable to (..., D/2)) unless it is None."""
    return _NormRope.apply(x.float().contiguous(), scale.float(), rot, eps).type_as(x)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x * (1 + scale) + shift, broadcast (per token or per frame), as one fused multiply-add."""
    return torch.addcmul(shift, x, 1 + scale)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0, time_factor: float = 1000.0) -> Tensor:
    """Sinusoidal embedding (..., dim) of times t (...) in [0, 1], scaled by `time_factor` first (as flux does)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = time_factor * t.float()[..., None] * freqs  # (..., dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class RMSNorm(nn.Module):
    """x / rms(x) * gain over the last axis, computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return norm_rope(x, self.scale, None, self.eps)


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scaled dot-product attention of q (B, L, H, D) over k, v (B, S, H, D); mask (bool, True = attend)
    broadcasts to (B, H, L, S). Returns (B, L, H*D).

    SDPA takes (B, H, L, D) views of the token-major tensors: its kernels read strides, so no copy is made either
    way, and the CPU kernel writes its output token-major, so the merge of the heads is a view too."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return rearrange(out, "B H L D -> B L (H D)")
