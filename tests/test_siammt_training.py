"""SiamMT training (issue 18): Eq. 4 labels and Eq. 3 loss against hand-computed values, the pair
sampler (positives never cross ids or sequences, negatives are other people), one step lowers
the loss, a trained checkpoint loads into the tracker and tracks, mot-train's exit 2."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SAMPLE, small_sequence

from mot_pipeline.boxes import iou_matrix
from mot_pipeline.cli import train as train_cli
from mot_pipeline.config import load_train_config
from mot_pipeline.errors import InputError
from mot_pipeline.motchallenge import read_mot_file
from mot_pipeline.sources import read_image
from mot_pipeline.training_data import confident_stretches, load_sequence, pseudo_label
from trackers.siammt.backbone import AlexNet, load_alexnet
from trackers.siammt.config import SiamMTConfig
from trackers.siammt.tracker import SiamMT
from trackers.siammt.training import checkpoint
from trackers.siammt.training.augment import Augmenter
from trackers.siammt.training.batch import make_batch
from trackers.siammt.training.config import (
    AugmentConfig,
    PseudoConfig,
    SamplerConfig,
    TrainConfig,
)
from trackers.siammt.training.labels import (
    SearchTruth,
    balanced_weights,
    disc_centres,
    label_map,
    pair_index,
)
from trackers.siammt.training.loss import balanced_loss, logistic_loss
from trackers.siammt.training.model import scratch_alexnet
from trackers.siammt.training.pairs import GtRows, PairSampler, SequenceGt, usable_rows
from trackers.siammt.training.trainer import Trainer

SIAMMT = SiamMTConfig()
SMALL_WIDTHS = (14, 38, 56, 56, 38)


# -- Eq. 4 and Eq. 3 ------------------------------------------------------------------------------
def test_label_map_radius_counts_cells_within_r_over_stride():
    """R = 16 px at stride 8: the cells within 2 of the centre (1 + 4 + 4 + 4 = 13)."""
    maps = label_map(17, torch.tensor([[8.0, 8.0]]), radius=16.0, stride=8)
    assert maps.shape == (1, 17, 17)
    assert int(maps.sum()) == 13
    assert maps[0, 8, 8] == 1 and maps[0, 8, 10] == 1 and maps[0, 10, 10] == 0


def test_label_map_off_centre_and_none():
    """(x, y) = (0, 1): column 0, row 1; R = 8: the cell and its 4-neighbours on the map."""
    maps = label_map(4, torch.tensor([[0.0, 1.0], [float("nan"), float("nan")]]), 8.0, 8)
    expected = torch.zeros(4, 4)
    expected[1, 0] = expected[0, 0] = expected[2, 0] = expected[1, 1] = 1
    assert torch.equal(maps[0], expected)
    assert maps[1].sum() == 0


def test_balanced_weights_by_hand():
    labels = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    w = balanced_weights(labels, positive_weight=0.5)
    assert torch.allclose(w[0], torch.tensor([[0.5, 1 / 6], [1 / 6, 1 / 6]]))
    assert torch.allclose(w[1], torch.full((2, 2), 0.25))


def test_logistic_loss_by_hand():
    x = torch.tensor([0.0, 2.0, -3.0, 40.0])
    y = torch.tensor([1.0, 0.0, 1.0, 1.0])
    expected = [
        math.log(2),
        math.log(1 + math.e**2),
        math.log(1 + math.e**3),
        math.log1p(math.exp(-40)),
    ]
    assert torch.allclose(logistic_loss(x, y), torch.tensor(expected, dtype=torch.float32))


def test_balanced_loss_mixes_positive_and_negative_maps():
    labels = torch.zeros(3, 2, 2)
    labels[0, 0, 0] = 1
    logits = torch.stack([torch.zeros(2, 2), torch.ones(2, 2), torch.full((2, 2), 9.0)])
    weight = torch.tensor([1.0, 1.0, 0.0])  # the third map is ignored
    parts = balanced_loss(logits, labels, weight, positive_weight=0.5, negative_pair_weight=0.25)
    a, b = math.log(2), math.log(1 + math.e)  # per-map sums: the weights sum to 1 per map
    assert parts.total.item() == pytest.approx(0.75 * a + 0.25 * b, rel=1e-6)
    assert parts.positive_maps == pytest.approx(a) and parts.negative_maps == pytest.approx(b)


def test_peak_on_positive():
    from trackers.siammt.training.validation import peak_on_positive

    labels = torch.zeros(2, 3, 3)
    labels[:, 1, 1] = 1
    logits = torch.zeros(2, 3, 3)
    logits[0, 1, 1] = 2.0  # the peak on the person
    logits[1, 0, 2] = 2.0  # on someone else
    assert peak_on_positive(logits, labels).tolist() == [True, False]


def test_pair_index_own_group_and_next():
    pairs = pair_index([2, 1])
    got = sorted(zip(pairs.exemplar.tolist(), pairs.search.tolist(), strict=True))
    assert got == sorted([(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2), (2, 2), (2, 0), (2, 1)])


def test_disc_centres_only_where_the_same_person_is_seen():
    truths = [
        SearchTruth(
            0, np.array([1, 2]), np.array([[100.0, 50.0], [130.0, 50.0]]), np.array([True, False])
        ),
        SearchTruth(1, np.array([1]), np.array([[100.0, 50.0]]), np.array([True])),
    ]
    who = np.array([[0, 1], [0, 1], [0, 2], [0, 1], [0, 3]])  # (sequence, id) of the exemplar
    owner = np.array([0, 0, 0, 1, 0])
    centre = np.array([[100.0, 50.0], [130.0, 50.0], [100.0, 50.0], [100.0, 50.0], [100.0, 50]])
    spacing = np.full(5, 10.0)
    v, w = disc_centres(who, truths, owner, centre, spacing, response_size=17)
    assert np.allclose(v[0], [8, 8])  # its own search area: the centre
    assert np.allclose(v[1], [5, 8])  # a neighbour's area 30 px right: 3 cells left of centre
    assert np.isnan(v[2]).all() and w[2] == 0  # person 2 is not usable there: ignored
    assert np.isnan(v[3]).all() and w[3] == 1  # same id, other sequence: a negative
    assert np.isnan(v[4]).all() and w[4] == 1  # not in that frame: a negative


# -- the pair sampler ------------------------------------------------------------------------------
def _synthetic(seq_shift: float, frames: int = 30) -> SequenceGt:
    """Three people walking right side by side (ids 1..3), id 3 hidden (flag 0) in odd frames;
    a fourth row per frame with visibility 0.1. Sequences share ids on purpose."""
    rows = []
    for f in range(frames):
        for pid in (1, 2, 3):
            x = 40 + 3 * f + 45 * pid + seq_shift
            flag = 0 if pid == 3 and f % 2 else 1
            rows.append((f, pid, x, 60, x + 40, 160, flag, 1, 1.0))
        rows.append((f, 9, 300, 60, 340, 160, 1, 1, 0.1))
    a = np.array(rows, np.float64)
    gt = GtRows(a[:, 0].astype(int), a[:, 1].astype(int), a[:, 2:6], a[:, 6] > 0, a[:, 7], a[:, 8])
    config = SamplerConfig()
    return SequenceGt(f"syn{seq_shift}", gt, usable_rows(gt, config), _no_frames, 640, 480)


def _no_frames(index: int) -> np.ndarray:
    raise AssertionError(f"synthetic sequences have no images (frame {index} read)")


def _gt_box(seq: SequenceGt, frame: int, pid: int) -> np.ndarray:
    r = np.flatnonzero((seq.rows.frames == frame) & (seq.rows.ids == pid))
    assert len(r) == 1
    return seq.rows.boxes[r[0]]


def test_sampler_positives_stay_within_id_and_sequence():
    seqs = [_synthetic(0.0), _synthetic(7.0)]
    config = SamplerConfig(max_gap=5, min_gap=1, targets_per_frame=3, min_height=10)
    sampler = PairSampler(seqs, config, SIAMMT)
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = sampler.sample(rng)
        seq = seqs[g.sequence]
        assert 1 <= abs(g.frame_x - g.frame_z) <= 5
        assert len(set(g.ids.tolist())) == len(g.ids)
        assert 9 not in g.ids  # visibility 0.1: never an exemplar
        for pid, bz, bx in zip(g.ids, g.boxes_z, g.boxes_x, strict=True):
            assert np.allclose(bz, _gt_box(seq, g.frame_z, pid))  # same sequence, same id
            assert np.allclose(bx, _gt_box(seq, g.frame_x, pid))
            if pid == 3:
                assert g.frame_z % 2 == 0 and g.frame_x % 2 == 0  # flag 0 rows never used


def test_sampler_neighbours_are_other_people_and_labelled_as_such():
    seqs = [_synthetic(0.0), _synthetic(7.0)]
    config = SamplerConfig(max_gap=5, targets_per_frame=3, min_height=10)
    sampler = PairSampler(seqs, config, SIAMMT)
    aug = Augmenter(AugmentConfig(), SIAMMT)
    rng = np.random.default_rng(1)
    frame = np.zeros((480, 640, 3), np.uint8)
    samples = [aug.sample(sampler.sample(rng), frame, frame, rng, train=False) for _ in range(6)]
    assert any(len(s.group.ids) > 1 for s in samples)  # neighbours were found
    batch = make_batch(samples, 16.0, 17, torch.device("cpu"))
    seq_of = np.concatenate([np.full(len(s.group.ids), s.group.sequence) for s in samples])
    ids = np.concatenate([s.group.ids for s in samples])
    positive = batch.labels.flatten(1).amax(1) > 0
    for p, (e, a) in enumerate(zip(batch.pairs.exemplar, batch.pairs.search, strict=True)):
        same_person = seq_of[e] == seq_of[a] and ids[e] == ids[a]
        centre = bool(batch.labels[p, 8, 8] > 0)
        if same_person and e == a:
            assert centre  # a positive pair: the person at the centre
        elif not same_person:
            assert not centre  # someone else's area: its centre is a negative
        if seq_of[e] != seq_of[a]:
            assert not positive[p]  # never a positive across sequences, even for equal ids


def test_sampler_on_a_shared_sequence(mot_dir):
    config = SamplerConfig(max_gap=10)
    seq = load_sequence(mot_dir / "TUD-Stadtmitte", config)
    gt = np.loadtxt(mot_dir / "TUD-Stadtmitte" / "gt" / "gt.txt", delimiter=",")
    sampler = PairSampler([seq], config, SIAMMT)
    rng = np.random.default_rng(2)
    neighbours = 0
    for _ in range(100):
        g = sampler.sample(rng)
        neighbours += len(g.ids) - 1
        for frame, boxes in ((g.frame_z, g.boxes_z), (g.frame_x, g.boxes_x)):
            for pid, box in zip(g.ids, boxes, strict=True):
                row = gt[(gt[:, 0] == frame + 1) & (gt[:, 1] == pid)]
                assert len(row) == 1 and row[0, 6] == 1
                x, y, w, h = row[0, 2:6]
                assert np.allclose(box, [x - 1, y - 1, x - 1 + w, y - 1 + h], atol=1e-3)
    assert neighbours > 50  # a street: people walk near each other


# -- training --------------------------------------------------------------------------------------
def _tiny_config(**kw) -> TrainConfig:
    base = dict(
        epochs=1,
        pairs_per_epoch=2,
        batch_size=2,
        lr=1e-4,
        sampler=SamplerConfig(max_gap=4, targets_per_frame=2),
    )
    return TrainConfig(**{**base, **kw})


def test_one_step_lowers_the_loss_on_a_tiny_batch(tmp_path):
    config = _tiny_config()
    seq = load_sequence(small_sequence(tmp_path, frames=6), config.sampler)
    trainer = Trainer(config, [seq], tmp_path / "out", progress=False, log=lambda _: None)
    batch = trainer.batch(np.random.default_rng(0), train=False)
    before = trainer.step(batch).total.item()
    with torch.no_grad():
        after = balanced_loss(
            trainer.net(batch.samples, batch.pairs), batch.labels, batch.map_weight
        )
    assert after.total.item() < before
    frozen = [
        p.requires_grad
        for i in (1, 2, 3)
        for p in getattr(trainer.net.backbone, f"conv{i}").parameters()
    ]
    assert not any(frozen)  # finetune: conv1..conv3 frozen (paper Sec. 3.3)


def test_trained_checkpoint_loads_and_tracks(tmp_path):
    out, quiet = tmp_path / "out", dict(progress=False, log=lambda _: None)
    config = _tiny_config(val_pairs=2)
    seq = load_sequence(small_sequence(tmp_path, frames=6), config.sampler)
    Trainer(config, [seq], out, val=[seq], **quiet).run()
    with pytest.raises(InputError, match="--resume"):  # never silently over an earlier run
        Trainer(config, [seq], out, **quiet)
    longer = replace(config, epochs=2)
    result = Trainer(longer, [seq], out, val=[seq], resume=True, **quiet).run()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch_001.pt",
        "epoch_002.pt",
    ]
    steps = (out / "loss.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in steps[1:]] == ["1", "2"]  # one step per epoch, resumed
    val = (out / "val.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in val[1:]] == ["0", "1", "2"]  # 0: the starting weights
    assert (out / "loss.png").is_file()
    tracker = SiamMT(SiamMTConfig(weights=str(result.weights), motion=None))
    gt = read_mot_file(SAMPLE / "gt" / "gt.txt", "gt")
    first = gt.frame(0)
    frame0 = read_image(SAMPLE / "img1" / "000001.jpg")
    tracker.add(frame0, first.boxes, first.ids, frame_index=0)
    for f in (1, 2, 3):
        boxes, _ = tracker.propagate(read_image(SAMPLE / "img1" / f"{f + 1:06d}.jpg"), f)
        truth = gt.frame(f)
        common = np.intersect1d(first.ids, truth.ids)
        ious = [
            iou_matrix(boxes[first.ids == i], truth.boxes[truth.ids == i])[0, 0] for i in common
        ]
        assert np.median(ious) > 0.5
    preset = (tmp_path / "out" / "track.yaml").read_text()
    assert str(result.weights) in preset


def test_a_scratch_net_of_other_widths_does_not_fit(tmp_path):
    net = scratch_alexnet(SMALL_WIDTHS, "relu")
    path = checkpoint.export_weights(tmp_path / "small.pth", net)
    assert load_alexnet(path).widths == SMALL_WIDTHS  # the tracker's loader reads the layout
    with pytest.raises(InputError, match="widths"):
        from trackers.siammt.training.model import init_alexnet

        init_alexnet("finetune", str(path), (28, 76, 114, 114, 76), "relu")


def test_resume_state_that_does_not_fit(tmp_path):
    net = AlexNet(SMALL_WIDTHS)
    opt = torch.optim.Adam(net.parameters())
    checkpoint.save_state(tmp_path, 1, net, opt, "")
    other = AlexNet((28, 76, 114, 114, 76))
    with pytest.raises(InputError, match="widths"):
        checkpoint.load_state(
            checkpoint.latest_state(tmp_path), other, torch.optim.Adam(other.parameters())
        )


# -- config and CLI --------------------------------------------------------------------------------
def test_learning_rate_anneals_geometrically():
    c = TrainConfig(epochs=3, lr=3e-4, lr_end=3e-6)
    assert [c.learning_rate(e) for e in range(3)] == pytest.approx([3e-4, 3e-5, 3e-6])


def test_shipped_config_loads():
    config = load_train_config(
        Path(__file__).resolve().parents[1] / "configs" / "train-finetune.yaml"
    )
    assert config.mode == "finetune" and config.frozen_convs == 3


@pytest.mark.parametrize(
    "text, problem",
    [
        ("epochs: 2\nfoo: 1\n", "unknown config key"),
        ("epochs: [\n", "not valid YAML"),
        ("tracker_options: {nope: 1}\n", "nope"),
        ("mode: sideways\n", "mode"),
    ],
)
def test_cli_bad_config_exits_2(tmp_path, capsys, text, problem):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    seq = small_sequence(tmp_path, frames=4)
    code = train_cli.main([str(config), "--data", str(seq), "--output", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and str(config) in err and err.count("\n") == 1


def test_cli_bad_checkpoint_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    torch.save({"backbone.conv1.0.weight": torch.zeros(3)}, bad)
    config = tmp_path / "c.yaml"
    config.write_text(f"init_weights: {bad}\n")
    seq = small_sequence(tmp_path, frames=4)
    code = train_cli.main([str(config), "--data", str(seq), "--output", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and err.count("\n") == 1


def test_cli_missing_data_exits_2(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\n")
    code = train_cli.main(
        [str(config), "--data", str(tmp_path / "nope"), "--output", str(tmp_path)]
    )
    assert code == 2 and "nope" in capsys.readouterr().err


# -- pseudo-labels ---------------------------------------------------------------------------------
def test_confident_stretches_cut_at_jumps_gaps_and_low_scores():
    config = PseudoConfig(min_score=0.5, min_length=3, min_iou=0.5)
    frames = np.arange(10)
    boxes = np.array([[10.0 * f, 0, 10.0 * f + 50, 100] for f in range(10)])
    boxes[6:] += 200  # a jump after frame 5: a likely identity switch
    scores = np.full(10, 0.9)
    scores[2] = 0.3  # frames 0-1 are too short a stretch on their own
    detected = np.ones(10, bool)
    new = confident_stretches(frames, np.full(10, 7), boxes, scores, detected, config)
    assert (new[:3] == 0).all()
    assert len(set(new[3:6])) == 1 and new[3] > 0
    assert len(set(new[6:])) == 1 and new[6] > 0 and new[6] != new[3]


# -- augmentation ----------------------------------------------------------------------------------
def test_flip_mirrors_boxes_and_truth_and_draws_repeat():
    seqs = [_synthetic(0.0)]
    sampler = PairSampler(seqs, SamplerConfig(max_gap=5, min_height=10), SIAMMT)
    group = sampler.sample(np.random.default_rng(3))
    frame = np.random.default_rng(4).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    aug = Augmenter(AugmentConfig(flip=1.0, max_shift=0.0, scale_jitter=0.0), SIAMMT)
    a = aug.sample(group, frame, frame, np.random.default_rng(5))
    b = aug.sample(group, frame, frame, np.random.default_rng(5))
    assert np.array_equal(a.frame_x, b.frame_x) and np.array_equal(a.frame_z, b.frame_z)
    cx = (group.boxes_x[:, 0] + group.boxes_x[:, 2]) / 2
    assert np.allclose(a.centre_x[:, 0], 640 - cx)
    k = np.flatnonzero(group.truth.ids == group.ids[0])[0]
    assert np.allclose(a.truth.centres[k], a.centre_x[0])  # labels follow the mirrored frame
    assert a.frame_x.shape == frame.shape and a.frame_x.dtype == np.uint8


@pytest.mark.slow
def test_pseudo_labels_from_video_feed_the_sampler(tmp_path):
    video = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "people.mp4"
    if not video.is_file():
        pytest.skip(f"shared video not found at {video}")
    folder = pseudo_label(video, tmp_path, PseudoConfig(max_frames=20), log=lambda _: None)
    seq = load_sequence(folder, SamplerConfig(max_gap=5))
    assert len(PairSampler([seq], SamplerConfig(max_gap=5), SIAMMT)) > 0
