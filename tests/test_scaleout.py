"""Issue 21: sequences as parallel tasks (`--workers`, local Ray), a failed task reported while
the others are written, long videos in stitched chunks, and one line when Ray is missing."""

from __future__ import annotations

import itertools
import json
import operator
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import SAMPLE, small_sequence
from test_reliability_cli import UNSAMPLED, break_frame, listing, one_line, split

from mot_pipeline import exports, motchallenge, runner
from mot_pipeline.boxes import iou_matrix
from mot_pipeline.chunks import (
    ChunkConfig,
    VideoRange,
    frame_range,
    plan,
    stitch,
    stitch_files,
)
from mot_pipeline.cli import bench
from mot_pipeline.cli.run import main
from mot_pipeline.config import load_config
from mot_pipeline.errors import InputError
from mot_pipeline.scaleout import Backend, Portable, ScaleOut, TaskError, map_tasks
from mot_pipeline.sources import open_sources

FAST = ("--detector", "public", "--tracker", "kalman", "--quiet")
TIMING_FIELDS = ("fps", "fps_e2e")  # the only fields of metrics.json a parallel run changes
PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "people.mp4"


def without_timing(metrics_path: Path) -> dict:
    metrics = json.loads(metrics_path.read_text())
    for part in [metrics["overall"], *metrics["sequences"].values()]:
        for name in TIMING_FIELDS:
            part.pop(name)
    return metrics


# ---------------------------------------------------------------------------------------------
# Chunks: the plan and the stitching
# ---------------------------------------------------------------------------------------------


def test_plan_covers_the_sequence_with_overlaps_starting_on_detector_frames():
    spans = plan(100, ChunkConfig(30, 10), detect_every=3)
    assert spans[0][0] == 0 and spans[-1][1] == 100
    for (_, a1), (b0, b1) in itertools.pairwise(spans):
        assert b0 % 3 == 0 and a1 - b0 >= 10 and b1 - b0 <= 30
    assert plan(30, ChunkConfig(30, 10)) == [(0, 30)]
    with pytest.raises(InputError, match="detection interval"):
        plan(100, ChunkConfig(12, 10), detect_every=5)


def result_text(rows: list[tuple[int, int, float]]) -> str:
    """Result lines (frame, id, left) with a 20x40 box."""
    return "".join(f"{f},{t},{x:.2f},10.00,20.00,40.00,0.90,-1,-1,-1\n" for f, t, x in rows)


def test_stitch_keeps_a_crossing_track_and_gives_new_tracks_new_ids():
    # Chunk 1: frames 0-9 (ids 1: walks right, 2: leaves at frame 5); chunk 2: frames 6-15,
    # where the walker is id 1 again (a fresh numbering) and someone new is id 2.
    first = [(f + 1, 1, 10.0 * f) for f in range(10)] + [(f + 1, 2, 500.0) for f in range(5)]
    second = [(f - 6 + 1, 1, 10.0 * f) for f in range(6, 16)]
    second += [(f - 6 + 1, 2, 300.0) for f in range(8, 16)]
    text = stitch([result_text(first), result_text(second)], [(0, 10), (6, 16)])
    rows = [line.split(",") for line in text.splitlines()]
    walker = {int(r[1]) for r in rows if float(r[2]) < 300 and float(r[2]) != 500}
    assert walker == {1}
    newcomer = {int(r[1]) for r in rows if float(r[2]) == 300}
    assert newcomer == {3}  # not 1 or 2: those were others
    frames = [int(r[0]) for r in rows]
    assert frames == sorted(frames) and max(frames) == 16
    assert len(rows) == 16 + 5 + 8


# A hand-made track row: (0-based frame within the chunk, id, left, class id) with a 20x40 box.
Track = tuple[int, int, float, int]
CLASS_NAMES = {0: "person", 1: "bicycle"}


def chunk_files(rows: list[Track]) -> dict[str, str]:
    """One chunk's files as exports.py writes them: the .txt with persons only (1-based frames),
    the .csv (header) and .jsonl with every class, rows sorted by frame, then id."""
    rows = sorted(rows, key=lambda r: r[:2])
    txt = "".join(
        f"{f + 1},{t},{x:.2f},10.00,20.00,40.00,0.90,-1,-1,-1\n" for f, t, x, c in rows if c == 0
    )
    csv = "frame,id,class_id,class_name,score,x1,y1,x2,y2,detected\n" + "".join(
        f"{f},{t},{c},{CLASS_NAMES[c]},0.900,{x:.3f},10.000,{x + 20:.3f},50.000,1\n"
        for f, t, x, c in rows
    )
    jsonl = "".join(
        json.dumps(
            {"frame": f, "id": t, "class_id": c, "class_name": CLASS_NAMES[c], "score": 0.9}
            | {"box": [x, 10.0, x + 20, 50.0], "detected": True}
        )
        + "\n"
        for f, t, x, c in rows
    )
    return {"mot": txt, "csv": csv, "jsonl": jsonl}


