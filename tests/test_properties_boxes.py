"""Properties of the box utilities (`mot_pipeline.boxes`) on generated boxes.

Coordinates are small integers (as float32), so sums, differences, halves and areas are exact:
the properties can then ask for equality, not closeness, and a failure is a real difference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mot_pipeline.boxes import (
    area,
    as_boxes,
    clip,
    cxcyah_to_xyxy,
    cxcywh_to_xyxy,
    inside_fraction,
    iou_matrix,
    unique_boxes,
    valid_mask,
    xywh_to_xyxy,
    xyxy_to_cxcyah,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

FAST = settings(deadline=None, max_examples=150)
COORD = st.integers(-1024, 1024)
SIDE = st.integers(0, 512)  # 0: a degenerate (empty) box


@st.composite
def boxes(draw, min_size: int = 0, max_size: int = 6, min_side: int = 0) -> np.ndarray:
    """(N, 4) float32 xyxy boxes with integer corners and sides >= `min_side` (x2 >= x1)."""
    n = draw(st.integers(min_size, max_size))
    side = st.integers(min_side, 512)
    rows = [
        (x, y, x + draw(side), y + draw(side))
        for x, y in draw(st.lists(st.tuples(COORD, COORD), min_size=n, max_size=n))
    ]
    return np.array(rows, np.float32).reshape(-1, 4)


@FAST
@given(boxes())
def test_xywh_and_cxcywh_round_trip_exactly(b: np.ndarray) -> None:
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(b)), b)
    np.testing.assert_array_equal(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    wh = xyxy_to_xywh(b)[:, 2:]
    np.testing.assert_array_equal(wh, xyxy_to_cxcywh(b)[:, 2:])
    np.testing.assert_array_equal(area(b), wh[:, 0] * wh[:, 1])


@FAST
@given(boxes())
def test_cxcyah_round_trips_degenerate_boxes_included(b: np.ndarray) -> None:
    # a = w / h is rounded, so the width comes back to float32 precision, not exactly; a box of
    # no height keeps its width (within the 1e-6 px height the conversion substitutes).
    back = cxcyah_to_xyxy(xyxy_to_cxcyah(b))
    np.testing.assert_allclose(back, b, rtol=1e-6, atol=1e-3)


def test_cxcyah_of_a_box_without_height_keeps_its_width() -> None:
    # Before: h = 0 was stored with a = 5 / 1e-6, so w = a * h came back as 0 (and the Kalman
    # filter, which raises h to 1e-3 px, drew the box 5,000 px wide).
    z = xyxy_to_cxcyah([[0, 0, 5, 0]])
    np.testing.assert_allclose(z, [[2.5, 0, 5e6, 1e-6]], rtol=1e-6)
    np.testing.assert_allclose(cxcyah_to_xyxy(z), [[0, 0, 5, 0]], atol=1e-6)


@pytest.mark.parametrize("empty", [[], np.zeros((0, 4)), np.zeros(0)])
def test_empty_inputs_give_empty_outputs(empty) -> None:
    for convert in (xyxy_to_xywh, xywh_to_xyxy, xyxy_to_cxcywh, cxcywh_to_xyxy, xyxy_to_cxcyah):
        assert convert(empty).shape == (0, 4)
    assert area(empty).shape == (0,) and valid_mask(empty).shape == (0,)
    assert iou_matrix(empty, [[0, 0, 1, 1]]).shape == (0, 1)
    assert iou_matrix([[0, 0, 1, 1]], empty).shape == (1, 0)
    assert unique_boxes(as_boxes(empty), np.zeros(0)) is None


@FAST
@given(boxes(), boxes())
def test_iou_is_symmetric_and_in_unit_interval(a: np.ndarray, b: np.ndarray) -> None:
    ab, ba = iou_matrix(a, b), iou_matrix(b, a)
    assert ab.shape == (len(a), len(b)) and ab.dtype == np.float32
    np.testing.assert_array_equal(ab, ba.T)
    assert ((ab >= 0) & (ab <= 1)).all()


@FAST
@given(boxes(min_size=1))
def test_iou_with_itself_is_one_or_zero_for_empty_boxes(b: np.ndarray) -> None:
    diagonal = np.diag(iou_matrix(b, b))
    np.testing.assert_array_equal(diagonal, np.where(area(b) > 0, 1.0, 0.0))


@FAST
@given(boxes(), boxes(), COORD, COORD)
def test_iou_is_invariant_to_translation(a: np.ndarray, b: np.ndarray, dx: int, dy: int) -> None:
    shift = np.array([dx, dy, dx, dy], np.float32)
    np.testing.assert_array_equal(iou_matrix(a + shift, b + shift), iou_matrix(a, b))


@FAST
@given(boxes(min_size=1, max_size=1, min_side=1), st.integers(2, 8))
def test_iou_of_a_box_and_its_scaled_copy_is_the_area_ratio(b: np.ndarray, k: int) -> None:
    # A box grown k times from its top-left corner contains it: IoU = 1 / k^2.
    big = b.copy()
    big[:, 2:] = b[:, :2] + k * (b[:, 2:] - b[:, :2])
    np.testing.assert_allclose(iou_matrix(b, big), [[1 / k**2]], rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_boxes_overlap_nothing(bad: float) -> None:
    # Documented: 0 where the union is empty or not finite, and no numpy warning on the way.
    b = np.array(
        [[0, 0, 10, 10], [0, 0, bad, 10], [bad, 0, 10, 10], [0, 10, bad, 20], [-bad, 0, bad, 10]],
        np.float32,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iou = iou_matrix(b, b)
    expected = np.zeros((5, 5), np.float32)
    expected[0, 0] = 1
    np.testing.assert_array_equal(iou, expected)
    assert valid_mask(b).tolist() == [True, False, False, False, False]


@FAST
@given(boxes(), st.integers(1, 640), st.integers(1, 480))
def test_clip_is_inside_the_frame_and_idempotent(b: np.ndarray, w: int, h: int) -> None:
    c = clip(b, w, h)
    assert ((c[:, [0, 2]] >= 0) & (c[:, [0, 2]] <= w)).all()
    assert ((c[:, [1, 3]] >= 0) & (c[:, [1, 3]] <= h)).all()
    np.testing.assert_array_equal(clip(c, w, h), c)
    frac = inside_fraction(b, w, h)
    assert ((frac >= 0) & (frac <= 1)).all()
    # A box of positive area is inside by the share of its area that clipping keeps.
    pos = area(b) > 0
    np.testing.assert_allclose(frac[pos], area(c)[pos] / area(b)[pos], rtol=1e-6)


@FAST
@given(boxes(min_side=0), st.integers(1, 4))
def test_valid_mask_is_the_minimum_side(b: np.ndarray, min_size: int) -> None:
    wh = b[:, 2:] - b[:, :2]
    assert valid_mask(b, min_size).tolist() == (wh.min(axis=1) >= min_size).tolist()


@st.composite
def boxes_with_duplicates(draw) -> tuple[np.ndarray, np.ndarray]:
    """Rows drawn from a few distinct boxes (so duplicates are common) and coarse scores (so
    equal scores are too)."""
    pool = draw(boxes(min_size=1, max_size=4))
    n = draw(st.integers(0, 10))
    rows = draw(st.lists(st.integers(0, len(pool) - 1), min_size=n, max_size=n))
    scores = draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=n, max_size=n))
    return pool[rows].reshape(-1, 4), np.array(scores, np.float32)


@FAST
@given(boxes_with_duplicates())
def test_unique_boxes_keeps_one_best_box_of_each_set(case) -> None:
    b, s = case
    keep = unique_boxes(b, s)
    distinct = np.unique(b, axis=0)
    if keep is None:
        assert len(distinct) == len(b)
        return
    assert keep.tolist() == sorted(set(keep.tolist()))  # ascending, no repeats
    kept = b[keep]
    # Every box is represented exactly once ...
    assert len(np.unique(kept, axis=0)) == len(kept) == len(distinct)
    # ... by the first of its highest-scored copies.
    for i in keep:
        same = np.flatnonzero((b == b[i]).all(axis=1))
        assert i == same[np.argmax(s[same])]
    # Idempotent: the kept boxes have no duplicate left.
    assert unique_boxes(kept, s[keep]) is None


def test_unique_boxes_by_hand() -> None:
    b = np.array([[0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 2, 2], [0, 0, 2, 2]], np.float32)
    assert unique_boxes(b, np.array([0.5, 0.1, 0.9, 0.9])).tolist() == [1, 2]
    assert unique_boxes(b[:2], np.array([0.5, 0.1])) is None


def test_unique_boxes_never_merges_nan_boxes() -> None:
    # NaN != NaN: boxes with a NaN are never "identical" (the pipeline drops them first, as
    # `valid_mask` rejects them).
    b = np.array([[np.nan, 0, 2, 2]] * 2, np.float32)
    assert unique_boxes(b, np.array([0.5, 0.5])) is None
