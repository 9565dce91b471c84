"""Run configuration: frozen dataclasses with defaults in code, loadable from YAML (`mot-run`'s
`RunConfig`, and `mot-train`'s preset with `load_train_config`).

A YAML preset (see `configs/`) names only what it changes; unknown keys, wrong types and
unknown tracker/detector names are `InputError`s naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from detectors.public import PublicConfig
from detectors.yolo import YoloConfig
from mot_pipeline.errors import InputError
from mot_pipeline.exports import OutputConfig
from mot_pipeline.pipeline import PipelineConfig
from mot_pipeline.types import check_choices

if TYPE_CHECKING:
    from trackers.siammt.training.config import TrainConfig

DEFAULT_TRACKER = "siammt"
DEFAULT_DETECTOR = "yolo11n"
NO_DETECTOR = "none"  # follow given boxes (`mot-run --init`, `targets.py`)
# Float settings that may be infinite (every other number must be finite): a score floor of
# -inf keeps every public detection.
INFINITY_ALLOWED = frozenset({"PublicConfig.min_score"})


@dataclass(frozen=True)
class InputConfig:
    """How frames are checked and what a corrupt one does (README, "Bad input").

    `check_frames`: frames decoded before any work, `sample` (first, middle, last of each
    sequence), `all` or `none`. `on_bad_frame`: `stop` fails the sequence (a dataset run goes
    on with the next one), `skip` warns and lets the previous frame stand in, keeping frame
    numbering; for a video that ends before its header's frame count, `skip` keeps what was
    decoded.
    """

    check_frames: typing.Literal["sample", "all", "none"] = "sample"
    on_bad_frame: typing.Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        check_choices(self)


@dataclass(frozen=True)
class RunConfig:
    """Everything `mot-run` needs besides paths. `tracker_options` are the fields of the
    chosen tracker's own config dataclass (validated against it by `load_config`); the
    detection interval is `pipeline.detect_every`."""

    tracker: str = DEFAULT_TRACKER
    detector: str = DEFAULT_DETECTOR
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    yolo: YoloConfig = field(default_factory=YoloConfig)  # its `model` comes from `detector`
    public: PublicConfig = field(default_factory=PublicConfig)
    tracker_options: dict[str, Any] = field(default_factory=dict)
    frame_rate: float | None = None  # override the sequence's frame rate
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)  # track file formats

    def __post_init__(self) -> None:
        if self.frame_rate is not None and not (
            math.isfinite(self.frame_rate) and self.frame_rate > 0
        ):
            raise ValueError(f"frame_rate must be a positive number, got {self.frame_rate}")


def from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, recursing into dataclass fields; `where` names the
    file (and key path) in errors."""
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping for {cls.__name__}, got {type(data).__name__}", where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"unknown config key(s) {', '.join(map(str, unknown))} "
            f"(valid: {', '.join(sorted(fields))})",
            where,
        )
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, f"{where}:{name}")
        number = values[name]
        if isinstance(number, float) and not _finite_allowed(number, f"{cls.__name__}.{name}"):
            raise InputError(f"must be a finite number, got {value!r}", f"{where}:{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:  # a config's own validation
        raise InputError(str(err), where) from None


def _finite_allowed(number: float, qualified_name: str) -> bool:
    """NaN is never a setting; infinity only where `INFINITY_ALLOWED` says it means something."""
    return math.isfinite(number) or (not math.isnan(number) and qualified_name in INFINITY_ALLOWED)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where) if len(inner) == 1 else value
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"must be one of {', '.join(map(str, args))}, got {value!r}", where)
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(f"expected a list, got {value!r}", where)
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"expected a mapping, got {value!r}", where)
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"expected true/false, got {value!r}", where)
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"expected a number, got {value!r}", where)
        if hint is int and not (math.isfinite(value) and float(value) == int(value)):
            raise InputError(f"expected an integer, got {value!r}", where)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"expected a string, got {value!r}", where)
        return value
    return value


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read a YAML preset (or the defaults), then apply non-None `overrides` (CLI flags); a
    mapping override (e.g. `yolo={"conf": 0.3}`) is merged into the file's section, at any
    depth (`pipeline={"targets": {"refind": True}}` keeps the file's other target settings).
    The tracker's options are checked here, so a bad key fails before any work."""
    where = str(path) if path is not None else "config"
    data = _read_mapping(path) if path is not None else {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = _merged(data[key], value)
        elif value is not None and value != {}:
            data[key] = value
    config = from_mapping(RunConfig, data, where)
    tracker_config(config, where)
    return config


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s entries, merged into its sections where both are mappings."""
    out = dict(base)
    for key, value in override.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def _read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML preset's mapping of settings (an empty file: none); `InputError` naming the file
    when it is missing, unreadable, not YAML or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", path) from None
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or err})", path) from None
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({str(err).splitlines()[0]})", path) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping of settings, got {type(data).__name__}", path)
    return data


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """`mot-train`'s preset from YAML, or the defaults, with non-None `overrides` (CLI flags);
    bad files, unknown keys and invalid values raise `InputError` naming the file. Here, not in
    the training package, because reading YAML presets is the engine's job (plugins take the
    dataclass); imported when called, so `mot-run` never loads training code."""
    from trackers.siammt.training.config import TrainConfig

    where = str(path) if path is not None else "config"
    data = _read_mapping(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(TrainConfig, data, where)


def tracker_config(config: RunConfig, where: str = "config") -> Any:
    """The chosen tracker's own config dataclass built from `tracker_options`."""
    from trackers import config_class

    try:
        cls = config_class(config.tracker)
    except KeyError as err:
        raise InputError(str(err.args[0]), where) from None
    return from_mapping(cls, config.tracker_options, f"{where}:tracker_options")


def with_device(config: RunConfig, device: str) -> RunConfig:
    """`config` with the detector, and the tracker where it runs on a torch device (its config
    has a `device` field), moved to `device` (`--device`)."""
    from trackers import config_class

    options = dict(config.tracker_options)
    if "device" in {f.name for f in dataclasses.fields(config_class(config.tracker))}:
        options["device"] = device
    yolo = dataclasses.replace(config.yolo, device=device)
    return dataclasses.replace(config, yolo=yolo, tracker_options=options)
