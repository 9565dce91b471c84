"""Properties of association (`association.assign`, `match_cascade`) and of the track lifecycle
seen through the pipeline, on generated matrices, boxes and detection streams."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from association import CascadeConfig, TrackGroups, assign, match_cascade
from mot_pipeline import Detections, Pipeline
from mot_pipeline.lifecycle import LifecycleConfig
from mot_pipeline.pipeline import PipelineConfig
from trackers import create

FAST = settings(deadline=None, max_examples=150)
# Few distinct values, so ties (equal affinities, several optima) are common.
LEVELS = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
NEVER = [-np.inf, np.nan]  # affinities that must never be matched


@st.composite
def affinities(draw, max_side: int = 4, special: bool = False) -> np.ndarray:
    rows, cols = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    values = st.sampled_from(LEVELS + NEVER if special else LEVELS)
    flat = draw(st.lists(values, min_size=rows * cols, max_size=rows * cols))
    return np.array(flat, np.float64).reshape(rows, cols)


def best_gain(aff: np.ndarray, t: float) -> float:
    """Brute force: the largest sum of (affinity - t) over one-to-one matchings of pairs with
    affinity >= t: what the gated Hungarian maximises (each pair left out costs the gate)."""
    rows, cols = aff.shape
    gain = np.where(aff >= t, aff - t, -np.inf)  # nan >= t is False
    best = 0.0
    for k in range(1, min(rows, cols) + 1):
        for r in itertools.combinations(range(rows), k):
            for c in itertools.permutations(range(cols), k):
                best = max(best, float(gain[list(r), list(c)].sum()))
    return best


def check_assignment(aff: np.ndarray, t: float) -> np.ndarray:
    """The properties every assignment has; returns its matches."""
    a = assign(aff, t)
    rows, cols = aff.shape
    m = a.matches
    assert m.shape[1] == 2 and m.dtype == np.int64
    assert len(set(m[:, 0])) == len(m) and len(set(m[:, 1])) == len(m)  # each at most once
    assert sorted([*m[:, 0], *a.unmatched_rows]) == list(range(rows))
    assert sorted([*m[:, 1], *a.unmatched_cols]) == list(range(cols))
    assert list(a.unmatched_rows) == sorted(a.unmatched_rows)
    assert list(a.unmatched_cols) == sorted(a.unmatched_cols)
    assert (aff[m[:, 0], m[:, 1]] >= t).all()  # the gate holds (nan, -inf never pass)
    return m


@FAST
@given(affinities(special=True), st.sampled_from([0.0, 0.2, 0.5, 0.9]))
def test_assignment_is_one_to_one_gated_and_optimal(aff: np.ndarray, t: float) -> None:
    m = check_assignment(aff, t)
    got = float((aff[m[:, 0], m[:, 1]] - t).sum())
    assert abs(got - best_gain(aff, t)) < 1e-9
    # Optimal, so no pair above the gate is left with both sides free.
    free = np.ix_(assign(aff, t).unmatched_rows, assign(aff, t).unmatched_cols)
    assert not (aff[free] > t).any()


@FAST
@given(affinities(), st.sampled_from([0.0, 0.2, 0.5]))
def test_assignment_is_deterministic_even_with_ties(aff: np.ndarray, t: float) -> None:
    a, b = assign(aff, t), assign(aff.copy(), t)
    np.testing.assert_array_equal(a.matches, b.matches)
    np.testing.assert_array_equal(a.unmatched_rows, b.unmatched_rows)
    np.testing.assert_array_equal(a.unmatched_cols, b.unmatched_cols)


@FAST
@given(affinities(max_side=4), st.randoms(use_true_random=False))
def test_assignment_follows_a_permutation_when_the_optimum_is_unique(aff, rnd) -> None:
    # Distinct affinities make ties unlikely but not impossible: a sum of two pairs can equal
    # another's. Perturb by distinct powers of two from 2^-20 on: no two matchings tie.
    rows, cols = aff.shape
    aff = aff + np.ldexp(1.0, -20 - np.arange(rows * cols)).reshape(rows, cols)
    pr, pc = rnd.sample(range(rows), rows), rnd.sample(range(cols), cols)
    base = {tuple(p) for p in assign(aff, 0.2).matches.tolist()}
    moved = assign(aff[np.ix_(pr, pc)], 0.2).matches
    assert {(pr[r], pc[c]) for r, c in moved.tolist()} == base


def test_assignment_objective_by_hand() -> None:
    # Gate 0.2: one pair at 0.9 gains 0.7; the cross pairs at 0.5 + 0.5 gain 0.6, though their
    # total affinity (1.0) is larger. Gated Hungarian (ByteTrack's lapjv with cost_limit)
    # keeps the confident pair and leaves row 1 and column 1 free.
    a = assign(np.array([[0.9, 0.5], [0.5, 0.0]]), 0.2)
    assert a.matches.tolist() == [[0, 0]]
    assert a.unmatched_rows.tolist() == [1] and a.unmatched_cols.tolist() == [1]


def test_nan_and_minus_inf_affinities_are_never_matched_by_hand() -> None:
    # Before, a NaN anywhere misled lapjv: column 0 went to row 0 (0.0) instead of row 1 (0.1).
    a = assign(np.array([[0.0], [0.1], [np.nan]]), 0.0)
    assert a.matches.tolist() == [[1, 0]] and a.unmatched_rows.tolist() == [0, 2]
    a = assign(np.array([[-np.inf, 0.5], [np.nan, 0.4], [0.6, -np.inf]]), 0.3)
    assert a.matches.tolist() == [[0, 1], [2, 0]] and a.unmatched_rows.tolist() == [1]
    assert assign(np.array([[np.nan]]), 0.0).matches.shape == (0, 2)


@pytest.mark.parametrize(("aff", "gate"), [([[np.inf, 0.5]], 0.2), ([[0.5]], float("nan"))])
def test_plus_inf_affinity_or_nan_gate_is_an_error(aff, gate: float) -> None:
    # lapjv cannot rank +inf (it left a 0.3 cost pair unmatched beside one); a NaN gate used to
    # match nothing, silently.
    with pytest.raises(ValueError, match=r"inf|NaN"):
        assign(np.array(aff), gate)


# -- cascade --------------------------------------------------------------------------------
COORD = st.integers(0, 60)


@st.composite
def cascade_case(draw):
    """Tracks and detections on a small grid (so many overlap), random groups and scores."""

    def boxes(n: int) -> np.ndarray:
        xy = draw(st.lists(st.tuples(COORD, COORD, st.integers(4, 20)), min_size=n, max_size=n))
        return np.array([(x, y, x + s, y + 2 * s) for x, y, s in xy], np.float32).reshape(-1, 4)

    m, n = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    state = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=m, max_size=m)), int)
    groups = TrackGroups(state == 1, state == 2)  # 0: lost, 1: tracked, 2: tentative
    scores = draw(
        st.lists(st.sampled_from([0.05, 0.1, 0.15, 0.25, 0.6, 0.9]), min_size=n, max_size=n)
    )
    dets = Detections(boxes(n), np.array(scores, np.float32))
    track_scores = np.array(draw(st.lists(st.sampled_from([0.5, 1.0]), min_size=m, max_size=m)))
    prior = boxes(m) if draw(st.booleans()) else None
    return boxes(m), track_scores, groups, dets, prior


@FAST
@given(cascade_case(), st.sampled_from([0.0, 0.2]))
def test_cascade_partitions_tracks_and_detections(case, gap: float) -> None:
    tracks, track_scores, groups, dets, prior = case
    c = CascadeConfig()
    r = match_cascade(tracks, track_scores, groups, dets, c, gap, prior, frame_size=(64, 64))
    t, d = r.matches[:, 0], r.matches[:, 1]
    assert len(set(t)) == len(t) and len(set(d)) == len(d)  # each track, each detection once
    assert sorted([*t, *r.unmatched_tracks]) == list(range(len(tracks)))
    high = set(np.flatnonzero(dets.scores >= c.high_score))
    low = set(np.flatnonzero((dets.scores > c.low_score) & (dets.scores < c.high_score)))
    assert set(d) <= high | low  # scores at or below low_score are never used
    # Every high-score detection is matched or offered for a new track; no low one is.
    assert set(r.unmatched_high) == high - set(d)
    assert list(r.unmatched_high) == sorted(r.unmatched_high)
    # Only tracks tracked at the last detector frame may take a low-score detection.
    for ti, di in r.matches.tolist():
        if di in low:
            assert groups.tracked[ti]
    # Every match overlaps (all gates are positive), in the track's box or its prior.
    if len(t):
        with_prior = prior if prior is not None else tracks
        grown = c.buffer_per_second * gap > 0
        overlap = _overlaps(tracks[t], dets.boxes[d]) | _overlaps(with_prior[t], dets.boxes[d])
        assert grown or overlap.all()


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise: does box a[i] overlap box b[i] with positive area?"""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    return (w > 0) & (h > 0)


