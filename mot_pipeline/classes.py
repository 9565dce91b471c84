"""A run's classes: which the detector keeps (`yolo.classes`, `--classes`), their names, and
how they meet MOTChallenge's ground-truth classes.

The selection is checked here before any work, against the names a model records beside itself
(no model is loaded); a model whose names are only inside it (.pt) is checked when it loads.
MOTChallenge benchmarks score people only, so the person class has a role of its own: it is what
the `.txt` results hold and what the official protocol scores (`exports.py`, `evaluation.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from detectors import classes as selection
from detectors import public
from detectors.yolo import PERSON_CLASS, YoloConfig, resolve_model
from mot_pipeline.errors import InputError
from mot_pipeline.track_classes import resolve_class_keys
from mot_pipeline.types import UNKNOWN_CLASS

if TYPE_CHECKING:
    from mot_pipeline.config import RunConfig

PUBLIC = "public"  # public detections' name as a detector (det/det.txt)
YOLO = "yolo"
PERSON = "person"
OPTION = "--classes / yolo.classes"  # where a user sets the selection, for messages
# MOT16/17/20 ground-truth class ids (MOT16 paper) of the COCO names that have one. Persons on
# vehicles and static persons are COCO persons too; the official rule ignores tracks on them.
MOT_PEDESTRIAN = 1
MOT_CLASS_BY_NAME: dict[str, int] = {
    PERSON: MOT_PEDESTRIAN,
    "car": 3,
    "bicycle": 4,
    "motorcycle": 5,
    "motorbike": 5,  # VOC's name for it
}


def detector_names(config: RunConfig) -> dict[int, str] | None:
    """The class names of the run's detector, where they are known without loading it: public
    detections' and an exported model's (metadata.yaml); None otherwise (a .pt model, none)."""
    if config.detector == PUBLIC:
        return dict(public.NAMES)
    model = config.yolo.model if config.detector == YOLO else config.detector
    try:
        path = resolve_model(model)
    except InputError:  # not a model (e.g. no detector): its own check says so
        return None
    return selection.model_names(path)


def selected(config: RunConfig, names: Mapping[int, str] | None) -> dict[int, str]:
    """The class ids the run keeps, with their names (`InputError` naming an unknown one);
    public detections are people whatever the selection; empty when `names` is None."""
    if names is None:
        return {}
    what = "public detections" if config.detector == PUBLIC else f"detector {config.detector}"
    try:
        ids = selection.resolve(config.yolo.classes, names, what)
    except ValueError as err:
        raise InputError(f"{OPTION}: {err}") from None
    return {i: names[i] for i in ids}


def check(config: RunConfig) -> None:
    """Refuse, before any work, a class the detector does not have (where its names are known
    without loading it; otherwise the detector refuses it when it loads), here or in the
    per-class track buffers."""
    names = detector_names(config)
    selected(config, names)
    by_class = config.pipeline.lifecycle.track_buffer_by_class
    if by_class and names is not None:
        try:
            resolve_class_keys(by_class, names)
        except ValueError as err:
            raise InputError(f"pipeline.lifecycle.track_buffer_by_class: {err}") from None


def only_person(config: RunConfig) -> bool:
    """Whether the run keeps the person class alone (the default): then the MOTChallenge
    results hold every track and no class-carrying file is added (`exports.formats`)."""
    if config.detector == PUBLIC:
        return True
    names = detector_names(config)
    if names is None:  # a model read only when it loads: COCO ids, as YoloConfig's default
        return config.yolo.classes in (YoloConfig().classes, (PERSON,))
    return list(selected(config, names).values()) == [PERSON]


def person_class(names: Mapping[int, str] | None) -> int | None:
    """The id of the class named person (COCO's id when the names are unknown)."""
    if names is None:
        return PERSON_CLASS
    return next((i for i, n in names.items() if n.lower() == PERSON), None)


def benchmark_classes(names: Mapping[int, str] | None) -> frozenset[int]:
    """Track classes that MOTChallenge results hold: person, and unknown (given boxes)."""
    person = person_class(names)
    return frozenset({UNKNOWN_CLASS} | ({person} if person is not None else set()))


def mot_class(name: str) -> int | None:
    """The MOT16/17/20 gt class of a detector class name (None: the benchmarks have none)."""
    return MOT_CLASS_BY_NAME.get(name.lower())