def ids_by_place(fmt: str, text: str) -> dict[tuple[int, float], int]:
    """Each stitched row's id by its (0-based absolute frame, left)."""
    if fmt == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
        return {(r["frame"], r["box"][0]): r["id"] for r in records}
    lines = text.splitlines()[1:] if fmt == "csv" else text.splitlines()
    left, first = (5, 0) if fmt == "csv" else (2, 1)
    fields = [line.split(",") for line in lines]
    return {(int(r[0]) - first, float(r[left])): int(r[1]) for r in fields}


def stitch_chunks(chunks: list[list[Track]], spans: list, formats: tuple) -> tuple[dict, object]:
    files = [chunk_files(rows) for rows in chunks]
    return stitch_files({f: [c[f] for c in files] for f in formats}, spans)


def test_stitch_gives_a_track_one_id_in_every_format():
    # Chunk 1: frames 0-9, a walker (id 1) and a parked bicycle (id 2, frames 0-4); chunk 2:
    # frames 6-15, the walker again as id 2, a new bicycle as id 1 from frame 9.
    first = [(f, 1, 10.0 * f, 0) for f in range(10)] + [(f, 2, 500.0, 1) for f in range(5)]
    second = [(f - 6, 2, 10.0 * f, 0) for f in range(6, 16)]
    second += [(f - 6, 1, 300.0, 1) for f in range(9, 16)]
    stitched, _ = stitch_chunks([first, second], [(0, 10), (6, 16)], ("mot", "csv", "jsonl"))
    by_format = {fmt: ids_by_place(fmt, text) for fmt, text in stitched.items()}
    for fmt, ids in by_format.items():
        assert {ids[(f, 10.0 * f)] for f in range(16)} == {1}, fmt  # the walker
    assert len(by_format["mot"]) == 16  # persons only
    assert by_format["csv"] == by_format["jsonl"]
    assert {by_format["csv"][(f, 300.0)] for f in range(9, 16)} == {3}  # a new id
    assert len(by_format["csv"]) == 16 + 5 + 7
    assert stitched["csv"].count("frame,id") == 1 and stitched["csv"].startswith("frame,id,")
    # Everything but frame and id as written:
    assert "0.900,150.000,10.000,170.000,50.000,1" in stitched["csv"]
    assert '"score": 0.9, "box": [150.0, 10.0, 170.0, 50.0]' in stitched["jsonl"]


def test_ids_matched_on_the_csv_number_the_persons_only_txt_too():
    """A bicycle (id 1) takes the first id in the .csv; matched on the .txt alone, the walker
    would be 1. With the .csv, the .txt's walker gets the .csv's id, and the stitched
    `TrackRows` (per-class scores) have the same ids."""
    first = [(f, 1, 500.0, 1) for f in range(3)] + [(f, 2, 10.0 * f, 0) for f in range(10)]
    second = [(f - 6, 1, 10.0 * f, 0) for f in range(6, 16)]
    spans = [(0, 10), (6, 16)]
    alone = ids_by_place("mot", stitch_chunks([first, second], spans, ("mot",))[0]["mot"])
    assert set(alone.values()) == {1}
    stitched, stitching = stitch_chunks([first, second], spans, ("mot", "csv"))
    txt, csv = ids_by_place("mot", stitched["mot"]), ids_by_place("csv", stitched["csv"])
    assert set(txt.values()) == {2} and len(txt) == 16
    assert txt == {k: v for k, v in csv.items() if k in txt}
    parts = []
    for rows in (first, second):
        f, t, x, c = (np.asarray(v) for v in zip(*sorted(rows, key=lambda r: r[:2]), strict=True))
        boxes = np.stack([x, np.full(len(x), 10.0), x + 20, np.full(len(x), 50.0)], axis=1)
        parts.append(exports.TrackRows(f, t, c, np.full(len(f), 0.9), boxes, np.ones(len(f), bool)))
    tracks = stitching.tracks(parts)
    places = zip(tracks.frames.tolist(), tracks.boxes[:, 0].tolist(), strict=True)
    assert dict(zip(places, tracks.ids.tolist(), strict=True)) == csv
    matched_on_txt = stitch_chunks([first, second], spans, ("mot",))[1]
    assert matched_on_txt.tracks(parts) is None  # the bicycle has no id there


