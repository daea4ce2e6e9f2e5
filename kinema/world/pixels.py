"""What the judge reads from pixels: colour membership, object moments, shape features, camera motion, cuts.

Only numpy and the world's vocabulary: nothing here knows how frames were made.
"""

from __future__ import annotations

import math

import numpy as np

from . import vocab

CHROMA_MIN = 35.0  # below this a pixel is background, occluder or floor (they are all near-grey)
_NAMES = list(vocab.COLORS)


def hue_chroma(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees and chroma (max - min of RGB, 0-255) of uint8 or float RGB pixels."""
    f = frames.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    chroma = f.max(-1) - f.min(-1)
    hue = np.degrees(np.arctan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360
    return hue, chroma


_PAL_HUE, _PAL_CHROMA = hue_chroma(np.array([list(vocab.COLORS.values())], dtype=np.uint8))
_PAL_HUE, _PAL_CHROMA = _PAL_HUE[0], _PAL_CHROMA[0]


def white_balance(frames: np.ndarray) -> np.ndarray:
    """Undo a global colour cast (grey world over the near-grey majority of pixels): backgrounds stay grey."""
    f = frames.astype(np.float32)
    sample = f[:, ::2, ::2].reshape(-1, 3)
    c = sample.max(1) - sample.min(1)
    grey = sample[c < np.percentile(c, 60) + 1]
    med = np.median(grey, 0)
    if med.min() < 20 or not 28 < med.max() - med.min() < 70:
        return f  # no cast beyond the greys' own tint, or too dark or too coloured to learn one from
    return f * (med.mean() / med)


class Membership:
    """Soft per-colour masks of a video: how much of each pixel is each named colour (0..1)."""

    def __init__(self, frames: np.ndarray):
        hue, chroma = hue_chroma(white_balance(frames))
        # A tinted background (a colour cast on beige) must not read as an object: raise the bar above its chroma.
        self.chroma_min = max(CHROMA_MIN, float(np.percentile(chroma[:, ::2, ::2], 75)) + 12.0)
        d = np.abs((hue[..., None] - _PAL_HUE + 180) % 360 - 180)
        self.label = d.argmin(-1).astype(np.int8)  # (T, H, W)
        # Anti-aliased edges over a grey background keep the hue and scale the chroma: chroma ratio = coverage.
        self.weight = np.where(chroma >= self.chroma_min, np.clip(chroma / _PAL_CHROMA[self.label], 0, 1), 0).astype(
            np.float32
        )
        self.shape = frames.shape[:3]
        t, h, w = self.shape
        self.unit = min(h, w)
        self._raw = np.stack([((self.label == i) * self.weight).reshape(t, -1).sum(1) for i in range(len(_NAMES))], 1)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._mass: dict[int, np.ndarray] = {}

    def mask(self, color: str, t: int) -> np.ndarray:
        """The colour's soft mask in frame t, kept to the main blob (stray compression pixels far away dropped)."""
        i = _NAMES.index(color)
        key = (i, t)
        if key not in self._cache:
            m = np.where(self.label[t] == i, self.weight[t], 0.0)
            strong = m > 0.5
            if strong.sum() >= 3:
                ys, xs = np.nonzero(strong)
                cy, cx = np.median(ys), np.median(xs)
                rad = 2.0 * math.sqrt(strong.sum() / math.pi) + 3.0
                yy, xx = np.ogrid[: m.shape[0], : m.shape[1]]
                m = m * ((yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad)
            else:
                m = np.zeros_like(m)  # no solid blob: only stray edge pixels of other things
            self._cache[key] = m
        return self._cache[key]

    def mass(self, color: str) -> np.ndarray:
        """Area in pixels of a colour's main blob in every frame, (T,)."""
        i = _NAMES.index(color)
        if i not in self._mass:
            self._mass[i] = np.array(
                [self.mask(color, t).sum() if self._raw[t, i] >= 1 else 0.0 for t in range(self.shape[0])]
            )
        return self._mass[i]

    def all_masses(self) -> dict[str, np.ndarray]:
        return {n: self._raw[:, i] for i, n in enumerate(_NAMES)}

    def centroid(self, color: str, t: int) -> tuple[float, float] | None:
        m = self.mask(color, t)
        a = m.sum()
        if a < 1.0:
            return None
        h, w = m.shape
        return float((m.sum(0) * (np.arange(w) + 0.5)).sum() / a), float((m.sum(1) * (np.arange(h) + 0.5)).sum() / a)

    def touches_border(self, color: str, t: int) -> bool:
        m = self.mask(color, t)
        return bool(m[0].sum() + m[-1].sum() + m[:, 0].sum() + m[:, -1].sum() > 2.0)  # more than a soft edge

    def half_width(self, color: str, t: int) -> float:
        cols = self.mask(color, t).sum(0)
        return float((cols > 0.25).sum()) / 2


def shape_features(mask: np.ndarray) -> np.ndarray | None:
    """Scale- and rotation-invariant features of a soft mask: [spread, |h3|, |h4|, |h5|, angle phase of h3, h4, h5].

    spread is the second moment over area squared (0.159 for a disc, larger for spiky or hollow shapes); h_k is the
    k-th angular harmonic of the outer mass (a triangle rings at k=3, a square or cross at 4, a star at 5).
    """
    a = mask.sum()
    if a < 4:
        return None
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0)
    m = mask[ys, xs]
    cx, cy = (m * (xs + 0.5)).sum() / a, (m * (ys + 0.5)).sum() / a
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    r2 = dx * dx + dy * dy
    spread = (m * r2).sum() / a**2
    z = (dx + 1j * dy) / np.sqrt(np.maximum(r2, 1e-9))
    wgt = m * r2
    hs = [(wgt * z**k).sum() / wgt.sum() for k in (3, 4, 5)]
    return np.array([spread, *[abs(v) for v in hs], *[np.angle(v) for v in hs]])


def classify_shape(f: np.ndarray) -> str:
    """Name the shape of median features from shape_features."""
    spread, h3, h4, h5 = f[:4]
    if spread > 0.26 and max(h3, h4, h5) < 0.2:
        return "ring"
    k = int(np.argmax([h3, h4, h5]))
    if max(h3, h4, h5) < 0.11:
        return "circle"
    if k == 0:
        return "triangle"
    if k == 2:
        return "star"
    return "square" if (spread - 0.19) / 0.02 + (h4 - 0.33) / 0.1 < 0 else "cross"


def _gray(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def phase_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 5) -> tuple[float, float]:
    """Sub-pixel translation (dx, dy) that carries image a onto image b, by phase correlation."""
    h, w = a.shape
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fa, fb = np.fft.fft2((a - a.mean()) * win), np.fft.fft2((b - b.mean()) * win)
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-6
    c = np.fft.ifft2(r).real
    # Only small shifts: a periodic background (a checkerboard) also matches itself one period away.
    near = np.full(c.shape, -np.inf)
    k = max_shift
    for sy in range(-k, k + 1):
        near[sy % h, [sx % w for sx in range(-k, k + 1)]] = c[sy % h, [sx % w for sx in range(-k, k + 1)]]
    iy, ix = np.unravel_index(np.argmax(near), c.shape)

    def sub(cm, c0, cp):
        den = cm - 2 * c0 + cp
        return 0.0 if abs(den) < 1e-12 else 0.5 * (cm - cp) / den

    dy = iy + sub(c[(iy - 1) % h, ix], c[iy, ix], c[(iy + 1) % h, ix])
    dx = ix + sub(c[iy, (ix - 1) % w], c[iy, ix], c[iy, (ix + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dx), float(dy)


def _warp_scale(img: np.ndarray, s: float) -> np.ndarray:
    """img magnified by s about its centre (bilinear)."""
    h, w = img.shape
    ys = (np.arange(h) + 0.5 - h / 2) / s + h / 2 - 0.5
    xs = (np.arange(w) + 0.5 - w / 2) / s + w / 2 - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 2)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 2)
    fy = np.clip(ys - y0, 0, 1)[:, None]
    fx = np.clip(xs - x0, 0, 1)[None, :]
    a, b = img[y0][:, x0], img[y0][:, x0 + 1]
    c, d = img[y0 + 1][:, x0], img[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def zoom_between(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> tuple[float, float]:
    """The magnification about the centre that best turns gray image a into b (0.5 .. 2), and how much better it
    explains b than no zoom does (error ratio; near 1 means no evidence). wa, wb weight background pixels."""
    h, w = a.shape
    cy, cx = slice(h // 4, h - h // 4), slice(w // 4, w - w // 4)

    def err(s: float) -> float:
        wt = _warp_scale(wa, s)[cy, cx] * wb[cy, cx]
        return float((wt * (_warp_scale(a, s)[cy, cx] - b[cy, cx]) ** 2).sum() / max(wt.sum(), 1e-6))

    scales = np.exp(np.linspace(math.log(0.5), math.log(2.0), 57))
    e = np.array([err(s) for s in scales])
    i = int(e.argmin())
    fine = np.exp(np.linspace(math.log(scales[max(i - 1, 0)]), math.log(scales[min(i + 1, len(scales) - 1)]), 9))
    ef = np.array([err(s) for s in fine])
    best = float(fine[int(ef.argmin())])
    return best, float(ef.min() / max(err(1.0), 1e-6))


NOISE_MSE = 6.0


def _refine_shift(a: np.ndarray, b: np.ndarray, w: np.ndarray, start: tuple[float, float]) -> np.ndarray:
    """Polish a shift estimate by descending the masked error on finer and finer grids (unbiased sub-pixel)."""
    best = np.array(start)
    for step in (1.0, 0.5, 0.25, 0.125):
        cands = [best + step * np.array([i, j]) for i in (-1, 0, 1) for j in (-1, 0, 1)]
        errs = [_masked_err(_shift(a, *c), b, w) for c in cands]
        best = cands[int(np.argmin(errs))]
    return best  # mean squared gray difference that compression and noise alone can cause


def _masked_err(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    h, wd = a.shape
    inner = np.zeros_like(w)
    inner[h // 8 : h - h // 8, wd // 8 : wd - wd // 8] = 1
    w = w * inner
    return float((w * (a - b) ** 2).sum() / max(w.sum(), 1e-6))


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """img moved by (dx, dy) pixels (bilinear, edges repeated)."""
    h, w = img.shape
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(int), h - 2)
    x0 = np.minimum(np.floor(xs).astype(int), w - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = img[y0][:, x0], img[y0][:, x0 + 1]
    c, d = img[y0 + 1][:, x0], img[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


class CameraEstimate:
    """Camera motion over a run of frames: cumulative content shift (pixels) and magnification per frame.

    Only background pixels (low chroma) are read. A background without texture shows no camera motion; then the
    estimate is "static" and `textured` is False.
    """

    def __init__(self, frames: np.ndarray):
        g = _gray(frames)
        _, chroma = hue_chroma(frames)
        obj = chroma >= CHROMA_MIN - 5
        near = obj.copy()
        for a in (1, -1):  # grow object masks by a pixel: their soft edges are not background
            near |= np.roll(obj, a, axis=1) | np.roll(obj, a, axis=2)
        bgw = (~near).astype(np.float32)
        t = len(g)
        self.size = frames.shape[1:3]
        self.shift = np.zeros((t, 2))
        self.zoom = np.ones(t)
        self.total_zoom = 1.0
        # Texture: the background's own contrast, objects left out.
        fill = np.where(
            bgw > 0, g, (g * bgw).sum((1, 2), keepdims=True) / np.maximum(bgw.sum((1, 2), keepdims=True), 1)
        )
        self.textured = bool(t > 1 and np.median(fill.std((1, 2))) > 4.0)
        if not self.textured:
            return
        if _masked_err(fill[0], fill[-1], bgw[0] * bgw[-1]) < NOISE_MSE:
            return  # the background did not change: the camera stood still
        step = np.zeros(2)
        for i in range(1, t):
            # Frame to frame: start from phase correlation and from the last step (a camera moves smoothly), polish
            # both by error descent and keep the better. Short steps cannot alias a periodic background.
            w = bgw[i - 1] * bgw[i]
            cands = [_refine_shift(fill[i - 1], fill[i], w, s0) for s0 in (phase_shift(fill[i - 1], fill[i]), step)]
            errs = [_masked_err(_shift(fill[i - 1], *c), fill[i], w) for c in cands]
            step = cands[int(np.argmin(errs))]
            self.shift[i] = self.shift[i - 1] + step
        # Still, pan or zoom: keep the model that best explains each frame from the one before.
        z, zratio = zoom_between(fill[0], fill[-1], bgw[0], bgw[-1])
        e_still = e_pan = 0.0
        for i in range(1, t):
            w = bgw[i - 1] * bgw[i]
            step = self.shift[i] - self.shift[i - 1]
            e_still += _masked_err(fill[i - 1], fill[i], w)
            e_pan += _masked_err(_shift(fill[i - 1], *step), fill[i], _shift(bgw[i - 1], *step) * bgw[i])
        self.errors = {"still": e_still, "pan": e_pan, "zoom_ratio": zratio}
        if e_pan < 0.6 * e_still:
            return
        self.shift[:] = 0.0  # the shift does not explain the change
        if zratio < 0.6 and abs(math.log(z)) > math.log(1.08):
            self.total_zoom = z
            self.zoom = z ** (np.arange(t) / max(t - 1, 1))

    def to_world(self, i: int, x: float, y: float) -> tuple[float, float]:
        """Screen pixel position in frame i to the first frame's pixel frame (undoing pan and zoom)."""
        h, w = self.size
        x, y = x - self.shift[i, 0], y - self.shift[i, 1]
        z = self.zoom[i]
        return (x - w / 2) / z + w / 2, (y - h / 2) / z + h / 2


def luminance_hist(frames: np.ndarray, bins: int = 16) -> np.ndarray:
    g = _gray(frames).reshape(len(frames), -1)
    idx = np.clip((g / 256 * bins).astype(int), 0, bins - 1)
    out = np.zeros((len(frames), bins))
    for i in range(len(frames)):
        out[i] = np.bincount(idx[i], minlength=bins)
    return out / g.shape[1]


def detect_cuts(frames: np.ndarray) -> list[int]:
    """Indices of frames that start a new shot: a spike, against the video's own typical change, in the luminance
    histogram (robust to motion) or in the mean pixel difference (for shots whose histograms match)."""
    if len(frames) < 2:
        return []
    d = np.abs(np.diff(luminance_hist(frames), axis=0)).sum(1)  # 0 .. 2
    g = _gray(frames)
    mad = np.abs(np.diff(g, axis=0)).mean((1, 2))  # 0 .. 255
    hist_cut = d > np.maximum(0.45, 3 * np.median(d) + 0.05)
    pixel_cut = mad > np.maximum(20.0, 4 * np.median(mad) + 4)
    return [int(i) + 1 for i in np.nonzero(hist_cut | pixel_cut)[0]]
