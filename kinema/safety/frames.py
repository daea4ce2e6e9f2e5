"""Per-frame moderation: every frame of a video passes a list of frame classifiers before the video is written.

A frame classifier maps frames (T, H, W, 3) uint8 to per-frame scores for its categories; the video is blocked when
some category reaches its threshold on at least `min_frames` frames. Two kinds ship:

- `ReferenceMatcher`: reference images an operator loads from a folder (logos, emblems, faces as images). SIFT
  keypoints of each frame (upscaled so its shorter side is `WORK` pixels) are matched to each reference with Lowe's
  ratio test, and a RANSAC homography must explain `MIN_INLIERS` of the matches. SIFT gives scale and rotation
  invariance; colour shift is covered by describing each reference also under hue rotations and an inverted grey.
  The score of a frame is its inlier count over MIN_INLIERS (>= 1 is a hit).
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
MIN_MATCHES = 6
MIN_INLIERS = 6
RATIO = 0.75  # Lowe's ratio test
LOW_RES = 48  # references are also described after a round trip through this size
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _grey(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> grey uint8 with shorter side WORK (upscaled or downscaled)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    s = WORK / min(grey.shape)
    if abs(s - 1) > 1e-3:
        grey = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    return grey


def _colour_variants(rgb: np.ndarray) -> list[np.ndarray]:
    """The reference as given, hue-rotated by 1/3 and 2/3 of the circle, and with its grey inverted."""
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
    descriptors: list[np.ndarray]  # one (K, 128) array per colour variant
    points: list[np.ndarray]  # matching (K, 2) keypoint positions
    size: tuple[int, int]  # (width, height) of the reference at WORK scale


class ReferenceMatcher:
    """Matches frames against reference images; see the module docstring."""

    def __init__(self, references: list[Reference], category: str = "reference_match"):
        self.references, self.category = references, category
        self.sift = cv2.SIFT_create()
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)

    @property
    def categories(self) -> list[str]:
        return [self.category]

    @classmethod
    def from_images(cls, images: dict[str, np.ndarray], category: str = "reference_match") -> ReferenceMatcher:
        sift = cv2.SIFT_create()
        refs = []
        for name, rgb in images.items():
            descs, pts = [], []
            rgb = np.ascontiguousarray(rgb[..., :3]).astype(np.uint8)
            size = _grey(rgb).shape[::-1]
            for variant in _colour_variants(rgb):
                grey = _grey(variant)
                low = cv2.resize(
                    cv2.resize(grey, (LOW_RES, LOW_RES), interpolation=cv2.INTER_AREA), size, cv2.INTER_CUBIC
                )
                for g in (grey, low):  # as given, and as it looks when it appears small in a frame
                    kp, d = sift.detectAndCompute(g, None)
                    if d is not None and len(kp) >= MIN_MATCHES:
                        descs.append(d)
                        pts.append(np.float32([k.pt for k in kp]))
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

    def frame_score(self, frame: np.ndarray) -> tuple[float, str | None]:
        """Best inliers / MIN_INLIERS over references and colour variants, and the reference it came from."""
        grey = _grey(frame)
        kp, d = self.sift.detectAndCompute(grey, None)
        if d is None or len(kp) < MIN_MATCHES:
            return 0.0, None
        frame_pts = np.float32([k.pt for k in kp])
        best, best_name = 0, None
        for ref in self.references:
            for ref_d, ref_pts in zip(ref.descriptors, ref.points):
                pairs = self.matcher.knnMatch(ref_d, d, k=2)
                good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
                if len(good) < MIN_MATCHES:
                    continue
                src = ref_pts[[m.queryIdx for m in good]]
                dst = frame_pts[[m.trainIdx for m in good]]
                H, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
                if H is None or not _plausible(H, ref.size, grey.shape[::-1]):
                    continue
                inliers = int(mask.sum())
                if inliers > best:
                    best, best_name = inliers, ref.name
        return best / MIN_INLIERS, best_name

    def scores(self, frames: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
        """(T, 1) scores and the matched reference per frame."""
        results = [self.frame_score(f) for f in frames]
        return np.array([[s] for s, _ in results], np.float32), [n for _, n in results]


def _plausible(H: np.ndarray, ref_size: tuple[int, int], frame_size: tuple[int, int]) -> bool:
    """The reference's corners map to a convex quadrilateral inside the frame's neighbourhood, of a sensible size
    (0.5 % to 150 % of the frame) and without extreme shear: RANSAC on repetitive texture finds degenerate maps."""
    w, h = ref_size
    corners = cv2.perspectiveTransform(np.float32([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]]), H)[:, 0]
    if not cv2.isContourConvex(corners.astype(np.float32)):
        return False
    area = cv2.contourArea(corners)
    fw, fh = frame_size
    sides = np.linalg.norm(corners - np.roll(corners, 1, axis=0), axis=1)
    return 0.005 * fw * fh < area < 1.5 * fw * fh and sides.max() < 4 * sides.min()


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