def test_stitching_never_joins_tracks_of_different_classes():
    # Chunk 2 calls the walker's place a bicycle (another track of another class): with the
    # csv's classes it gets a new id; the .txt alone (no classes) would join them.
    first = [(f, 1, 10.0 * f, 0) for f in range(10)]
    second = [(f - 6, 1, 10.0 * f, 1) for f in range(6, 16)]
    spans = [(0, 10), (6, 16)]
    csv = ids_by_place("csv", stitch_chunks([first, second], spans, ("csv",))[0]["csv"])
    assert {csv[(f, 10.0 * f)] for f in range(8)} == {1}
    assert {csv[(f, 10.0 * f)] for f in range(8, 16)} == {2}


def test_video_range_seeks_to_the_frames_a_full_decode_gives():
    if not PEOPLE.is_file():
        pytest.skip("people.mp4 not found")
    video = open_sources(PEOPLE)[0]
    part = frame_range(video, 40, 43)
    assert isinstance(part, VideoRange) and part.length == 3
    capture = cv2.VideoCapture(str(PEOPLE))
    expected = [capture.read()[1] for _ in range(43)][40:]
    capture.release()
    got = [image for _, image in part.frames()]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_image_chunk_renumbers_its_public_detections(tmp_path):
    seq = open_sources(SAMPLE)[0]
    part = frame_range(seq, 10, 20, det_dir=tmp_path)
    assert part.length == 10 and part.image_paths[0].name == "000011.jpg"
    assert part.gt_path is None
    original = motchallenge.read_mot_file(seq.det_path, "det")
    cut = motchallenge.read_mot_file(part.det_path, "det")
    assert set(cut.frames.tolist()) <= set(range(10))
    np.testing.assert_array_equal(cut.boxes, original.select(original.frames // 10 == 1).boxes)


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------


def test_a_task_that_raises_is_reported_and_the_others_run():
    # getitem(task, 1): the second task has no item 1 (IndexError in its worker process)
    tasks = [[0, 1], [2], [3, 4]]
    results = map_tasks(
        Backend(workers=2), operator.getitem, tasks, 1, sizes=[1, 1, 1], progress=False
    )
    assert results[0] == 1 and results[2] == 4
    assert isinstance(results[1], TaskError) and results[1].message.startswith("IndexError")


def test_threads_per_task_share_the_cores(monkeypatch):
    monkeypatch.setattr("mot_pipeline.scaleout.available_cpus", lambda: 8)
    assert Backend(workers=2).threads_per_task() == 4
    assert Backend(workers=16).threads_per_task() == 1
    assert Backend(workers=2).threads_per_task(3) == 3
    assert Backend(ray=True, cpus_per_task=2).threads_per_task() == 2


def test_a_users_model_travels_with_the_tasks(tmp_path):
    """On Ray a task may not see this machine's files: `--detector PATH` (here a copy of the
    embedded model folder) and SiamMT's weights go as bytes and land in the task's folder."""
    from detectors.yolo import EMBEDDED_MODELS, WEIGHTS_DIR
    from mot_pipeline.scaleout import _Models

    model = WEIGHTS_DIR / EMBEDDED_MODELS["yolo11n"]
    weights = tmp_path / "net.pth"
    weights.write_bytes(b"weights")
    config = load_config(None, detector=str(model), tracker_options={"weights": str(weights)})
    there = _Models.of(config).into(config, tmp_path / "task")
    shipped = Path(there.detector)
    assert shipped.name == model.name and shipped.parent == tmp_path / "task"
    for f in model.iterdir():
        assert (shipped / f.name).read_bytes() == f.read_bytes()
    assert Path(there.tracker_options["weights"]).read_bytes() == b"weights"
    assert _Models.of(load_config(None)) == _Models()  # embedded: nothing to send
    packaged = load_config(None, tracker_options={"weights": "FDSiamfc_15"})
    assert _Models.of(packaged) == _Models()  # a packaged checkpoint by name: nor here


@pytest.mark.parametrize("tool", ["mot-run", "mot-bench"])
def test_ray_not_installed_is_one_line(tmp_path, capsys, monkeypatch, tool):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    seq, out = small_sequence(tmp_path), tmp_path / "out"
    if tool == "mot-run":
        code = main([str(seq), "-o", str(out), *FAST, "--ray"])
        prefix = "mot-run: error: "
    else:
        args = ["accuracy", str(seq), "--detector", "public", "--methods", "kalman", "-k", "1"]
        code = bench.main([*args, "-o", str(out), "-q", "--ray"])
        prefix = "mot-bench: error: "
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(prefix), err
    assert "--ray needs Ray" in lines[0] and "pip install" in lines[0]
    assert listing(out) == []


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--ray-cpus-per-task", "2"], "need --ray"),
        (["--chunk-overlap", "5"], "needs --chunk-frames"),
        (["--chunk-frames", "10", "--chunk-overlap", "10"], "below --chunk-frames"),
        (["--chunk-frames", "4", "--chunk-overlap", "2", "--save-video"], "--save-video cannot"),
    ],
)
def test_options_that_do_not_go_together_are_one_line(tmp_path, capsys, flags, fragment):
    seq, out = small_sequence(tmp_path), tmp_path / "out"
    code = main([str(seq), "-o", str(out), *FAST, *flags])
    one_line(code, capsys.readouterr().err, fragment)
    assert listing(out) == []


