"""Invisible watermark: a 48-bit payload (16-bit model id + 32-bit job hash) in every frame's luma.

The mark is a band-limited periodic pattern whose period is the whole frame, defined in Fourier space on integer
frequencies (u, v) cycles per frame with 3 <= |(u, v)| <= 15. A keyed random draw splits those frequencies among a
pilot (known phases, for synchronisation) and the 80 bits of a Reed-Solomon codeword (6 data bytes + 4 parity bytes,
correcting 2 byte errors); a bit's sign flips the phase of its frequencies. The same pattern is added to every
frame, so H.264 keeps it in skipped blocks, and the detector averages all frames, which washes out moving content.

Geometry: because the period is the frame, a resize leaves the pattern unchanged relative to the frame. A crop keeps
a fraction (fx, fy) of the frame and shifts it: the detector tries fractions from 1 down to 0.8, places the frame
on a canvas of the original's proportions and finds the shift by phase correlation with the pilot. Detection needs
the pilot's peak to stand `Z_DETECT` standard deviations over the correlation surface and the codeword to decode.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np
from reedsolo import ReedSolomonError, RSCodec

DATA_BYTES = 6  # payload: 2 bytes model id + 4 bytes job hash
PARITY_BYTES = 6
BITS = 8 * (DATA_BYTES + PARITY_BYTES)
BAND = (3.0, 15.0)  # cycles per frame; frames need at least 2 * 15 + 2 = 32 pixels a side
GRID = 64  # detection canvas, pixels per frame side
PILOT_SHARE = 0.25  # fraction of the band's frequencies given to the pilot
AMPLITUDE = 2.6  # RMS of the pattern in 8-bit luma levels: PSNR about 40 dB before rounding
RESIDUAL_CLIP = 8.0  # luma levels
WORK = 96  # frames are shrunk to this shorter side before the median residual
Z_DETECT = 7.0  # pilot peak over its correlation surface, in standard deviations
CROPS = tuple(np.round(np.arange(1.0, 0.79, -0.025), 3))  # fractions of each side the detector tries
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Detection:
    """What the detector read: whether the mark is there, the payload as hex (None if it did not decode), the bit
    accuracy against the decoded codeword (or its soft estimate when nothing decoded) and the pilot z-score."""

    detected: bool
    bit_accuracy: float
    payload: str | None
    confidence: float
    bits: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {
            "detected": self.detected,
            "bit_accuracy": round(self.bit_accuracy, 4),
            "payload": self.payload,
            "confidence": round(self.confidence, 4),
        }


def make_payload(model_id: str, job: str) -> bytes:
    """6 bytes: the first 2 of sha256(model_id) and the first 4 of sha256(job)."""
    return hashlib.sha256(model_id.encode()).digest()[:2] + hashlib.sha256(job.encode()).digest()[:4]


def _codec() -> RSCodec:
    return RSCodec(PARITY_BYTES)


def encode_bits(payload: bytes) -> np.ndarray:
    """6 payload bytes -> 80 code bits (0/1)."""
    if len(payload) != DATA_BYTES:
        raise ValueError(f"watermark payload: {len(payload)} bytes; it holds exactly {DATA_BYTES}")
    return np.unpackbits(np.frombuffer(bytes(_codec().encode(payload)), np.uint8))


class Key:
    """The keyed split of the band: frequency list, phases, which frequencies belong to the pilot and to each bit."""

    def __init__(self, key: str = "kinema"):
        seed = int.from_bytes(hashlib.sha256(f"kinema-watermark:{key}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        lo, hi = BAND
        r = int(math.ceil(hi))
        freqs = [
            (u, v)
            for u in range(-r, r + 1)
            for v in range(0, r + 1)
            if (v > 0 or u > 0) and lo <= math.hypot(u, v) <= hi  # one of each conjugate pair
        ]
        freqs = np.array(freqs)[rng.permutation(len(freqs))]
        self.u, self.v = freqs[:, 0], freqs[:, 1]
        self.phase = rng.uniform(0, 2 * np.pi, len(freqs))
        n_pilot = int(round(PILOT_SHARE * len(freqs)))
        self.owner = np.full(len(freqs), -1)  # -1: pilot, else the bit index
        self.owner[n_pilot:] = np.arange(len(freqs) - n_pilot) % BITS

    def pattern(self, bits: np.ndarray, height: int, width: int) -> np.ndarray:
        """The pattern (H, W) float for code bits, RMS `AMPLITUDE`, by inverse FFT at the frame's own size."""
        if min(height, width) < 2 * BAND[1] + 2:
            raise ValueError(f"frame {width}x{height}: the watermark needs frames of at least 32x32 pixels")
        sign = np.where(self.owner < 0, 1.0, np.where(bits[np.maximum(self.owner, 0)] > 0, 1.0, -1.0))
        spec = np.zeros((height, width), np.complex128)
        coef = sign * np.exp(1j * self.phase)
        spec[self.v % height, self.u % width] = coef
        spec[-self.v % height, -self.u % width] = np.conj(coef)
        pat = np.fft.ifft2(spec).real
        return pat * (AMPLITUDE / pat.std())

    def reference(self, grid: int = GRID) -> np.ndarray:
        """The pilot's spectrum on the detection canvas (grid, grid): unit phasors at its frequencies."""
        spec = np.zeros((grid, grid), np.complex128)
        p = self.owner < 0
        spec[self.v[p] % grid, self.u[p] % grid] = np.exp(1j * self.phase[p])
        spec[-self.v[p] % grid, -self.u[p] % grid] = np.exp(-1j * self.phase[p])
        return spec


