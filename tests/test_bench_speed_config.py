"""`mot-bench speed --config`: a preset's tracker options reach the method they name."""

from mot_pipeline.bench import speed
from mot_pipeline.cli.bench import _preset_tracker


def test_preset_tracker_options_apply_to_their_tracker(tmp_path):
    preset = tmp_path / "ov.yaml"
    preset.write_text("tracker: siammt\ntracker_options:\n  precision: bf16\n")
    configs = _preset_tracker(str(preset))
    assert list(configs) == ["siammt"] and configs["siammt"].precision == "bf16"
    bench = speed.SpeedConfig(detector=None, tracker_configs=configs, partial=True)
    subject = speed.build_estimator("siammt", bench)
    assert subject.config.precision == "bf16" and subject.config.partial
    assert speed.build_estimator("siamfc-mi", bench).config.upsample == "bicubic"
    assert _preset_tracker(None) == {}


def test_mvot_takes_a_preset_too(tmp_path):
    from mot_pipeline.cli.bench import parser

    preset = tmp_path / "ov.yaml"
    preset.write_text("tracker: siammt\ntracker_options:\n  precision: bf16\n")
    args = parser().parse_args(["mvot", "seq", "--config", str(preset)])
    assert _preset_tracker(args.config)["siammt"].precision == "bf16"
