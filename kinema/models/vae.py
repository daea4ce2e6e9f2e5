"""A causal 3D convolutional VAE: video (B, 3, 1 + 4k, H, W) in [-1, 1] <-> latent (B, C, 1 + k, H/s, W/s).

Causal in time: every convolution pads the past with the first frame (or, when a video is processed in chunks, with
the frames the previous chunk left in an explicit `Cache`), so frame 0 is encoded alone and a latent frame never sees
the future. Normalisation is per pixel (RMS over channels), so chunked and whole-clip results agree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .folder import FolderModel


@dataclass(frozen=True)
class VAEConfig:
    """Channels per level; between levels the frames halve in size, and in time where `time_down` says so."""

    in_channels: int = 3
    latent_channels: int = 6
    channels: tuple[int, ...] = (24, 48, 64)
    time_kernel: tuple[int, ...] = (1, 3, 3)  # temporal kernel per level; 1 = per frame (cheap at full size)
    time_down: tuple[bool, ...] = (True, True)
    space_down: tuple[bool, ...] | None = None  # per level transition; None = halve the size at every one
    blocks: int = 1
    # The decoder's own widths (per level, in the encoder's order) and blocks per level; None = the encoder's
    # channels and blocks + 1. A wider decoder can be grown from a trained one (`grow_decoder`) with the encoder,
    # and so the latent space, unchanged.
    decoder_channels: tuple[int, ...] | None = None
    decoder_blocks: int | None = None
    patch: int = 1  # pixels folded into channels before the first convolution (and unfolded after the last)
    norm: str = "rms"  # "rms" (per-pixel RMS over channels, as Wan) or "none" (narrow nets learn colour faster)
    scale: float = 1.0  # latents are (z - shift) * scale for the diffusion model
    shift: float = 0.0

    def __post_init__(self):
        n = len(self.channels)
        if self.norm not in ("rms", "group", "none"):
            raise ValueError(f"VAEConfig: norm {self.norm!r} must be 'rms', 'group' or 'none'")
        if len(self.time_kernel) != n or len(self.time_down) != n - 1:
            raise ValueError(
                f"VAEConfig: {n} levels need {n} time kernels and {n - 1} time_down flags, "
                f"got {len(self.time_kernel)} and {len(self.time_down)}"
            )
        if self.decoder_channels is not None and len(self.decoder_channels) != n:
            raise ValueError(f"VAEConfig: {n} levels need {n} decoder channels, got {len(self.decoder_channels)}")
        if self.space_down is not None and len(self.space_down) != n - 1:
            raise ValueError(f"VAEConfig: {n} levels need {n - 1} space_down flags, got {len(self.space_down)}")

    @property
    def space_downs(self) -> tuple[bool, ...]:
        return self.space_down if self.space_down is not None else (True,) * (len(self.channels) - 1)

    @property
    def dec_channels(self) -> tuple[int, ...]:
        return self.decoder_channels if self.decoder_channels is not None else self.channels

    @property
    def dec_blocks(self) -> int:
        return self.decoder_blocks if self.decoder_blocks is not None else self.blocks + 1

    @property
    def spatial_stride(self) -> int:
        return self.patch * 2 ** sum(self.space_downs)

    @property
    def temporal_stride(self) -> int:
        return 2 ** sum(self.time_down)


PRESETS: dict[str, VAEConfig] = {
    # 64-px world clips on a CPU: stride 4 x 4 x 4, 6 channels (compression 28.6 on 25 frames); time is mixed only
    # at the smallest size, where it is cheap.
    # Per-pixel RMS norm over only 16 channels wipes the magnitude cue the net needs for colour: a 2-image overfit
    # test stays at the mean colour with it and learns the colours without it.
    "tiny": VAEConfig(channels=(16, 32, 64), time_kernel=(1, 1, 3), norm="none"),
    # 256-720 px real video on a GPU: stride 4 x 8 x 8, 16 channels.
    "base": VAEConfig(
        latent_channels=16,
        channels=(96, 192, 384, 384),
        time_kernel=(3, 3, 3, 3),
        time_down=(False, True, True),
        blocks=2,
    ),
}


@dataclass
class Cache:
    """What each causal layer saw last, so the next chunk continues where the previous one stopped."""

    frames: dict[str, Tensor] = field(default_factory=dict)


class RMSNorm(nn.Module):
    """Per-pixel RMS normalisation over channels (no statistics across time or space)."""

    def __init__(self, c: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(c, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-6) * self.gain


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm with statistics per frame (over a channel group and the frame's pixels), never across time, so
    causal chunks and the whole clip agree."""

    def forward(self, x: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[2]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b, t=t)


