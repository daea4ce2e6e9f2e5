"""A diffusion transformer over spacetime patches (Sora-style), trained as a rectified flow (kinema.flow).

Latents (B, C, T, H, W) from the video VAE are cut into patches (pt, ph, pw), one token each, and all tokens of the
clip attend to each other (full spacetime self-attention with 3D rotary positions; rotary positions are relative,
so each token also gets its place in the frame, `frame_pos`). The timestep is given per latent
frame, so clean conditioning frames (t = 0) and noisy frames share one sequence: each frame's timestep embedding
modulates that frame's tokens through adaLN-Zero (DiT). The prompt enters by cross-attention. The model predicts the
velocity noise - x0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

from .folder import FolderModel
from .layers import (
    RMSNorm,
    apply_rope_complex,
    attention,
    frame_position,
    modulate,
    norm_rope,
    rope_3d,
    rope_complex,
    timestep_embedding,
)


@dataclass(frozen=True)
class DiTConfig:
    """Size of the transformer. `rope_dims` splits the head into (time, row, column) rotary parts; by default about
    a quarter goes to time and the rest is shared by rows and columns. `frame_pos` adds each token's place in the
    frame (kinema.models.layers.frame_position) through a linear layer: rotary positions are relative, and without
    it a small model cannot tell a corner from the centre on an even background, nor ground "in the lower left". A
    new DiT starts it at N(0, FRAME_POS_STD), as strong as a noise token's embedding (a layer that starts at zero
    stays weak and is hardly used); one grown from a folder saved before it existed starts it at zero
    (`load_weights`), and such folders load with it off."""

    latent_channels: int = 6
    patch: tuple[int, int, int] = (1, 2, 2)
    hidden: int = 192
    depth: int = 6
    heads: int = 6
    text_dim: int = 384
    mlp_ratio: float = 4.0
    rope_dims: tuple[int, int, int] | None = None
    rope_theta: float = 10000.0
    qk_norm: bool = True
    frame_pos: bool = False

    def __post_init__(self):
        object.__setattr__(self, "patch", tuple(self.patch))
        if self.rope_dims is not None:
            object.__setattr__(self, "rope_dims", tuple(self.rope_dims))
        if min(self.latent_channels, self.hidden, self.depth, self.heads, self.text_dim, *self.patch) <= 0:
            raise ValueError(f"DiTConfig: sizes must be positive, got {self}")
        if len(self.patch) != 3:
            raise ValueError(f"DiTConfig: patch must be (time, height, width), got {self.patch}")
        if self.hidden % self.heads:
            raise ValueError(f"DiTConfig: hidden {self.hidden} is not divisible by heads {self.heads}")
        dims = self.rope_axes
        if len(dims) != 3 or sum(dims) != self.head_dim or any(d <= 0 or d % 2 for d in dims):
            raise ValueError(
                f"DiTConfig: rope_dims {dims} must be three positive even sizes summing to the head size "
                f"{self.head_dim} (hidden {self.hidden} / heads {self.heads})"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def rope_axes(self) -> tuple[int, ...]:
        """(time, row, column) rotary sizes: rope_dims, or by default 3/8 of the head each to rows and columns
        (rounded down to even) and the rest to time."""
        if self.rope_dims is not None:
            return self.rope_dims
        hw = self.head_dim * 3 // 8 // 2 * 2
        return (self.head_dim - 2 * hw, hw, hw)

    @property
    def patch_dim(self) -> int:
        pt, ph, pw = self.patch
        return self.latent_channels * pt * ph * pw


PRESETS: dict[str, DiTConfig] = {
    # CPU-trainable, on the tiny VAE's 6-channel latents.
    "tiny": DiTConfig(frame_pos=True),
    # The rest are for the base VAE's 16-channel latents, on a GPU.
    "small": DiTConfig(latent_channels=16, hidden=512, depth=8, heads=8, frame_pos=True),
    "base": DiTConfig(latent_channels=16, hidden=1024, depth=12, heads=16, frame_pos=True),
    "large": DiTConfig(latent_channels=16, hidden=1536, depth=20, heads=24, frame_pos=True),
}


def patchify(x: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """Latents (B, C, T, H, W) -> tokens (B, T'*H'*W', C*pt*ph*pw), in (t, h, w) order."""
    pt, ph, pw = patch
    t, h, w = x.shape[2:]
    if t % pt or h % ph or w % pw:
        good = tuple(-(-n // p) * p for n, p in zip((t, h, w), patch))
        raise ValueError(
            f"latent {t}x{h}x{w} is not divisible by patch ({pt},{ph},{pw}); pad it to {good[0]}x{good[1]}x{good[2]}"
        )
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)


def unpatchify(tokens: Tensor, patch: tuple[int, int, int], grid: tuple[int, int, int]) -> Tensor:
    """Tokens (B, T'*H'*W', C*pt*ph*pw) -> latents (B, C, T, H, W) for a (T', H', W') token grid."""
    pt, ph, pw = patch
    t, h, w = grid
    return rearrange(tokens, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w, pt=pt, ph=ph, pw=pw)


class TimestepEmbedder(nn.Module):
    """t in [0, 1] (any shape) -> sinusoidal features -> MLP -> (..., hidden)."""

    def __init__(self, hidden: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SelfAttention(nn.Module):
    """Full attention over all spacetime tokens, QK RMS-normed, rotated by 3D RoPE."""

    def __init__(self, dim: int, heads: int, qk_norm: bool):
        super().__init__()
        self.heads, self.qk_norm = heads, qk_norm
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rot: Tensor) -> Tensor:
        """x (B, L, dim), rot (L, head/2) complex rotations -> (B, L, dim)."""
        qkv = rearrange(self.qkv(x), "B L (K H D) -> B L K H D", K=3, H=self.heads)
        qk, v = qkv.split([2, 1], dim=2)  # queries and keys are normed and rotated together, one kernel each
        rot = rot[:, None, None]  # (L, 1, 1, head/2)
        if self.qk_norm:
            qk = norm_rope(qk, torch.stack([self.q_norm.scale, self.k_norm.scale])[:, None], rot, self.q_norm.eps)
        else:
            qk = apply_rope_complex(qk, rot)
        q, k = qk.unbind(2)  # (B, L, H, D)
        return self.proj(attention(q, k, v.squeeze(2)))


class CrossAttention(nn.Module):
    """Video tokens attend to the prompt's tokens (masked where the prompt is padding)."""

    def __init__(self, dim: int, heads: int, qk_norm: bool):
        super().__init__()
        self.heads = heads
        self.q, self.kv = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, text: Tensor, mask: Tensor | None) -> Tensor:
        """x (B, L, dim), text (B, S, dim), mask (B, S) or None (no padding) -> (B, L, dim)."""
        q = rearrange(self.q(x), "B L (H D) -> B L H D", H=self.heads)
        k, v = rearrange(self.kv(text), "B S (K H D) -> K B S H D", K=2, H=self.heads)
        mask = None if mask is None else mask[:, None, None, :]
        return self.proj(attention(self.q_norm(q), self.k_norm(k), v, mask=mask))


class DiTBlock(nn.Module):
    """adaLN-Zero self-attention, cross-attention to the prompt, adaLN-Zero MLP."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(d, cfg.heads, cfg.qk_norm)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = CrossAttention(d, cfg.heads, cfg.qk_norm)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(d, int(d * cfg.mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x: Tensor, c: Tensor, text: Tensor, mask: Tensor | None, rot: Tensor) -> Tensor:
        # x (B, T, N, D): N tokens per latent frame; c (B, T, 1, D): each frame's timestep embedding
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1).flatten(1, 2)  # (B, T*N, D)
        x = torch.addcmul(x, gate1, self.attn(h, rot).view_as(x))  # x + gate1 * attn, one kernel
        x = x + self.cross(self.norm2(x).flatten(1, 2), text, mask).view_as(x)
        return torch.addcmul(x, gate2, self.mlp(modulate(self.norm3(x), shift2, scale2)))


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


FRAME_POS_FREQS = 4  # frequencies per axis of frame_position (16 features)
# The frame-position layer's initial weights: 0.15 gives each token a place vector of norm ~0.15 * sqrt(8 * hidden),
# about 6 at hidden 192, like a noise patch's embedding (~7). Two tiny DiTs trained alike from scratch on world stills:
# the one started at zero kept its place vectors at ~1.5 and, taught place words on one palette (kinema.train.dit_data's
# `plain`), had not picked them up after 150 steps (swapping "upper left" for "lower right" raised its loss by 0.0001);
# this one had (by 0.02).
FRAME_POS_STD = 0.15


class DiT(FolderModel, nn.Module):
    """Velocity v(x_t, t, prompt) for latents x_t (B, C, T, H, W) with a timestep per latent frame."""

    kind, config_class = "dit", DiTConfig

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        d = config.hidden
        self.x_embed = nn.Linear(config.patch_dim, d)
        self.pos_embed = nn.Linear(4 * FRAME_POS_FREQS, d) if config.frame_pos else None
        self.t_embed = TimestepEmbedder(d)
        self.text_embed = nn.Sequential(nn.Linear(config.text_dim, d), nn.GELU(approximate="tanh"), nn.Linear(d, d))
        # A token every prompt has, so an empty or fully padded prompt still has something to attend to.
        self.text_null = nn.Parameter(torch.zeros(1, 1, d))
        self.blocks = nn.ModuleList([DiTBlock(config) for _ in range(config.depth)])
        self.final = FinalLayer(d, config.patch_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """As DiT: xavier linears, zero adaLN (every block starts as the identity) and a zero output projection."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for lin in (self.t_embed.mlp[0], self.t_embed.mlp[2], self.text_embed[0], self.text_embed[2]):
            nn.init.normal_(lin.weight, std=0.02)
        nn.init.normal_(self.text_null, std=0.02)
        zero = [self.final.adaLN_modulation[-1], self.final.linear]
        if self.pos_embed is not None:
            nn.init.normal_(self.pos_embed.weight, std=FRAME_POS_STD)
            nn.init.zeros_(self.pos_embed.bias)
        for block in self.blocks:
            zero += [block.adaLN_modulation[-1], block.cross.proj]
        for lin in zero:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def frame_times(self, t: Tensor, batch: int, frames: int) -> Tensor:
        """t (B,) or (B, T) -> (B, T') per token frame (a temporal patch takes its frames' mean)."""
        if t.shape == (batch,):
            t = t[:, None].expand(batch, frames)
        elif t.shape != (batch, frames):
            raise ValueError(
                f"timesteps must be ({batch},) or ({batch}, {frames}) per latent frame, got {tuple(t.shape)}"
            )
        return rearrange(t.float(), "b (t p) -> b t p", p=self.config.patch[0]).mean(-1)

    def forward(self, x: Tensor, t: Tensor, text: Tensor, text_mask: Tensor | None = None) -> Tensor:
        """x (B, C, T, H, W), t (B,) or (B, T) in [0, 1] (0 = data, 1 = noise), text (B, S, text_dim) with mask
        (B, S) bool (True = a real token) -> velocity (B, C, T, H, W)."""
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.latent_channels:
            raise ValueError(f"latents must be (B, {cfg.latent_channels}, T, H, W), got {tuple(x.shape)}")
        b, _, t_len, h_len, w_len = x.shape
        if text.ndim != 3 or text.shape[0] != b or text.shape[2] != cfg.text_dim:
            raise ValueError(f"text states must be ({b}, S, {cfg.text_dim}), got {tuple(text.shape)}")
        if text_mask is not None and text_mask.shape != text.shape[:2]:
            raise ValueError(f"text mask must be {tuple(text.shape[:2])}, got {tuple(text_mask.shape)}")
        tokens = patchify(x, cfg.patch)  # (B, L, patch_dim)
        grid = (t_len // cfg.patch[0], h_len // cfg.patch[1], w_len // cfg.patch[2])

        c = self.t_embed(self.frame_times(t, b, t_len))[:, :, None]  # (B, T', 1, D)
        h = self.x_embed(tokens.to(self.x_embed.weight.dtype))
        h = rearrange(h, "b (t n) d -> b t n d", t=grid[0])  # (B, T', H'*W', D)
        if self.pos_embed is not None:
            h = h + self.pos_embed(frame_position(grid[1], grid[2], FRAME_POS_FREQS, x.device).to(h.dtype))
        y = torch.cat([self.text_null.expand(b, -1, -1).to(h.dtype), self.text_embed(text.to(h.dtype))], 1)
        # (B, 1 + S); None when nothing is padding, so attention runs without a mask
        mask = None if text_mask is None else torch.cat([text_mask.new_ones(b, 1), text_mask.bool()], 1)
        rot = rope_complex(*rope_3d(*grid, cfg.rope_axes, cfg.rope_theta, device=x.device))  # (L, head/2)
        for block in self.blocks:
            h = block(h, c, y, mask, rot)
        out = self.final(h, c).flatten(1, 2)  # (B, L, patch_dim)
        return unpatchify(out, cfg.patch, grid).to(x.dtype)

    def flops_per_token(self, seq_len: int, text_len: int = 0) -> float:
        """Training FLOPs per token (forward + backward): 6N for the weights, 12 * depth * hidden * (keys
        attended) for the attention scores and values."""
        n = sum(p.numel() for p in self.parameters())
        return 6 * n + 12 * self.config.depth * self.config.hidden * (seq_len + text_len)


def load_weights(model: DiT, source: DiT) -> None:
    """Copy `source`'s weights into `model`: the same shape, or `model` is `source` grown by the frame-position
    layer, which stays at zero so that `model` computes exactly what `source` did (warm starts from folders saved
    before `frame_pos` existed)."""
    if source.config == model.config:
        model.load_state_dict(source.state_dict())
        return
    if not (model.config.frame_pos and dataclasses.replace(model.config, frame_pos=False) == source.config):
        raise ValueError("the two DiTs differ in shape (only frame_pos may be added)")
    model.load_state_dict(source.state_dict(), strict=False)
    nn.init.zeros_(model.pos_embed.weight)
    nn.init.zeros_(model.pos_embed.bias)


def param_count(config: DiTConfig) -> int:
    """Parameters of a DiT built on the meta device (no memory allocated)."""
    with torch.device("meta"):
        model = DiT(config)
    return sum(p.numel() for p in model.parameters())


def preset(name: str, **overrides) -> DiTConfig:
    """A named size, with fields replaced (e.g. latent_channels=16)."""
    if name not in PRESETS:
        raise ValueError(f"DiT preset '{name}': choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
