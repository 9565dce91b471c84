from pathlib import Path

import pytest

from mot_pipeline.config import RunConfig, load_config, tracker_config
from mot_pipeline.errors import InputError
from mot_pipeline.pipeline import PipelineConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_presets():
    assert any(p.name == "default.yaml" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_preset_loads(path):
    config = load_config(path)
    assert config.pipeline.detect_every == config.detect_every
    tracker_config(config)  # tracker options fit the tracker


def test_default_yaml_states_the_defaults():
    config = load_config(CONFIGS[[p.name for p in CONFIGS].index("default.yaml")])
    assert config == RunConfig(pipeline=PipelineConfig(detect_every=1))


def test_overrides_win_and_none_is_ignored(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect_every: 5\ntracker: hold\n")
    config = load_config(f, detect_every=3, tracker=None)
    assert config.detect_every == 3 and config.pipeline.detect_every == 3
    assert config.tracker == "hold"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nonsense: 1\n", "nonsense"),
        ("detect_every: two\n", "detect_every"),
        ("detect_every: 0\n", "detect_every"),
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
        tracker_config(load_config(f), str(f))
    assert "bad.yaml" in str(err.value) and fragment in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")
