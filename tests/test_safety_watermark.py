"""Watermark: resize and crop survive the geometric search, Chase decoding fixes what hard decoding cannot."""

import numpy as np
import pytest

from kinema.safety import watermark as wm
from kinema.safety.evaluate import _crop, _resize
from kinema.world.render import render
from kinema.world.sample import sample_scenes


@pytest.fixture(scope="module")
def clip():
    return render(next(sample_scenes(1, seed=5, width=64, height=64, seconds=1.0)))


@pytest.mark.parametrize("attack", ["resize", "crop"])
def test_payload_survives_resize_and_crop(clip, attack):
    payload = wm.make_payload("tiny", "job-7")
    marked = wm.embed(clip, payload)
    attacked = _resize(marked, 0.75) if attack == "resize" else _crop(marked, np.random.default_rng(2), keep=0.88)
    d = wm.detect(attacked)
    assert d.detected and d.payload == payload.hex()
    assert not wm.detect(_resize(clip, 0.75) if attack == "resize" else clip[:, 4:60, 2:58]).detected


def test_chase_decoding_recovers_four_byte_errors_only_behind_the_pilot():
    payload = bytes.fromhex("a1b2c3d4e5f6")
    soft = 2.0 * wm.encode_bits(payload) - 1
    soft[[3, 20, 45, 70]] *= -0.1  # four byte errors: beyond the hard decoder's three, weakly held
    assert wm._rs_decode((soft > 0).astype(np.uint8)) is None
    d = wm._decode(soft, z=wm.Z_DETECT + 1)
    assert d.detected and d.payload == payload.hex() and d.bit_accuracy == pytest.approx(92 / 96)
    low = wm._decode(soft, z=wm.Z_DETECT - 1)
    assert not low.detected and low.payload is None


def test_subpixel_shift_is_found_from_the_pilot():
    key = wm.Key()
    pilot = key.owner < 0
    dy, dx = 3.3, -5.6
    spec = np.zeros((wm.GRID, wm.GRID), np.complex128)
    spec[key.v[pilot] % wm.GRID, key.u[pilot] % wm.GRID] = np.exp(
        1j * key.phase[pilot] - 2j * np.pi * (key.u[pilot] * dx + key.v[pilot] * dy) / wm.GRID
    )
    assert wm._subpixel(key, spec, 3, -6) == pytest.approx((3.3, -5.6), abs=0.051)
