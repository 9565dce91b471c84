from pathlib import Path

import pytest

from mot_pipeline.config import RunConfig, load_config, tracker_config
from mot_pipeline.errors import InputError
from mot_pipeline.pipeline import PipelineConfig

# mot-run presets; `train-*.yaml` are mot-train's (tests/test_siammt_training.py loads them)
CONFIGS = sorted(
    p
    for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")
    if not p.name.startswith("train-")
)


def test_there_are_presets():
    assert any(p.name == "default.yaml" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_preset_loads(path):
    config = load_config(path)
    tracker_config(config)  # tracker options fit the tracker


def test_default_yaml_states_the_defaults():
    config = load_config(CONFIGS[[p.name for p in CONFIGS].index("default.yaml")])
    assert config == RunConfig()


def test_overrides_win_and_none_is_ignored(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("pipeline:\n  detect_every: 5\n  lag: 2\ntracker: hold\n")
    config = load_config(f, pipeline={"detect_every": 3}, tracker=None)
    assert config.pipeline == PipelineConfig(detect_every=3, lag=2)
    assert config.tracker == "hold"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nonsense: 1\n", "nonsense"),
        ("pipeline:\n  detect_every: two\n", "detect_every"),
        ("pipeline:\n  detect_every: 0\n", "detect_every"),
        ("detect_every: 5\n", "detect_every"),
        ("- a list\n", "mapping"),
        ("tracker_options:\n  motion:\n    gate: x\n", "gate"),
        ("tracker_options:\n  field_of_view: fisheye\n", "field_of_view"),
        ("pipeline:\n  association:\n    min_iou_second: [1]\n", "min_iou_second"),
        ("pipeline: 3\n", "pipeline"),
        ("key: [unclosed\n", "YAML"),
        ("tracker_options:\n  nope: 1\n", "nope"),
        ("tracker: nope\n", "nope"),
    ],
)
def test_bad_configs_name_file_and_key(tmp_path, text, fragment):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        load_config(f)  # the tracker's options too, before any work
    assert "bad.yaml" in str(err.value) and fragment in str(err.value)


def test_device_moves_detector_and_torch_trackers_only():
    from mot_pipeline.config import with_device

    siammt = with_device(load_config(tracker="siammt"), "cuda:1")
    assert siammt.yolo.device == "cuda:1" and siammt.tracker_options == {"device": "cuda:1"}
    kalman = with_device(load_config(tracker="kalman"), "cuda:1")
    assert kalman.yolo.device == "cuda:1" and kalman.tracker_options == {}


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")


def test_loading_a_siammt_preset_imports_no_torch():
    """Settings are checked before any model loads: SiamMT's config lives in a torch-free
    module, so a bad preset fails in a fraction of a second."""
    import subprocess
    import sys

    code = (
        "import sys; from mot_pipeline.config import load_config; "
        "load_config('configs/siammt-bf16-k5.yaml'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)