def test_ray_address_that_is_a_path_is_refused(tmp_path, capsys):
    pytest.importorskip("ray")
    seq = small_sequence(tmp_path)
    code = main(["--ray", str(seq), str(seq), "-o", str(tmp_path / "out"), *FAST])
    one_line(code, capsys.readouterr().err, "not a Ray address", "--ray=ADDRESS")


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sequential_run(mot_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sequential")
    assert main([str(mot_dir), "-o", str(out), "--zip", *FAST]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--workers", "2"], ["--ray"]], ids=["workers", "ray"])
def test_parallel_run_equals_the_sequential_run(
    mot_dir, sequential_run, tmp_path, monkeypatch, flags
):
    """Byte for byte but metrics.json's timing; the sequences by a relative path (tasks get
    absolute ones)."""
    if flags == ["--ray"]:
        pytest.importorskip("ray")
    out = tmp_path / "out"
    monkeypatch.chdir(mot_dir.parent)
    assert main([mot_dir.name, "-o", str(out), "--zip", *FAST, *flags]) == 0
    assert listing(out) == listing(sequential_run)
    for name in listing(out):
        if name != runner.METRICS_FILE:
            assert (out / name).read_bytes() == (sequential_run / name).read_bytes(), name
    assert without_timing(out / runner.METRICS_FILE) == without_timing(
        sequential_run / runner.METRICS_FILE
    )


def test_failed_sequences_are_reported_and_the_others_written(tmp_path, capsys, monkeypatch):
    """B has a corrupt frame (its task's run records the failure), C's task raises (here:
    rebuilding its sequence); A is written and scored. `--workers 1` runs the tasks in this
    process, so that C's task can be made to raise."""
    root = split(tmp_path)
    bad = break_frame(root / "B", UNSAMPLED)
    rebuild = Portable.rebuild

    def raise_for_c(portable: Portable):
        if portable.fields["name"] == "C":
            raise RuntimeError("worker lost")
        return rebuild(portable)

    monkeypatch.setattr(Portable, "rebuild", raise_for_c)
    out = tmp_path / "out"
    code = main([str(root), "-o", str(out), *FAST, "--workers", "1"])
    one_line(code, capsys.readouterr().err, "2 of 3", "failures.txt", str(bad))
    assert listing(out) == ["A.txt", "failures.txt", "metrics.json"]
    failures = (out / "failures.txt").read_text().splitlines()
    assert failures[0].startswith("B\t") and failures[1] == "C\tRuntimeError: worker lost"
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["sequences"]) == ["A"] and sorted(metrics["failed"]) == ["B", "C"]


def ids_across(single: Path, chunked: Path, frame: int) -> dict[int, int]:
    """Each single-run track at `frame` -> the chunked run's id of the same box (IoU > 0.5)."""
    a = motchallenge.read_mot_file(single, "result").frame(frame)
    b = motchallenge.read_mot_file(chunked, "result").frame(frame)
    iou = iou_matrix(a.boxes, b.boxes)
    best = iou.argmax(axis=1) if iou.size else np.zeros(len(a), int)
    return {
        int(t): int(b.ids[j])
        for t, j, i in zip(a.ids, best, range(len(a)), strict=True)
        if iou.size and iou[i, j] > 0.5
    }


@pytest.mark.slow
def test_chunked_video_keeps_ids_across_chunks(tmp_path):
    """The first 60 frames of people.mp4 in chunks of 30 overlapping by 10 (cuts at frames 25
    and 45): a person the single run follows across a cut keeps one id there, and an id that
    starts in a later chunk was never used before."""
    if not PEOPLE.is_file():
        pytest.skip("people.mp4 not found")
    clip = frame_range(open_sources(PEOPLE)[0], 0, 60)
    config = load_config(None, tracker="kalman", pipeline={"detect_every": 5})
    quiet = {"progress": False, "log": lambda _: None}
    runner.run([clip], tmp_path / "single", config, **quiet)
    scale = ScaleOut(Backend(workers=1), ChunkConfig(30, 10))
    runner.run([clip], tmp_path / "chunked", config, scale=scale, **quiet)
    single, chunked = tmp_path / "single" / "people.txt", tmp_path / "chunked" / "people.txt"
    rows = motchallenge.read_mot_file(chunked, "result")  # refuses an id twice in a frame
    assert rows.num_frames == 60
    for cut in (25, 45):
        before, after = ids_across(single, chunked, cut - 1), ids_across(single, chunked, cut)
        crossing = set(before) & set(after)
        assert len(crossing) >= 5
        assert all(before[t] == after[t] for t in crossing), (cut, before, after)
        earlier = set(rows.ids[rows.frames < cut].tolist())
        started = set(rows.ids[rows.frames >= cut].tolist()) - earlier
        assert all(i > max(earlier) for i in started)


def test_chunked_run_stitches_csv_and_jsonl_with_the_txts_ids(tmp_path):
    """TUD-Campus (71 frames, persons only) in chunks of 30 overlapping by 10: the .csv (one
    header) and .jsonl have the .txt's rows, frame by frame, with its ids and boxes."""
    out = tmp_path / "out"
    flags = ["--chunk-frames", "30", "--chunk-overlap", "10", "--format", "csv", "jsonl"]
    assert main([str(SAMPLE), "-o", str(out), *FAST, *flags]) == 0
    txt = motchallenge.read_mot_file(out / "TUD-Campus.txt", "result")
    assert txt.num_frames == 71
    csv_lines = (out / "TUD-Campus.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(exports.CSV_COLUMNS)
    csv_rows = [line.split(",") for line in csv_lines[1:]]
    records = [json.loads(line) for line in (out / "TUD-Campus.jsonl").read_text().splitlines()]
    for frames, ids, boxes in [
        ([int(r[0]) for r in csv_rows], [int(r[1]) for r in csv_rows], [r[5:9] for r in csv_rows]),
        ([r["frame"] for r in records], [r["id"] for r in records], [r["box"] for r in records]),
    ]:
        np.testing.assert_array_equal(frames, txt.frames)
        np.testing.assert_array_equal(ids, txt.ids)
        np.testing.assert_allclose(np.asarray(boxes, float), txt.boxes, atol=1e-3)


@pytest.mark.slow
def test_bench_accuracy_in_parallel_equals_the_sequential_sweep(tmp_path):
    from mot_pipeline.bench import accuracy

    config = accuracy.AccuracyConfig(
        run=load_config(None, detector="public"),
        methods=("kalman",),
        detect_every=(1, 5),
        cache_dir=tmp_path / "cache",
    )
    quiet = {"progress": False, "log": lambda _: None, "plots": False}
    one = accuracy.run([SAMPLE], tmp_path / "one", config, **quiet)
    two = accuracy.run([SAMPLE], tmp_path / "two", config, backend=Backend(workers=2), **quiet)
    timing = {"fps", "fps_e2e", "decode_s", "detect_s", "track_s", "on_front"}
    for key in ("rows", "sequence_rows"):
        strip = [
            [{k: v for k, v in r.items() if k not in timing} for r in x[key]] for x in (one, two)
        ]
        assert strip[0] == strip[1]
    results = sorted((tmp_path / "one" / "results").rglob("*.txt"))
    assert results
    for path in results:
        twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
        assert path.read_bytes() == twin.read_bytes()
