"""Per-frame moderation: every frame of a video passes a list of frame classifiers before the video is written.

A frame classifier maps frames (T, H, W, 3) uint8 to per-frame scores for its categories; the video is blocked when
some category reaches its threshold on at least `min_frames` frames. Two kinds ship:

- `ReferenceMatcher`: reference images an operator loads from a folder (logos, emblems, faces as images; a PNG's
  transparent pixels, or a plain border colour, are not part of the reference). Two stages per frame:
  1. Proposals. RootSIFT keypoints of the frame's HSV value channel, max(R, G, B), which a hue rotation leaves as it
     is (upscaled so the shorter side is `WORK` pixels, at half OpenCV's contrast threshold so small soft frames
     still give keypoints), are matched to the reference's with Lowe's ratio test, and RANSAC fits similarity
     transforms with at least `MIN_INLIERS` distinct inliers. The reference is described over dark, mid and light
     backgrounds, and as it looks when small (`LOW_RES`), recoloured by `HUES` first.
  2. The check. For the best `CANDIDATES` proposals the frame's hue shift is read off the predicted place, the
     reference is recoloured by it, rendered at the predicted scale and rotation (and a few around them), and slid
     over the frame near the predicted place; the score is the best zero-mean normalised correlation of the value
     channel over the reference's own pixels (`MIN_CORR` makes a hit).
  A hit needs a partner: another frame of the video whose match agrees on the reference, scale and rotation (both
  at least `WEAK_CORR`, one at least `MIN_CORR`), since chance matches on the world's shapes do not repeat the same
  transform and an object in a video does. The score of a frame is its correlation over MIN_CORR (>= 1 is a hit; a
  lone frame is capped just under 1). Thresholds were set on world videos of seed 7 (`kinema safety eval-frames`).
- `TorchFrameClassifier`: the operator's own torch model from a local path (TorchScript `.pt` or `torch.export`
  `.pt2`), taking (N, 3, H, W) float in [0, 1] and returning (N, C) probabilities (or logits with `logits=True`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .moderation import Decision

WORK = 256  # frames and references are scaled so their shorter side is this many pixels for SIFT
VERIFY = 256  # frames are checked pixel by pixel at most this size (shorter side); smaller ones as they are
RATIO = 0.8  # Lowe's ratio test
MIN_MATCHES = 3  # ratio-test matches before a geometric check is tried
MIN_INLIERS = 3  # distinct inliers of a similarity transform that make it a candidate worth checking
CANDIDATES = 4  # candidates per frame checked pixel by pixel, most inliers first
RANSAC_PIXELS = 6.0  # reprojection tolerance at WORK scale
CONTRAST = 0.02  # SIFT contrast threshold: half OpenCV's default, since small frames arrive upscaled and soft
LOW_RES = (48, 24)  # references are also described after a round trip through these sizes
HUES = (0, 45, 90, 135)  # hue rotations (OpenCV units, 180 = full turn) of the small views
BACKGROUNDS = (0, 128, 255)  # a reference's transparent part is filled with these values when it is described
MIN_SIDE = 16  # an appearance whose shorter side is under this many pixels (at VERIFY scale) is not checked
SEARCH_DEGREES = (-10.0, -5.0, 5.0, 10.0)  # the check tries the proposed rotation plus these, then ...
SEARCH_SCALES = (0.9, 1.1)  # ... the best one's scale times these, then ...
FINE_DEGREES = 2.5  # ... the best one's rotation plus and minus this
BLUR = 1.0  # both sides of the check are blurred by this sigma (pixels), so half-pixel shifts do not count
MIN_CORR = 0.8  # masked zero-mean normalised correlation with the aligned reference that makes a hit (see `scores`)
WEAK_CORR = 0.6  # correlation of a frame that can agree with a hit
SURE_CORR = 0.9  # a candidate this good ends the search in its frame
AGREE_LOG_SCALE = 0.2  # frames agree when their scales differ by less than this (natural log) ...
AGREE_DEGREES = 20.0  # ... and their rotations by less than this many degrees
LONE = 0.99  # the score of a frame above MIN_CORR that no other frame agrees with
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _value(image: np.ndarray) -> np.ndarray:
    """HSV value, max(R, G, B): unchanged when hues rotate, so one description covers every recolouring."""
    return image.max(axis=2) if image.ndim == 3 else image


def _work(v: np.ndarray) -> np.ndarray:
    """A single-channel uint8 image rescaled so its shorter side is WORK."""
    s = WORK / min(v.shape)
    if abs(s - 1) > 1e-3:
        v = cv2.resize(v, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    return v


def _grey(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> its value channel with shorter side WORK (upscaled or downscaled)."""
    return _work(_value(image))


