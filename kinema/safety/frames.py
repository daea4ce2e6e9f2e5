"""Per-frame moderation: every frame of a video passes a list of frame classifiers before the video is written.

A frame classifier maps frames (T, H, W, 3) uint8 to per-frame scores for its categories; the video is blocked when
some category reaches its threshold on at least `min_frames` frames. Two kinds ship:

- `ReferenceMatcher`: reference images an operator loads from a folder (logos, emblems, faces as images). RootSIFT
  keypoints of each frame (upscaled so its shorter side is `WORK` pixels, at half OpenCV's contrast threshold so
  small soft frames still give keypoints) are matched to each reference with Lowe's ratio test, and a RANSAC
  similarity transform must explain `MIN_INLIERS` distinct frame points. SIFT gives scale and rotation invariance;
  colour shift is covered by describing each reference also under hue rotations and an inverted grey, small
  appearances by describing it after round trips through low resolutions. A frame with `WEAK_INLIERS` or more also
  counts when another frame of the video agrees on the reference's scale and rotation. The score of a frame is its
  inlier count over MIN_INLIERS (>= 1 is a hit).
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

WORK = 256  # frames and references are scaled so their shorter side is this many pixels
MIN_MATCHES = 4  # ratio-test matches before a geometric check is tried
MIN_INLIERS = 6  # inliers of one frame's similarity transform that make a hit on their own
WEAK_INLIERS = 4  # fewer inliers make a hit only when another frame agrees on the reference's scale and rotation
AGREE_LOG_SCALE = 0.2  # frames agree when their scales differ by less than this (natural log) ...
AGREE_DEGREES = 20.0  # ... and their rotations by less than this many degrees
RATIO = 0.8  # Lowe's ratio test
RANSAC_PIXELS = 6.0  # reprojection tolerance at WORK scale
CONTRAST = 0.02  # SIFT contrast threshold: half OpenCV's default, since small frames arrive upscaled and soft
LOW_RES = (48, 24)  # references are also described after a round trip through these sizes
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _grey(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> grey uint8 with shorter side WORK (upscaled or downscaled)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    s = WORK / min(grey.shape)
    if abs(s - 1) > 1e-3:
        grey = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    return grey


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


def _colour_variants(rgb: np.ndarray) -> list[np.ndarray]:
    """The reference as given, hue-rotated in steps of 1/6 of the circle, and each of those with its grey inverted."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    out = [rgb]
    for shift in (30, 60, 90, 120, 150):  # OpenCV hue runs 0..180
        h = hsv.copy()
        h[..., 0] = (h[..., 0].astype(np.int16) + shift) % 180
        out.append(cv2.cvtColor(h, cv2.COLOR_HSV2RGB))
    return out + [255 - v for v in out]


@dataclass
class Reference:
    name: str
    descriptors: list[np.ndarray]  # one (K, 128) array per colour variant and resolution
    points: list[np.ndarray]  # matching (K, 2) keypoint positions
    size: tuple[int, int]  # (width, height) of the reference at WORK scale


@dataclass(frozen=True)
class Match:
    """One frame's best geometric match: inliers of a similarity transform, the reference, its scale and rotation."""

    inliers: int = 0
    name: str | None = None
    log_scale: float = 0.0
    degrees: float = 0.0

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
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)

    @property
    def categories(self) -> list[str]:
        return [self.category]

    @classmethod
    def from_images(cls, images: dict[str, np.ndarray], category: str = "reference_match") -> ReferenceMatcher:
        sift = _sift()
        refs = []
        for name, rgb in images.items():
            descs, pts = [], []
            rgb = np.ascontiguousarray(rgb[..., :3]).astype(np.uint8)
            size = _grey(rgb).shape[::-1]
            for variant in _colour_variants(rgb):
                grey = _grey(variant)
                lows = [
                    cv2.resize(cv2.resize(grey, (r, r), interpolation=cv2.INTER_AREA), size, cv2.INTER_CUBIC)
                    for r in LOW_RES
                ]
                for g in (grey, *lows):  # as given, and as it looks when it appears small in a frame
                    p, d = _describe(sift, g)
                    if d is not None and len(p) >= MIN_MATCHES:
                        descs.append(d)
                        pts.append(p)
            if not descs:
                raise ValueError(f"reference image '{name}': too plain to match (fewer than {MIN_MATCHES} keypoints)")
            refs.append(Reference(name, descs, pts, size))
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
                    images[p.stem] = np.asarray(im.convert("RGB"))
            except OSError as e:
                raise ValueError(f"reference image '{p}': cannot read it ({e})") from e
        return cls.from_images(images, category)

    def match(self, frame: np.ndarray) -> Match:
        """The best similarity transform from any reference (any colour variant) into the frame, by RANSAC inliers."""
        grey = _grey(frame)
        frame_pts, d = _describe(self.sift, grey)
        if d is None or len(frame_pts) < MIN_MATCHES:
            return Match()
        best = Match()
        for ref in self.references:
            for ref_d, ref_pts in zip(ref.descriptors, ref.points):
                pairs = self.matcher.knnMatch(ref_d, d, k=2)
                good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
                if len(good) < MIN_MATCHES:
                    continue
                src = ref_pts[[m.queryIdx for m in good]]
                dst = frame_pts[[m.trainIdx for m in good]]
                A, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS)
                if A is None or not _plausible(A, ref.size, grey.shape[::-1]):
                    continue
                inliers = _distinct(dst[mask[:, 0] > 0])
                if inliers > best.inliers:
                    log_scale, degrees = np.log(np.hypot(A[0, 0], A[1, 0])), np.degrees(np.arctan2(A[1, 0], A[0, 0]))
                    best = Match(inliers, ref.name, float(log_scale), float(degrees))
        return best

    def frame_score(self, frame: np.ndarray) -> tuple[float, str | None]:
        """This frame alone: inliers / MIN_INLIERS (>= 1 is a hit) and the reference it came from."""
        m = self.match(frame)
        return m.inliers / MIN_INLIERS, m.name

    def scores(self, frames: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """(T, 1) scores and the matched reference per frame. A frame with WEAK_INLIERS..MIN_INLIERS - 1 inliers scores
        1 (a hit) when another frame of the video agrees with its scale and rotation: chance matches on the world's
        shapes do not repeat the same transform, an object that moves across the video does."""
        matches = [self.match(f) for f in frames]
        out = []
        for i, m in enumerate(matches):
            s = m.inliers / MIN_INLIERS
            if WEAK_INLIERS <= m.inliers < MIN_INLIERS and any(
                j != i and o.inliers >= WEAK_INLIERS and m.agrees(o) for j, o in enumerate(matches)
            ):
                s = 1.0
            out.append([s])
        return np.array(out, np.float32), [m.name for m in matches]


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
