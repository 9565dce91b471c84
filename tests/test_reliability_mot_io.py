"""Issue 19, property-based: the MOTChallenge readers and writers round-trip what they write,
and any bytes at all give rows or an `InputError`, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mot_pipeline.config import load_config
from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import (
    BOX_DECIMALS,
    MotRows,
    read_mot_file,
    read_seqinfo,
    write_result_rows,
)

EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAX_FRAME = 10_000
MAX_ID = 10**6
COORD = 1e4  # px, beyond any real image
MIN_SIDE = 0.01  # px: sides that survive rounding to BOX_DECIMALS
TOLERANCE = 10.0**-BOX_DECIMALS
FLOAT32_ULPS = 8  # float32 rounding steps a box corner may move through xywh and back

coords = st.floats(-COORD, COORD, allow_nan=False)
sides = st.floats(MIN_SIDE, COORD, allow_nan=False)
row = st.tuples(
    st.integers(0, MAX_FRAME), st.integers(1, MAX_ID), coords, coords, sides, sides,
    st.floats(0, 1),
)  # fmt: skip


def _unique_pairs(rows: list[tuple]) -> list[tuple]:
    seen, out = set(), []
    for r in rows:
        if r[:2] not in seen:
            seen.add(r[:2])
            out.append(r)
    return out


@EXAMPLES
@given(st.lists(row, max_size=40).map(_unique_pairs))
def test_results_round_trip(rows):
    frames = np.array([r[0] for r in rows], np.int64)
    ids = np.array([r[1] for r in rows], np.int64)
    xywh = np.array([r[2:6] for r in rows], np.float64).reshape(-1, 4)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    scores = np.array([r[6] for r in rows], np.float32)
    written = MotRows(frames, ids, boxes, scores, np.full(len(rows), -1), np.ones(len(rows)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.txt"
        assert write_result_rows(path, written) == 0
        back = read_mot_file(path, "result")
    order = np.lexsort((ids, frames))
    assert np.array_equal(back.frames, frames[order]) and np.array_equal(back.ids, ids[order])
    # float32 boxes: far from 0 the spacing of float32 dominates the rounding to 1/1000 px
    # (width and height are differences of float32 corners: their error scales with the row)
    magnitude = np.abs(written.boxes[order]).max(axis=1, keepdims=True)
    slack = TOLERANCE + magnitude * np.finfo(np.float32).eps * FLOAT32_ULPS
    assert np.all(np.abs(back.boxes - written.boxes[order]) <= slack)
    assert np.allclose(back.scores, scores[order], atol=TOLERANCE)


number = st.one_of(
    st.integers(-3, MAX_FRAME).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-1", "1e39", "1e300", "0x10", "1_0", "\ufeff1"]),
    st.text(max_size=4),
)
line = st.lists(number, max_size=12).flatmap(
    lambda fields: st.sampled_from([",", " ", ", ", "\t"]).map(lambda sep: sep.join(fields))
)
mot_text = st.one_of(
    st.lists(line, max_size=8).map("\n".join),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@EXAMPLES
@given(text=mot_text, kind=st.sampled_from(["det", "gt", "result"]), bom=st.booleans())
def test_any_text_gives_rows_or_an_input_error(text, kind, bom):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{kind}.txt"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "replace"))
        try:
            rows = read_mot_file(path, kind)
        except InputError as err:
            assert "\n" not in str(err) and str(path) in str(err)
            return
    assert np.isfinite(rows.boxes).all() and (rows.frames >= 0).all()


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_seqinfo_gives_info_or_an_input_error(data):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "seqinfo.ini").write_bytes(data)
        try:
            info = read_seqinfo(folder)
        except InputError as err:
            assert "\n" not in str(err)
            return
    assert info.frame_rate > 0 and info.length > 0 and info.width > 0 and info.height > 0


yaml_scalar = st.sampled_from(
    [".inf", "-.inf", ".nan", "0", "-1", "1e400", "yes", "null", "[1, 2]", "{a: 1}", "'x'", "3.5"]
)
yaml_key = st.sampled_from(
    ["tracker", "detector", "frame_rate", "pipeline", "input", "public", "yolo", "nope"]
)
sub_key = st.sampled_from(
    ["detect_every", "lag", "min_score", "conf", "on_bad_frame", "check_frames", "lifecycle"]
)
yaml_text = st.one_of(
    st.lists(st.tuples(yaml_key, yaml_scalar), max_size=4).map(
        lambda kv: "".join(f"{k}: {v}\n" for k, v in kv)
    ),
    st.lists(st.tuples(yaml_key, sub_key, yaml_scalar), max_size=4).map(
        lambda kv: "".join(f"{k}: {{{s}: {v}}}\n" for k, s, v in kv)
    ),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)


@EXAMPLES
@given(yaml_text)
def test_any_config_gives_a_config_or_an_input_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_bytes(text.encode("latin-1", "replace"))
        try:
            load_config(path)
        except InputError as err:
            assert "\n" not in str(err) and "c.yaml" in str(err)