def _sift() -> cv2.SIFT:
    return cv2.SIFT_create(contrastThreshold=CONTRAST)


def _describe(sift: cv2.SIFT, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Keypoint positions (K, 2) and RootSIFT descriptors (K, 128): L1-normalised, square-rooted SIFT, so that the
    Euclidean distance compares them like the Hellinger kernel (Arandjelovic & Zisserman 2012)."""
    kp, d = sift.detectAndCompute(grey, None)
    if d is None:
        return np.zeros((0, 2), np.float32), None
    d = np.sqrt(d / (d.sum(axis=1, keepdims=True) + 1e-7)).astype(np.float32)
    return np.float32([k.pt for k in kp]), d


def _foreground(image: np.ndarray) -> np.ndarray:
    """Weight in [0, 1] (H, W) of the reference's own pixels: its alpha channel when it has one that is not all opaque,
    else everything but a uniform border colour that reaches the edge (a logo drawn on a plain background)."""
    if image.shape[2] == 4 and image[..., 3].min() < 255:
        return image[..., 3].astype(np.float32) / 255
    rgb = np.ascontiguousarray(image[..., :3])
    edge = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    colours, counts = np.unique(edge, axis=0, return_counts=True)
    colour = colours[counts.argmax()]
    if counts.max() < 0.5 * len(edge):
        return np.ones(rgb.shape[:2], np.float32)
    plain = (np.abs(rgb.astype(np.int16) - colour).max(axis=2) <= 8).astype(np.uint8)
    n, labels = cv2.connectedComponents(plain, connectivity=4)
    touching = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, touching[touching > 0]) & (plain > 0)
    return (~background).astype(np.float32)


def _views(rgb: np.ndarray, weight: np.ndarray) -> list[np.ndarray]:
    """The value channels a reference is described from: over each of BACKGROUNDS as given, and as it looks when it
    appears small in a frame (shorter side LOW_RES, recoloured by each of HUES first, since a small rendering mixes
    neighbouring colours before the value channel is taken)."""
    w3 = weight[..., None]
    views = []
    for bg in BACKGROUNDS:
        views.append(_value(rgb * w3 + bg * (1 - w3)).astype(np.uint8))
        for hue in HUES:
            flat = (_recolour(rgb, hue) * w3 + bg * (1 - w3)).astype(np.uint8)
            for r in LOW_RES:
                s = r / min(rgb.shape[:2])
                views.append(_value(cv2.resize(flat, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)))
    return views


@dataclass
class Reference:
    name: str
    descriptors: list[np.ndarray]  # one (K, 128) array per background and resolution
    points: list[np.ndarray]  # matching (K, 2) keypoint positions
    size: tuple[int, int]  # (width, height) of the reference at WORK scale
    rgb: np.ndarray | None = None  # (H, W, 3) uint8 at its own resolution, for the pixel check
    weight: np.ndarray | None = None  # (H, W) float32 foreground weight in [0, 1]
    hues: np.ndarray | None = None  # (180,) saturation-weighted hue histogram of the foreground (OpenCV hue units)

    def __post_init__(self):
        self.stacked = np.concatenate(self.descriptors) if self.descriptors else np.zeros((0, 128), np.float32)
        self.offsets = np.cumsum([0] + [len(d) for d in self.descriptors])

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[:2]


@dataclass(frozen=True)
class Match:
    """One frame's best match: the checked correlation `corr`, the inliers of the similarity transform that proposed
    it, the reference, the transform's scale and rotation, and `warp`, the (2, 3) map from the reference at its own
    resolution into the frame at its own resolution (None when nothing was found)."""

    inliers: int = 0
    name: str | None = None
    log_scale: float = 0.0
    degrees: float = 0.0
    corr: float = 0.0
    warp: tuple | None = None

    def agrees(self, other: Match) -> bool:
        turn = abs((self.degrees - other.degrees + 180) % 360 - 180)
        return (
            self.name == other.name and abs(self.log_scale - other.log_scale) < AGREE_LOG_SCALE and turn < AGREE_DEGREES
        )


class ReferenceMatcher:
    """Matches frames against reference images; see the module docstring."""

    def __init__(self, references: list[Reference], category: str = "reference_match"):
        self.references, self.category = references, category
        self.sift = _sift()

    @property
    def categories(self) -> list[str]:
        return [self.category]

    @classmethod
    def from_images(cls, images: dict[str, np.ndarray], category: str = "reference_match") -> ReferenceMatcher:
        """`images`: name -> RGB or RGBA uint8 (H, W, 3|4); transparent pixels (or a plain border colour) are not
        part of the reference."""
        sift = _sift()
        refs = []
        for name, image in images.items():
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 16:
                raise ValueError(f"reference image '{name}': must be RGB or RGBA, at least 16x16; got {image.shape}")
            image = np.ascontiguousarray(image).astype(np.uint8)
            weight = _foreground(image)
            rgb = np.ascontiguousarray(image[..., :3])
            size = _work(rgb[..., 0]).shape[::-1]
            descs, pts = [], []
            for view in _views(rgb, weight):
                p, d = _describe(sift, _work(view))
                if d is not None and len(p) >= MIN_MATCHES:
                    descs.append(d)
                    pts.append(p)
            if not descs or weight.sum() < 64:
                raise ValueError(f"reference image '{name}': too plain to match (fewer than {MIN_MATCHES} keypoints)")
            refs.append(Reference(name, descs, pts, size, rgb, weight, _hue_histogram(rgb, weight)))
        return cls(refs, category)

    @classmethod
    def from_folder(cls, folder: str | Path, category: str = "reference_match") -> ReferenceMatcher:
        from PIL import Image

        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"reference folder '{folder}': no such folder (put the images to refuse in it)")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"reference folder '{folder}': no images ({', '.join(IMAGE_SUFFIXES)})")
        images = {}
        for p in files:
            try:
                with Image.open(p) as im:
                    images[p.stem] = np.asarray(im.convert("RGBA"))
            except OSError as e:
                raise ValueError(f"reference image '{p}': cannot read it ({e})") from e
        return cls.from_images(images, category)

    def _candidates(self, frame: np.ndarray) -> list[tuple[int, Reference, np.ndarray]]:
        """Similarity transforms (reference at WORK scale -> frame at WORK scale) from RootSIFT matches and RANSAC,
        with their distinct inlier counts, most inliers first."""
        grey = _grey(frame)
        frame_pts, d = _describe(self.sift, grey)
        if d is None or len(frame_pts) < MIN_MATCHES:
            return []
        found = []
        for ref in self.references:
            # one nearest-neighbour search for every view's descriptors (the ratio test is per reference descriptor);
            # RootSIFT rows have unit length, so squared distances are 2 - 2 * dot products
            sim = ref.stacked @ d.T
            rows = np.arange(len(sim))
            first = sim.argmax(axis=1)
            best = sim[rows, first]
            sim[rows, first] = -np.inf
            second = sim.max(axis=1) if sim.shape[1] > 1 else np.full(len(sim), -np.inf, np.float32)
            dist1, dist2 = np.sqrt(np.maximum(2 - 2 * best, 0)), np.sqrt(np.maximum(2 - 2 * second, 0))
            keep = dist1 < RATIO * dist2
            good = np.stack([rows[keep], first[keep]], axis=1)
            view = np.searchsorted(ref.offsets, good[:, 0], side="right") - 1
            for i, ref_pts in enumerate(ref.points):
                sel = good[view == i]
                if len(sel) < MIN_MATCHES:
                    continue
                src = ref_pts[sel[:, 0] - ref.offsets[i]]
                dst = frame_pts[sel[:, 1]]
                A, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS)
                if A is None or not _plausible(A, ref.size, grey.shape[::-1]):
                    continue
                inliers = _distinct(dst[mask[:, 0] > 0])
                if inliers >= MIN_INLIERS:
                    found.append((inliers, ref, A))
        found.sort(key=lambda c: -c[0])
        return found

    def match(self, frame: np.ndarray) -> Match:
        """The best checked candidate: each similarity transform proposed by SIFT is refined and checked by aligning
        the reference's pixels to the frame (see `verify`); the highest correlation wins."""
        h, w = frame.shape[:2]
        k = WORK / min(h, w)  # frame WORK scale per frame pixel
        best = Match()
        tried: list[np.ndarray] = []
        for inliers, ref, A in self._candidates(frame)[: 3 * CANDIDATES]:
            r = ref.size[0] / ref.shape[1]  # reference WORK scale per reference pixel
            warp = np.hstack([A[:, :2] * (r / k), A[:, 2:] / k])
            if any(np.abs(warp - t).max() < 1.0 for t in tried):
                continue
            tried.append(warp)
            if len(tried) > CANDIDATES:
                break
            m = self.verify(frame, ref, warp, inliers)
            if m.corr > best.corr or (best.corr == 0 and m.inliers > best.inliers):
                best = m
            if best.corr >= SURE_CORR:
                break
        return best

    def verify(
        self, frame: np.ndarray, ref: Reference, warp: np.ndarray, inliers: int = 0, radius: float = 0.15
    ) -> Match:
        """Check the appearance that `warp` (reference pixels -> frame pixels, a similarity) predicts, pixel by pixel.
        The frame's hue shift against the reference is read off the predicted place (hue histograms), the reference
        is recoloured by it, scaled and rotated around the prediction (as an RGB image, so that small renderings mix
        colours the way the frame does) and slid over the frame's value channel near the predicted place; the best
        zero-mean normalised correlation over the reference's own pixels is the score."""
        h, w = frame.shape[:2]
        q = min(1.0, VERIFY / min(h, w))  # checking pixels per frame pixel
        scale = float(np.hypot(warp[0, 0], warp[1, 0]))
        degrees = float(np.degrees(np.arctan2(warp[1, 0], warp[0, 0])))
        found = Match(inliers, ref.name, float(np.log(scale)), degrees, 0.0, None)
        rh, rw = ref.shape
        if min(rw, rh) * scale * q < MIN_SIDE:
            return found
        small = frame if q == 1 else cv2.resize(frame, (round(w * q), round(h * q)), interpolation=cv2.INTER_AREA)
        centre = (warp[:, :2] @ np.float64([rw / 2, rh / 2]) + warp[:, 2]) * q  # the reference's centre, checked px
        # the recolouring, from the frame's pixels where the prediction puts the reference
        _, mask, (tx, ty) = _pose(ref.rgb, ref.weight, scale * q, degrees)
        pad = max(mask.shape) * 2
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = np.round(centre - (tx, ty)).astype(int) + pad
        if x0 < 0 or y0 < 0 or x0 + mask.shape[1] > padded.shape[1] or y0 + mask.shape[0] > padded.shape[0]:
            return found
        seen = padded[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        inner = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(np.float32)
        shift = _hue_shift(ref.hues, _hue_histogram(seen, inner))
        rgb = _recolour(ref.rgb, shift)
        value = _value(padded).astype(np.float32)
        if BLUR:
            value = cv2.GaussianBlur(value, (0, 0), BLUR)

        def at(a: float, deg: float) -> tuple[float, float, float, float, float]:
            """Best correlation over shifts for the reference scaled by `a` and rotated by `deg`, and where."""
            template, mask, (tx, ty) = _pose(rgb, ref.weight, a, deg)
            th, tw = template.shape
            r = max(2, round(radius * max(th, tw)))
            x0, y0 = np.round(centre - (tx, ty)).astype(int) - r + pad
            region = value[max(0, y0) : y0 + th + 2 * r, max(0, x0) : x0 + tw + 2 * r]
            if x0 < 0 or y0 < 0 or region.shape[0] < th or region.shape[1] < tw or mask.sum() < 16:
                return (-1.0, a, deg, 0.0, 0.0)
            res = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED, mask=mask)
            res[~np.isfinite(res)] = -1
            _, top, _, (dx, dy) = cv2.minMaxLoc(res)
            return (top, a, deg, x0 + dx + tx - pad, y0 + dy + ty - pad)

        # coordinate search: rotation, then scale, then a finer rotation
        a0 = scale * q  # checked pixels per reference pixel
        best = max((at(a0, degrees + t) for t in (0.0, *SEARCH_DEGREES)), key=lambda b: b[0])
        best = max([best] + [at(a0 * f, best[2]) for f in SEARCH_SCALES], key=lambda b: b[0])
        best = max([best] + [at(best[1], best[2] + t) for t in (-FINE_DEGREES, FINE_DEGREES)], key=lambda b: b[0])
        corr, a, deg, cx, cy = best
        if corr <= 0:
            return found
        t = np.radians(deg)
        lin = np.float64([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) * (a / q)  # reference px -> frame px
        shift_px = np.float64([cx, cy]) / q - lin @ np.float64([rw / 2, rh / 2])
        full = np.hstack([lin, shift_px[:, None]])
        return Match(inliers, ref.name, float(np.log(a / q)), float((deg + 180) % 360 - 180), float(corr),
                     tuple(map(tuple, full.tolist())))  # fmt: skip

    def frame_score(self, frame: np.ndarray) -> tuple[float, str | None]:
        """This frame alone: correlation / MIN_CORR (>= 1 is a hit) and the reference it came from."""
        m = self.match(frame)
        return m.corr / MIN_CORR, m.name

    def scores(self, frames: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """(T, 1) scores and the matched reference per frame; >= 1 is a hit. A frame's score is its correlation over
        MIN_CORR, but it is a hit only with a partner: another frame of the video whose match agrees on the
        reference, its scale and its rotation, where both reach WEAK_CORR and one of them MIN_CORR. Chance matches on
        the world's shapes do not repeat the same transform; an object in a video does. So a lone frame above
        MIN_CORR scores just under 1, and a frame above WEAK_CORR with a partner above MIN_CORR scores 1. A video of one
        frame is judged on that frame alone."""
        matches = [self.match(f) for f in frames]
        return _agreed(matches), [m.name for m in matches]


def _agreed(matches: list[Match]) -> np.ndarray:
    """The scores of `scores` from the matches of a video's frames."""
    corr = np.array([m.corr for m in matches], np.float64)
    out = corr / MIN_CORR
    if len(matches) > 1:
        for i, m in enumerate(matches):
            hit = corr[i] >= WEAK_CORR and any(
                j != i and corr[j] >= WEAK_CORR and max(corr[i], corr[j]) >= MIN_CORR and m.agrees(o)
                for j, o in enumerate(matches)
            )
            out[i] = max(out[i], 1.0) if hit else min(out[i], LONE)
    return out[:, None].astype(np.float32)


def _pose(
    rgb: np.ndarray, weight: np.ndarray, a: float, degrees: float
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The reference (RGB) scaled by `a` and rotated by `degrees` (image coordinates), then its value channel, cut to
    its opaque part: the template (float32, blurred by BLUR), its mask (uint8, 1 on fully opaque pixels) and where the
    reference's centre lies in it."""
    rh, rw = weight.shape
    tw, th = max(1, round(rw * a)), max(1, round(rh * a))
    v = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
    wgt = cv2.resize(weight, (tw, th), interpolation=cv2.INTER_AREA)
    side = int(np.ceil(np.hypot(tw, th))) + 2
    M = cv2.getRotationMatrix2D((tw / 2, th / 2), -degrees, 1.0)
    M[:, 2] += (side - tw) / 2, (side - th) / 2
    v = _value(cv2.warpAffine(v, M, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    v = v.astype(np.float32)
    if BLUR:
        v = cv2.GaussianBlur(v, (0, 0), BLUR)
    mask = (cv2.warpAffine(wgt, M, (side, side), flags=cv2.INTER_LINEAR) > 0.99).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return v, mask, (side / 2, side / 2)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return (
        np.ascontiguousarray(v[y0:y1, x0:x1]),
        np.ascontiguousarray(mask[y0:y1, x0:x1]),
        (side / 2 - x0, side / 2 - y0),
    )


def _hue_histogram(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Saturation-weighted histogram of OpenCV hues (0..179), circularly smoothed, normalised to sum 1 (or all 0)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    wgt = weight * hsv[..., 1].astype(np.float32) / 255 * (hsv[..., 2] > 40)
    hist = np.bincount(hsv[..., 0].ravel(), wgt.ravel(), minlength=180)[:180]
    k = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    hist = np.convolve(np.concatenate([hist[-9:], hist, hist[:9]]), k, mode="valid")
    return hist / hist.sum() if hist.sum() > 1e-6 else hist


def _hue_shift(reference: np.ndarray, seen: np.ndarray) -> int:
    """The hue rotation (OpenCV units) that best maps the reference's hue histogram onto the one seen."""
    if reference.sum() == 0 or seen.sum() == 0:
        return 0
    corr = np.fft.irfft(np.conj(np.fft.rfft(reference)) * np.fft.rfft(seen), n=180)
    return int(np.argmax(corr))


def _recolour(rgb: np.ndarray, shift: int) -> np.ndarray:
    """`rgb` with its hues rotated by `shift` OpenCV units."""
    if shift % 180 == 0:
        return rgb
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _zncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 0.0


def _distinct(points: np.ndarray) -> int:
    """Inliers that land on distinct frame pixels (several reference keypoints may match one frame keypoint)."""
    return len(np.unique(np.round(points).astype(np.int32), axis=0)) if len(points) else 0


def _plausible(A: np.ndarray, ref_size: tuple[int, int], frame_size: tuple[int, int]) -> bool:
    """The reference, mapped by the similarity A (2, 3), covers 0.5 % to 150 % of the frame."""
    w, h = ref_size
    fw, fh = frame_size
    area = w * h * (A[0, 0] ** 2 + A[1, 0] ** 2)
    return 0.005 * fw * fh < area < 1.5 * fw * fh


class TorchFrameClassifier:
    """An operator's torch model from a local file; see the module docstring."""

    def __init__(self, path: str | Path, categories: list[str], logits: bool = False, batch: int = 16):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"frame classifier '{path}': no such file (a TorchScript .pt or torch.export .pt2)")
        try:
            if path.suffix == ".pt2":
                self.model = torch.export.load(str(path)).module()
            else:
                self.model = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as e:  # noqa: BLE001 - any load failure is the operator's file; say which
            raise ValueError(f"frame classifier '{path}': cannot load it as TorchScript or torch.export ({e})") from e
        if not categories:
            raise ValueError(f"frame classifier '{path}': give the names of its output categories")
        self.path, self._categories, self.logits, self.batch = path, list(categories), logits, batch

    @property
    def categories(self) -> list[str]:
        return self._categories

    @torch.no_grad()
    def scores(self, frames: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        out = []
        for i in range(0, len(frames), self.batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[i : i + self.batch])).permute(0, 3, 1, 2).float() / 255
            y = self.model(x)
            y = torch.sigmoid(y) if self.logits else y
            if y.ndim != 2 or y.shape[1] != len(self._categories):
                raise ValueError(
                    f"frame classifier '{self.path}': returned shape {tuple(y.shape)}; "
                    f"expected (N, {len(self._categories)}) for categories {self._categories}"
                )
            out.append(y.float().numpy())
        return np.concatenate(out), [None] * len(frames)


class FrameModerator:
    """Runs classifiers over the frames; blocks when a category reaches `threshold` on >= `min_frames` frames."""

    def __init__(self, classifiers: list, threshold: float = 1.0, min_frames: int = 2, stride: int = 1):
        if min_frames < 1 or stride < 1:
            raise ValueError(f"min_frames {min_frames} and stride {stride} must be at least 1")
        self.classifiers, self.threshold, self.min_frames, self.stride = classifiers, threshold, min_frames, stride

    def check(self, frames: np.ndarray) -> Decision:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1; got {frames.dtype} {frames.shape}")
        picked = frames[:: self.stride]
        need = min(self.min_frames, len(picked))
        scores: dict[str, float] = {}
        blocked, reasons = [], []
        for clf in self.classifiers:
            s, names = clf.scores(picked)
            for j, category in enumerate(clf.categories):
                col = s[:, j]
                hit = col >= (self.threshold if isinstance(clf, ReferenceMatcher) else 0.5)
                scores[category] = float(np.sort(col)[-need])  # the score reached on `need` frames
                if hit.sum() >= need:
                    blocked.append(category)
                    matched = sorted({n for n, h in zip(names, hit) if h and n})
                    what = f" ({', '.join(matched)})" if matched else ""
                    reasons.append(f"{category}{what} in {int(hit.sum())} of {len(picked)} checked frames")
        if blocked:
            return Decision(False, blocked, scores, "blocked: " + "; ".join(reasons))
        return Decision(True, [], scores, "allowed")
