"""Frame matching: RootSIFT descriptors, transform agreement, weak hits confirmed across frames."""

import numpy as np
import pytest

from kinema.safety import frames as fr
from kinema.safety.evaluate import emblem


def test_rootsift_rows_have_unit_length():
    grey = fr._grey(emblem()[..., :3])
    points, d = fr._describe(fr._sift(), grey)
    assert len(points) == len(d) >= fr.MIN_INLIERS
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-3)


def test_agreement_wraps_the_angle_and_needs_the_same_reference():
    a = fr.Match(5, "emblem", 0.1, 175.0)
    assert a.agrees(fr.Match(4, "emblem", 0.2, -178.0))
    assert not a.agrees(fr.Match(4, "other", 0.1, 175.0))
    assert not a.agrees(fr.Match(4, "emblem", 0.1 + fr.AGREE_LOG_SCALE, 175.0))
    assert not a.agrees(fr.Match(4, "emblem", 0.1, 175.0 - fr.AGREE_DEGREES))


@pytest.mark.parametrize(
    ("second", "expected"),
    [(fr.Match(4, "emblem", 0.05, 32.0), [1.0, 1.0]), (fr.Match(4, "emblem", 0.05, 90.0), [4 / 6, 4 / 6])],
)
def test_weak_hits_count_only_when_another_frame_agrees(second, expected):
    matcher = fr.ReferenceMatcher([])
    found = iter([fr.Match(4, "emblem", 0.0, 30.0), second])
    matcher.match = lambda frame: next(found)
    scores, names = matcher.scores(np.zeros((2, 8, 8, 3), np.uint8))
    np.testing.assert_allclose(scores[:, 0], expected, rtol=1e-6)
    assert names == ["emblem", "emblem"]