# -- lifecycle through the pipeline -----------------------------------------------------------
FRAME = np.zeros((48, 64, 3), np.uint8)


class ListDetector:
    """Returns the given detections frame by frame."""

    def __init__(self, frames: list[Detections]) -> None:
        self.frames = frames

    def __call__(self, frame: np.ndarray, frame_index: int | None = None) -> Detections:
        return self.frames[frame_index]


@st.composite
def detection_stream(draw) -> list[Detections]:
    """Up to 12 frames of 0-3 boxes at a few positions (so tracks match, miss, come back)."""
    spots = [(2, 2), (20, 5), (40, 10), (21, 6), (50, 30)]
    frames = []
    for _ in range(draw(st.integers(1, 12))):
        picks = draw(st.lists(st.sampled_from(spots), max_size=3, unique=True))
        scores = draw(
            st.lists(st.sampled_from([0.3, 0.9]), min_size=len(picks), max_size=len(picks))
        )
        b = np.array([(x, y, x + 10, y + 16) for x, y in picks], np.float32).reshape(-1, 4)
        frames.append(Detections(b, np.array(scores, np.float32)))
    return frames


@settings(deadline=None, max_examples=60)
@given(detection_stream(), st.sampled_from(["hold", "kalman"]), st.integers(1, 3))
def test_ids_are_never_reused_and_tracks_are_confirmed_before_reported(
    stream: list[Detections], tracker: str, min_hits: int
) -> None:
    life = LifecycleConfig(min_hits=min_hits, track_buffer=3, reference_frame_rate=30)
    pipe = Pipeline(ListDetector(stream), create(tracker), PipelineConfig(lifecycle=life, lag=0))
    ended: set[int] = set()
    live: set[int] = set()
    hits: dict[int, int] = {}
    first_ids: set[int] | None = None  # tracks started on the first frame with tracks
    highest = 0
    for t in range(len(stream)):
        result = pipe.step(FRAME)
        snap = pipe.lifecycle.snapshot()
        now = set(snap.ids.tolist())
        ended |= live - now
        assert not (now & ended), "an ended track came back"
        born = sorted(now - live - ended)
        assert all(i > highest for i in born), "a new track took an old id"
        highest = max([highest, *born])
        if first_ids is None and now:
            first_ids = now
        for i in snap.ids[snap.detected].tolist():
            hits[i] = hits.get(i, 0) + 1
        reported = set(result.tracks.ids.tolist())
        assert reported <= now
        for i in reported - (first_ids or set()):
            assert hits[i] >= min_hits, f"track {i} reported after {hits[i]} hits"
        live = now
        # A live track was detected within max_age frames (checked at every detector frame).
        assert len(pipe.lifecycle.last_detected) == len(now)
        assert (t - pipe.lifecycle.last_detected <= pipe.lifecycle.max_age).all()
