"""Frame matching: value-channel RootSIFT proposals, the pixel check (recoloured, scaled, rotated reference against the
frame), agreement across frames, and the end-to-end decision on small clips."""

import cv2
import numpy as np
import pytest
from PIL import Image

from kinema.safety import frames as fr
from kinema.safety.evaluate import composite, emblem
from kinema.world.render import render
from kinema.world.sample import sample_scenes


@pytest.fixture(scope="module")
def matcher():
    return fr.ReferenceMatcher.from_images({"emblem": emblem()[..., :3]})


def world(size, seed=3, frames=8):
    return render(next(sample_scenes(1, seed=seed, width=size, height=size, seconds=1.0)))[:frames]


def placed(frames, seed):
    """The clip with the emblem composited as the evaluation does, and the true map (emblem px -> frame px) of its
    first frame, from the same draws composite() makes."""
    rng = np.random.default_rng(seed)
    state = rng.bit_generator.state
    marked = composite(frames, emblem(), rng)
    rng.bit_generator.state = state
    rng.integers(0, 180), rng.uniform(0.7, 1.15)  # the colour shift's draws
    h, w = frames.shape[1:3]
    side = int(rng.uniform(0.3, 0.6) * min(h, w))
    rot = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-180, 180), 1.0)
    x, y = rng.uniform([0, 0], [w - side, h - side]).astype(int)
    return marked, np.hstack([rot[:, :2] * side / emblem().shape[0], (rot[:, 2] + [x, y])[:, None]])


def test_rootsift_rows_have_unit_length():
    grey = fr._grey(emblem()[..., :3])
    points, d = fr._describe(fr._sift(), grey)
    assert len(points) == len(d) >= 6
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-3)


def test_value_channel_ignores_a_hue_rotation_and_the_shift_is_read_back():
    rgb = np.ascontiguousarray(emblem()[..., :3])
    turned = fr._recolour(rgb, 50)
    np.testing.assert_allclose(fr._value(turned).astype(int), fr._value(rgb).astype(int), atol=2)
    assert not np.array_equal(turned, rgb)
    weight = fr._foreground(rgb)
    shift = fr._hue_shift(fr._hue_histogram(rgb, weight), fr._hue_histogram(turned, weight))
    assert min(abs(shift - 50), 180 - abs(shift - 50)) <= 2


def test_foreground_drops_a_plain_border_or_uses_alpha():
    rgb = emblem()[..., :3]
    w = fr._foreground(rgb)
    assert w[0, 0] == 0 and w[-1, -1] == 0 and w[80, 80] == 1  # black corners are background, the shield is not
    rgba = emblem()
    np.testing.assert_allclose(fr._foreground(rgba), rgba[..., 3] / 255)
    photo = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)  # no plain border: all of it
    assert fr._foreground(photo).min() == 1


def test_agreement_wraps_the_angle_and_needs_the_same_reference():
    a = fr.Match(5, "emblem", 0.1, 175.0)
    assert a.agrees(fr.Match(4, "emblem", 0.2, -178.0))
    assert not a.agrees(fr.Match(4, "other", 0.1, 175.0))
    assert not a.agrees(fr.Match(4, "emblem", 0.1 + fr.AGREE_LOG_SCALE, 175.0))
    assert not a.agrees(fr.Match(4, "emblem", 0.1, 175.0 - fr.AGREE_DEGREES))


def _m(corr, degrees=30.0, name="emblem"):
    return fr.Match(5, name, 0.0, degrees, corr)


@pytest.mark.parametrize(
    ("matches", "hits"),
    [
        ([_m(0.9), _m(0.0)], [False, False]),  # a lone strong frame is not enough
        ([_m(0.9), _m(0.65, 40.0)], [True, True]),  # a weak frame that agrees makes both hits
        ([_m(0.9), _m(0.65, 90.0)], [False, False]),  # ... one with another rotation does not
        ([_m(0.65), _m(0.65)], [False, False]),  # two weak frames are not a hit
        ([_m(0.9), _m(0.9, name="other")], [False, False]),  # different references do not agree
        ([_m(0.8)], [True]),  # a one-frame video is judged alone
    ],
)
def test_hits_need_an_agreeing_frame(matches, hits):
    scores = fr._agreed(matches)[:, 0]
    assert list(scores >= 1) == hits
    matcher = fr.ReferenceMatcher([])
    found = iter(matches)
    matcher.match = lambda frame: next(found)
    s, names = matcher.scores(np.zeros((len(matches), 8, 8, 3), np.uint8))
    np.testing.assert_allclose(s[:, 0], scores)
    assert names == [m.name for m in matches]


def test_check_at_the_true_place_correlates_and_elsewhere_does_not(matcher):
    clean = world(64)
    marked, truth = placed(clean, seed=4)
    ref = matcher.references[0]
    on = matcher.verify(marked[0], ref, truth)
    assert on.corr >= fr.MIN_CORR
    centre = np.array(on.warp) @ [80, 80, 1]
    np.testing.assert_allclose(centre, truth @ [80, 80, 1], atol=2.0)  # the check also says where
    assert matcher.verify(clean[0], ref, truth).corr < fr.WEAK_CORR  # same place, emblem absent


@pytest.mark.parametrize(("size", "seed"), [(64, 1), (64, 2), (128, 5)])
def test_a_rotated_recoloured_emblem_in_a_small_clip_is_blocked_and_the_clean_clip_is_not(matcher, size, seed):
    clean = world(size, seed=seed)
    moderator = fr.FrameModerator([matcher])
    assert moderator.check(clean).allowed
    marked, _ = placed(clean, seed=seed)
    d = moderator.check(marked)
    assert not d.allowed and "emblem" in d.reason


def test_from_folder_keeps_alpha_and_refuses_bad_images(tmp_path):
    Image.fromarray(emblem()).save(tmp_path / "emblem.png")
    m = fr.ReferenceMatcher.from_folder(tmp_path)
    np.testing.assert_allclose(m.references[0].weight, emblem()[..., 3] / 255)
    for name, image, message in [
        ("tiny", np.zeros((8, 8, 3), np.uint8), "at least 16x16"),
        ("plain", np.full((64, 64, 3), 90, np.uint8), "too plain"),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        Image.fromarray(image).save(folder / f"{name}.png")
        with pytest.raises(ValueError, match=f"'{name}'.*{message}"):
            fr.ReferenceMatcher.from_folder(folder)