def make_norm(norm: str, c: int) -> nn.Module:
    if norm == "group":
        return FrameGroupNorm(min(8, c // 4), c)
    return RMSNorm(c) if norm == "rms" else nn.Identity()


class CausalConv3d(nn.Module):
    """A 3D convolution that looks only at the past: kt - 1 frames of history, the first frame repeated at the
    start. With a `Cache`, the history comes from the previous chunk instead."""

    def __init__(self, cin: int, cout: int, kt: int = 3, k: int = 3, stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.kt, self.st = kt, stride[0]
        self.conv = nn.Conv3d(cin, cout, (kt, k, k), stride=stride, padding=(0, k // 2, k // 2))
        self.key = ""  # set by the owning model to the module's name

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        if self.kt == 1 and self.st == 1:
            return self.conv(x)
        hist = cache.frames.get(self.key) if cache is not None else None
        if hist is None:
            hist = x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1)
        xp = torch.cat([hist, x], 2)
        n_out = (xp.shape[2] - self.kt) // self.st + 1
        if cache is not None:
            cache.frames[self.key] = xp[:, :, n_out * self.st :].detach()
        return self.conv(xp)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int, norm: str = "rms"):
        super().__init__()
        self.n1, self.c1 = make_norm(norm, cin), CausalConv3d(cin, cout, kt)
        self.n2, self.c2 = make_norm(norm, cout), CausalConv3d(cout, cout, kt)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.c2.conv.weight)  # each block starts as the identity: deep stacks train from step one
        nn.init.zeros_(self.c2.conv.bias)

    def forward(self, x: Tensor, cache: Cache | None) -> Tensor:
        h = self.c1(F.silu(self.n1(x)), cache)
        h = self.c2(F.silu(self.n2(h)), cache)
        return self.skip(x) + h


class Down(nn.Module):
    """Halve the frame size (stride-2 conv per frame), and the frame count (causal stride-2 conv) if `time`."""

    def __init__(self, cin: int, cout: int, time: bool, space: bool = True):
        super().__init__()
        self.space = CausalConv3d(cin, cout, kt=1, stride=(1, 2, 2) if space else (1, 1, 1))
        self.time = CausalConv3d(cout, cout, kt=3, k=1, stride=(2, 1, 1)) if time else None

    def forward(self, x: Tensor, cache: Cache | None) -> Tensor:
        x = self.space(x)
        return self.time(x, cache) if self.time is not None else x


class Up(nn.Module):
    """Double the frame count (each latent frame becomes two, the first one stays one) if `time`, then the size."""

    def __init__(self, cin: int, cout: int, time: bool, space: bool = True):
        super().__init__()
        self.time = CausalConv3d(cin, 2 * cin, kt=3, k=1) if time else None
        self.space = CausalConv3d(cin, cout, kt=1)
        self.up = space
        self.key = ""

    def forward(self, x: Tensor, cache: Cache | None) -> Tensor:
        if self.time is not None:
            first = cache is None or self.key not in cache.frames
            x = rearrange(self.time(x, cache), "b (r c) t h w -> b c (t r) h w", r=2)
            if first:
                x = x[:, :, 1:]  # the first latent frame stands for one frame, not two
            if cache is not None:
                cache.frames[self.key] = x[:, :, :0]
        if self.up:
            x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        return self.space(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.channels
        self.patch = cfg.patch
        self.conv_in = CausalConv3d(cfg.in_channels * cfg.patch**2, ch[0], cfg.time_kernel[0])
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            blocks = nn.ModuleList([ResBlock(c, c, cfg.time_kernel[i], cfg.norm) for _ in range(cfg.blocks)])
            down = Down(c, ch[i + 1], cfg.time_down[i], cfg.space_downs[i]) if i + 1 < len(ch) else None
            self.levels.append(nn.ModuleDict({"blocks": blocks, **({"down": down} if down else {})}))
        self.mid = ResBlock(ch[-1], ch[-1], cfg.time_kernel[-1], cfg.norm)
        self.norm = make_norm(cfg.norm, ch[-1])
        self.conv_out = CausalConv3d(ch[-1], 2 * cfg.latent_channels, cfg.time_kernel[-1])

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        p = self.patch
        x = rearrange(x, "b c t (h p) (w q) -> b (c p q) t h w", p=p, q=p)
        h = self.conv_in(x, cache)
        for lv in self.levels:
            for b in lv["blocks"]:
                h = b(h, cache)
            if "down" in lv:
                h = lv["down"](h, cache)
        h = self.mid(h, cache)
        return self.conv_out(F.silu(self.norm(h)), cache)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.dec_channels[::-1]
        tk = cfg.time_kernel[::-1]
        td = cfg.time_down[::-1]
        sd = cfg.space_downs[::-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, ch[0], tk[0])
        self.mid = ResBlock(ch[0], ch[0], tk[0], cfg.norm)
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            blocks = nn.ModuleList([ResBlock(c, c, tk[i], cfg.norm) for _ in range(cfg.dec_blocks)])
            up = Up(c, ch[i + 1], td[i], sd[i]) if i + 1 < len(ch) else None
            self.levels.append(nn.ModuleDict({"blocks": blocks, **({"up": up} if up else {})}))
        self.norm = make_norm(cfg.norm, ch[-1])
        self.patch = cfg.patch
        self.conv_out = CausalConv3d(ch[-1], cfg.in_channels * cfg.patch**2, tk[-1])

    def forward(self, z: Tensor, cache: Cache | None = None) -> Tensor:
        h = self.mid(self.conv_in(z, cache), cache)
        for lv in self.levels:
            for b in lv["blocks"]:
                h = b(h, cache)
            if "up" in lv:
                h = lv["up"](h, cache)
        p = self.patch
        return rearrange(self.conv_out(F.silu(self.norm(h)), cache), "b (c p q) t h w -> b c t (h p) (w q)", p=p, q=p)


class VideoVAE(FolderModel, nn.Module):
    """Encoder + decoder with a diagonal Gaussian posterior. Frames are (B, 3, T, H, W) in [-1, 1]."""

    kind, config_class = "video-vae", VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # Start with a nearly deterministic posterior (std e^-5): with log-variance 0 at init, unit noise drowns the
        # encoder's small initial means and the decoder learns only the mean colour (grey) for a long time.
        with torch.no_grad():
            self.encoder.conv_out.conv.bias[config.latent_channels :].fill_(-10.0)
        for name, m in self.named_modules():
            if isinstance(m, CausalConv3d | Up):
                m.key = name

    # -- checks ---------------------------------------------------------------------------------------------------
    def check_frames(self, x: Tensor) -> None:
        cfg = self.config
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"video must be (B, {cfg.in_channels}, T, H, W), got {tuple(x.shape)}")
        t, h, w = x.shape[2:]
        s, ts = cfg.spatial_stride, cfg.temporal_stride
        if t == 0:
            raise ValueError("video has zero frames")
        if (t - 1) % ts:
            raise ValueError(
                f"{t} frames: the VAE takes 1 + {ts}k frames (e.g. {1 + ts * ((t - 1) // ts)} or "
                f"{1 + ts * ((t - 1) // ts + 1)}); pad_frames() pads by repeating the last frame"
            )
        if h % s or w % s:
            raise ValueError(f"frame size {w}x{h}: width and height must be multiples of {s}; pad_frames() pads")
        if not torch.isfinite(x).all():
            raise ValueError("video contains NaN or infinite values")

    # -- encode ---------------------------------------------------------------------------------------------------
    def encode_moments(self, x: Tensor, cache: Cache | None = None) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, (B, C, 1 + k, h, w) each."""
        mean, logvar = self.encoder(x, cache).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode(self, x: Tensor, chunk: int | None = None, refine: int = 0, refine_lr: float = 0.05) -> Tensor:
        """Posterior means; with `chunk` (frames, a multiple of the temporal stride) in constant memory. With
        `refine`, that many steps of `refine_latents` follow (analysis by synthesis); chunked, in windows of at least
        8 latent frames (a 2 s clip in one: 2.5x faster than 2-frame windows, and shorter windows flicker more)."""
        self.check_frames(x)
        if chunk is None:
            z = self.encode_moments(x)[0]
        else:
            z = torch.cat(list(self.encode_chunks(x, chunk)), 2)
        if refine:
            lat_chunk = None if chunk is None else max(8, chunk // self.config.temporal_stride)
            z = self.refine_latents(x, z, refine, refine_lr, lat_chunk)
        return z

    def refine_latents(self, x: Tensor, z: Tensor, steps: int, lr: float = 0.05, chunk: int | None = None) -> Tensor:
        """Analysis by synthesis: `steps` Adam steps on the latent `z` (the decoder frozen) so that its decoded
        frames come closer to `x` (L1 + MSE). The encoder is amortised, one pass for every clip, and small shapes (a
        cross of 8 px) fall between its features to come back as blobs; the decoder can draw them from a latent a
        little way off (about 0.08 RMS), which a few steps find. With `chunk` (latent frames), window by window in
        constant memory: each window is refined after the frames before it, which the decoder's cache holds as the
        refined latents gave them."""
        if steps < 0 or not lr > 0:
            raise ValueError(f"refine steps {steps} must be 0 or more and lr {lr:g} positive")
        if steps == 0:
            return z

        def window(xk: Tensor, zk: Tensor, cache: Cache | None) -> Tensor:
            zk = zk.detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([zk], lr=lr)
            with torch.enable_grad():
                for _ in range(steps):
                    seen = None if cache is None else Cache(dict(cache.frames))  # each try starts from the past
                    err = self.decoder(zk, seen).float() - xk
                    (zk.grad,) = torch.autograd.grad(err.abs().mean() + err.square().mean(), [zk])
                    opt.step()
            return zk.detach()

        if chunk is None:
            return window(x, z, None)
        if chunk <= 0:
            raise ValueError(f"chunk {chunk}: must be positive")
        ts, cache, out, pos = self.config.temporal_stride, Cache(), [], 0
        for a in range(0, z.shape[2], chunk):
            zk = z[:, :, a : a + chunk]
            n = ts * zk.shape[2] - (ts - 1 if a == 0 else 0)  # the frames this window decodes to
            zk = window(x[:, :, pos : pos + n], zk, cache)
            pos += n
            with torch.no_grad():
                self.decoder(zk, cache)  # move the cache past this window
            out.append(zk)
        return torch.cat(out, 2)

    def encode_chunks(self, x: Tensor, chunk: int) -> Iterator[Tensor]:
        """Latent frames chunk by chunk: frame 0 alone, then `chunk` frames at a time, through one Cache."""
        ts = self.config.temporal_stride
        if chunk <= 0 or chunk % ts:
            raise ValueError(f"chunk {chunk}: must be a positive multiple of {ts} frames")
        cache = Cache()
        yield self.encode_moments(x[:, :, :1], cache)[0]
        for t in range(1, x.shape[2], chunk):
            yield self.encode_moments(x[:, :, t : t + chunk], cache)[0]

    # -- decode ---------------------------------------------------------------------------------------------------
    def decode(self, z: Tensor, chunk: int | None = None) -> Tensor:
        """Frames from latents; with `chunk` (latent frames) in constant memory."""
        if z.ndim != 5 or z.shape[1] != self.config.latent_channels:
            raise ValueError(f"latent must be (B, {self.config.latent_channels}, t, h, w), got {tuple(z.shape)}")
        if chunk is None:
            return self.decoder(z)
        return torch.cat(list(self.decode_chunks(z, chunk)), 2)

    def decode_chunks(self, z: Tensor, chunk: int) -> Iterator[Tensor]:
        if chunk <= 0:
            raise ValueError(f"chunk {chunk}: must be positive")
        cache = Cache()
        yield self.decoder(z[:, :, :1], cache)
        for t in range(1, z.shape[2], chunk):
            yield self.decoder(z[:, :, t : t + chunk], cache)

    def forward(self, x: Tensor, sample: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction, posterior mean and log-variance (training)."""
        mean, logvar = self.encode_moments(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if sample else mean
        return self.decoder(z), mean, logvar


@torch.no_grad()
def grow_decoder(vae: VideoVAE, channels: tuple[int, ...] | None = None, blocks: int | None = None) -> VideoVAE:
    """A copy of `vae` with a wider and/or deeper decoder that computes exactly the same function (Net2Net-style
    growth): old channels keep their weights and read nothing from the new ones (zero), new channels start from a
    fresh initialisation, and new residual blocks start as the identity (their last convolution is zero). The
    encoder, and so the latent space a diffusion model was trained on, is copied unchanged. Training then uses the
    new capacity from the first step."""
    old = vae.config
    channels = tuple(channels) if channels is not None else old.dec_channels
    blocks = blocks if blocks is not None else old.dec_blocks
    if len(channels) != len(old.channels) or any(n < o for n, o in zip(channels, old.dec_channels)):
        raise ValueError(f"grow_decoder: channels {channels} must be {len(old.channels)} widths >= {old.dec_channels}")
    if blocks < old.dec_blocks:
        raise ValueError(f"grow_decoder: blocks {blocks} must be >= the decoder's {old.dec_blocks}")
    if old.norm != "none" and channels != old.dec_channels:
        raise ValueError(f"grow_decoder: widening keeps the function only without norms, not norm {old.norm!r}")
    cfg = dataclasses.replace(old, decoder_channels=channels, decoder_blocks=blocks)
    new = VideoVAE(cfg)
    new.encoder.load_state_dict(vae.encoder.state_dict())
    old_state, state = vae.decoder.state_dict(), new.decoder.state_dict()
    for name, t in state.items():
        if name not in old_state:
            continue  # a new block: fresh, and the identity through its zero last convolution
        o = old_state[name].to(t.dtype)
        out_map = torch.arange(o.shape[0])
        if "up.time.conv." in name:
            c_old, c_new = o.shape[0] // 2, t.shape[0] // 2  # output channels laid out (r c), r = 2 frames
            out_map = torch.cat([torch.arange(c_old), c_new + torch.arange(c_old)])
        if t.ndim == 1:
            t[out_map] = o
            continue
        in_old = torch.arange(o.shape[1])
        in_new = torch.arange(o.shape[1], t.shape[1])
        t[out_map[:, None], in_new[None, :]] = 0.0  # old channels do not read the new ones
        t[out_map[:, None], in_old[None, :]] = o
    new.decoder.load_state_dict(state)
    return new


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z|x) || N(0, I)) per latent value, averaged."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def pad_frames(x: Tensor, spatial: int, temporal: int) -> tuple[Tensor, tuple[int, int, int]]:
    """Pad a video (B, C, T, H, W) to 1 + temporal*k frames (repeat the last) and sizes that divide by `spatial`
    (replicate the edges); returns the padded video and the original (T, H, W) to crop back to."""
    t, h, w = x.shape[2:]
    tp = 1 + temporal * math.ceil((t - 1) / temporal) - t
    hp, wp = (-h) % spatial, (-w) % spatial
    if tp:
        x = torch.cat([x, x[:, :, -1:].expand(-1, -1, tp, -1, -1)], 2)
    if hp or wp:
        x = F.pad(x, (0, wp, 0, hp, 0, 0), mode="replicate")
    return x, (t, h, w)


def tile_blend_weights(n: int, overlap: int, device=None) -> Tensor:
    """1D weights for a tile of length n whose both ends ramp over `overlap` (for blending neighbours)."""
    w = torch.ones(n, device=device)
    if overlap > 0:
        ramp = (torch.arange(overlap, device=device, dtype=torch.float32) + 0.5) / overlap
        w[:overlap] = ramp
        w[n - overlap :] = ramp.flip(0)
    return w


def tiled(fn, x: Tensor, tile: int, overlap: int, scale: float, out_channels: int) -> Tensor:
    """Apply a per-tile map `fn` (B, C, T, h, w) -> (B, C', T', h*scale, w*scale) over overlapping spatial tiles of
    x and blend the results with linear ramps: for frames too large to process whole."""
    b, _, _, h, w = x.shape
    step = tile - overlap
    ys = list(range(0, max(h - overlap, 1), step))
    xs = list(range(0, max(w - overlap, 1), step))
    out = weight = None
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y1 - tile), max(0, x1 - tile)
            part = fn(x[:, :, :, ya:y1, xa:x1])
            if out is None:
                out = part.new_zeros(b, out_channels, part.shape[2], round(h * scale), round(w * scale))
                weight = part.new_zeros(1, 1, 1, round(h * scale), round(w * scale))
            ov = round(overlap * scale)
            wy = tile_blend_weights(part.shape[3], ov if ya > 0 else 0, part.device)
            wx = tile_blend_weights(part.shape[4], ov if xa > 0 else 0, part.device)
            if y1 < h:
                wy = torch.minimum(wy, tile_blend_weights(part.shape[3], ov, part.device).flip(0))
            if x1 < w:
                wx = torch.minimum(wx, tile_blend_weights(part.shape[4], ov, part.device).flip(0))
            wgt = (wy[:, None] * wx[None, :])[None, None, None]
            sy, sx = round(ya * scale), round(xa * scale)
            out[:, :, :, sy : sy + part.shape[3], sx : sx + part.shape[4]] += part * wgt
            weight[:, :, :, sy : sy + part.shape[3], sx : sx + part.shape[4]] += wgt
    return out / weight.clamp_min(1e-8)