def embed(frames: np.ndarray, payload: bytes, key: Key | None = None) -> np.ndarray:
    """Add the mark for `payload` (6 bytes) to uint8 frames (T, H, W, 3); returns new uint8 frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"watermark: frames must be uint8 (T, H, W, 3); got {frames.dtype} {frames.shape}")
    key = key or Key()
    pat = key.pattern(encode_bits(payload), frames.shape[1], frames.shape[2]).astype(np.float32)
    out = frames.astype(np.float32) + pat[None, :, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _residual_mean(frames: np.ndarray) -> np.ndarray:
    """Mean over frames of each frame's luma minus its 5x5 median, clipped (H, W) float32.

    The median keeps the flat regions and sharp edges of the content and drops the fine pattern, so the residual is
    mostly mark; clipping bounds what is left at edges and texture. Frame by frame, to keep memory small."""
    h, w = frames.shape[1:3]
    scale = min(1.0, WORK / min(h, w))  # work near the detection canvas' resolution: the mark is a few pixels wide
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    acc = np.zeros((height, width), np.float64)
    for f in frames:
        y = cv2.resize(f.astype(np.float32) @ _LUMA, (width, height), interpolation=cv2.INTER_AREA)
        acc += np.clip(y - cv2.medianBlur(y, 5), -RESIDUAL_CLIP, RESIDUAL_CLIP)
    return (acc / len(frames)).astype(np.float32)


def _whiten(spec: np.ndarray) -> np.ndarray:
    """Phase only: every frequency votes with weight 1, so strong content at a few frequencies cannot dominate."""
    return spec / np.maximum(np.abs(spec), 1e-6)


def detect(frames: np.ndarray, key: Key | None = None) -> Detection:
    """Look for the mark in frames (T, H, W, 3) uint8, trying crops; see the module docstring."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"watermark: frames must have shape (T, H, W, 3); got {frames.shape}")
    key = key or Key()
    mean = _residual_mean(frames)
    ref = key.reference()
    best = (-np.inf, None, None)
    for fy in CROPS:
        for fx in CROPS:
            w, h = max(2, round(GRID * fx)), max(2, round(GRID * fy))
            interp = cv2.INTER_AREA if w < mean.shape[1] else cv2.INTER_LINEAR
            part = cv2.resize(mean, (w, h), interpolation=interp)
            canvas = np.zeros((GRID, GRID), np.float32)
            canvas[:h, :w] = part - part.mean()
            spec = _whiten(np.fft.fft2(canvas))
            surface = np.fft.ifft2(spec * np.conj(ref)).real
            z = (surface.max() - surface.mean()) / (surface.std() + 1e-12)
            if z > best[0]:
                best = (z, spec, np.unravel_index(surface.argmax(), surface.shape))
    z, spec, (dy, dx) = best
    # Undo the shift found by the pilot: the canvas holds the pattern moved by (dy, dx).
    soft = _read_bits(key, spec, dy, dx)
    return _decode(soft, float(z))


def _read_bits(key: Key, spec: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Soft bit values: each bit's frequencies, phase-corrected for the shift, projected on their reference phase."""
    ramp = np.exp(-2j * np.pi * (key.u * dx + key.v * dy) / GRID)
    vals = spec[key.v % GRID, key.u % GRID] * np.conj(np.exp(1j * key.phase) * ramp)
    bits = key.owner >= 0
    return np.bincount(key.owner[bits], weights=vals.real[bits], minlength=BITS)


def _decode(soft: np.ndarray, z: float) -> Detection:
    raw = (soft > 0).astype(np.uint8)
    scale = np.sqrt(np.mean(soft**2)) + 1e-12
    codec = _codec()
    payload = None
    try:
        decoded = codec.decode(bytes(np.packbits(raw)))[0]
        payload = bytes(decoded)
    except ReedSolomonError:
        # Erase the least confident bytes and try again (Reed-Solomon corrects twice as many erasures as errors).
        confidence = np.abs(soft).reshape(-1, 8).min(axis=1)
        for n in (2, 4):
            erase = [int(i) for i in np.argsort(confidence)[:n]]
            try:
                payload = bytes(codec.decode(bytes(np.packbits(raw)), erase_pos=erase)[0])
                break
            except ReedSolomonError:
                continue
    if payload is not None:
        accuracy = float(np.mean(encode_bits(payload) == raw))
    else:  # no codeword: the mean probability that a bit is right, if bits are Gaussian around +-mean|soft|
        accuracy = float(np.mean(0.5 * (1 + np.vectorize(math.erf)(np.abs(soft) / scale / math.sqrt(2)))))
    detected = payload is not None and z >= Z_DETECT
    return Detection(detected, accuracy, payload.hex() if detected else None, z, raw)
