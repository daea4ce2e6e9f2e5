"""Image metrics on uint8 videos: PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between uint8 arrays of one shape (peak 255), over all values."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over frames and channels of uint8 videos (T, H, W, 3)."""
    x = torch.from_numpy(a).double().permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])
    y = torch.from_numpy(b).double().permute(0, 3, 1, 2).reshape(-1, 1, *b.shape[1:3])
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = (g / g.sum())[:, None] * (g / g.sum())[None, :]
    win = g[None, None]
    k = min(11, a.shape[1], a.shape[2])
    if k < 11:
        win = F.interpolate(win, size=(k, k), mode="bilinear", align_corners=False)
        win = win / win.sum()

    def filt(z):
        return F.conv2d(z, win)

    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(s.mean())
