"""Watermark: resize and crop (alone and together) survive the geometric search, the half-and-half sign in time cancels
static content, soft Viterbi decoding fixes what the hard bits get wrong."""

import numpy as np
import pytest

from kinema.safety import watermark as wm
from kinema.safety.evaluate import _crop, _resize
from kinema.world.render import render
from kinema.world.sample import sample_scenes


@pytest.fixture(scope="module")
def clip():
    return render(next(sample_scenes(1, seed=5, width=64, height=64, seconds=1.0)))


def _attack(frames: np.ndarray, attack: str, seed: int = 2) -> np.ndarray:
    if attack == "resize":
        return _resize(frames, 0.75)
    if attack == "crop":
        return _crop(frames, np.random.default_rng(seed), keep=0.88)
    return _crop(_resize(frames, 0.75), np.random.default_rng(seed))  # both: 64 -> 48 -> 43 pixels


@pytest.mark.parametrize("attack", ["resize", "crop", "resize+crop"])
def test_payload_survives_resize_and_crop(clip, attack):
    payload = wm.make_payload("tiny", "job-7")
    d = wm.detect(_attack(wm.embed(clip, payload), attack))
    assert d.detected and d.payload == payload.hex()
    assert not wm.detect(_attack(clip, attack)).detected


def _checkerboard(frames: int = 12, cell: float = 6.4, moving: bool = True) -> np.ndarray:
    """A static high-contrast checkerboard (strong at the mark's own frequencies), with a small square moving."""
    yy, xx = np.mgrid[:64, :64]
    board = np.where((yy // cell + xx // cell) % 2 == 0, 235, 40).astype(np.uint8)
    clip = np.repeat(board[None, :, :, None], frames, 0).repeat(3, -1)
    for i in range(frames if moving else 0):
        clip[i, 20:32, 4 + 3 * i : 16 + 3 * i] = (200, 40, 40)
    return clip


def test_signs_cancel_static_content():
    assert wm._signs(1).tolist() == [1.0]
    assert wm._signs(5).tolist() == [1.0, 1.0, 0.0, -1.0, -1.0] and wm._signs(6).sum() == 0
    still = _checkerboard(moving=False)
    assert np.abs(wm._residual_mean(still)).max() < 1e-6  # the board drops out of the detector's sum exactly
    marked = wm.embed(still, wm.make_payload("tiny", "job-1"))
    assert np.abs(wm._residual_mean(marked)).std() > 1.0  # the mark does not


@pytest.mark.parametrize("cell", [6.4, 9.6])
def test_checkerboard_survives_resize_and_crop(cell):
    clip = _checkerboard(cell=cell)
    payload = wm.make_payload("tiny", "job-0")
    d = wm.detect(_attack(wm.embed(clip, payload), "resize+crop", seed=0))
    assert d.detected and d.payload == payload.hex() and d.bit_accuracy >= 0.9
    assert not wm.detect(_attack(clip, "resize+crop", seed=0)).detected


def test_convolutional_code_roundtrip_and_soft_decoding_only_behind_the_pilot():
    payload = bytes.fromhex("a1b2c3d4e5f6")
    code = wm.encode_bits(payload)
    assert code.shape == (wm.BITS,) and set(code.tolist()) == {0, 1}
    assert (wm.encode_bits(bytes.fromhex("a1b2c3d4e5f7")) != code).sum() >= 10  # the code's free distance
    soft = 2.0 * code - 1
    soft[[3, 20, 21, 45, 70, 88]] *= -0.3  # six wrong hard bits, weakly held
    assert ((soft > 0) != code).sum() == 6
    d = wm._decode(soft, z=wm.Z_DETECT + 1)
    assert d.detected and d.payload == payload.hex() and d.bit_accuracy == pytest.approx(90 / 96)
    low = wm._decode(soft, z=wm.Z_DETECT - 1)
    assert not low.detected and low.payload is None
    with pytest.raises(ValueError, match="exactly 6"):
        wm.encode_bits(b"short")


def test_subpixel_shift_is_found_from_the_pilot():
    key = wm.Key()
    pilot = key.owner < 0
    dy, dx = 3.3, -5.6
    spec = np.zeros((wm.GRID, wm.GRID), np.complex128)
    spec[key.v[pilot] % wm.GRID, key.u[pilot] % wm.GRID] = np.exp(
        1j * key.phase[pilot] - 2j * np.pi * (key.u[pilot] * dx + key.v[pilot] * dy) / wm.GRID
    )
    assert wm._subpixel(key, spec, 3, -6) == pytest.approx((3.3, -5.6), abs=0.051)
