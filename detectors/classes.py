"""Which detector classes to keep: COCO names or ids, or `all`, resolved against a model's names.

A user names classes as they read them (`person bicycle`), a model filters by id; the model's own
id -> name map (`YoloDetector.names`, an exported model's metadata.yaml, public detections'
`{0: "person"}`) is the only authority, so a custom model's classes work the same way. Here, in
the detectors package, because the YOLO detector resolves its configured classes against the
loaded model; the engine uses the same functions to refuse a bad name before any work.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

ALL = "all"  # keep every class the model has
METADATA_FILE = "metadata.yaml"  # written next to an exported (e.g. OpenVINO) model
SHOWN_NAMES = 6  # class names an error lists (the close matches first)
ClassKey = int | str


def _key(value: object) -> ClassKey:
    """An id (int or a string of digits) as an int, a name as a normalised string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a class is a name or an id, got {value!r}")
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if number < 0:
            raise ValueError(f"class ids are >= 0, got {number}")
        return number
    name = _normal(value)
    if not name:
        raise ValueError("empty class name")
    return name


def _normal(name: str) -> str:
    """Names compare case-blind, with `_` for a space (`traffic_light` is `traffic light`)."""
    return " ".join(name.replace("_", " ").lower().split())


def normalize(classes: object) -> tuple[ClassKey, ...]:
    """A class selection as configs hold it: `()` for every class (`all`, or an empty list),
    else ids and normalised names in the given order, without repeats. ValueError on a value
    that is neither, or `all` mixed with classes."""
    if isinstance(classes, str | int) and not isinstance(classes, bool):
        classes = [classes]
    if not isinstance(classes, Iterable):
        raise ValueError(f"classes must be a list of names or ids, or {ALL!r}")
    keys = [_key(c) for c in classes]
    if ALL in keys:
        if len(keys) > 1:
            raise ValueError(f"{ALL!r} keeps every class; it cannot be combined with others")
        return ()
    return tuple(dict.fromkeys(keys))


def _unknown(key: ClassKey, names: Mapping[int, str], what: str) -> ValueError:
    known = list(names.values())
    if isinstance(key, str):
        close = difflib.get_close_matches(key, [_normal(n) for n in known], n=2)
        shown = list(dict.fromkeys([*close, *known]))[:SHOWN_NAMES]
        problem = f"unknown class {key!r}"
    else:
        shown = known[:SHOWN_NAMES]
        problem = f"no class id {key}"
    more = ", ..." if len(known) > len(shown) else ""
    count = f"{len(known)} class{'es' if len(known) != 1 else ''}"
    low, high = min(names, default=0), max(names, default=0)
    ids = f"id {low}" if low == high else f"ids {low}-{high}"
    return ValueError(f"{problem} for {what} ({count}: {', '.join(shown)}{more}; {ids}; or {ALL})")


def resolve(classes: Iterable[ClassKey], names: Mapping[int, str], what: str) -> tuple[int, ...]:
    """The ids of `classes` (an empty selection: every id of `names`), in the given order.
    ValueError naming the first unknown name or id and a few valid names; `what` names the
    model in that message."""
    keys = normalize(list(classes))
    if not keys:
        return tuple(sorted(names))
    by_name = {_normal(n): i for i, n in names.items()}
    ids = []
    for key in keys:
        found = key if isinstance(key, int) and key in names else by_name.get(str(key))
        if found is None:
            raise _unknown(key, names, what)
        ids.append(int(found))
    return tuple(dict.fromkeys(ids))


def model_names(model: Path) -> dict[int, str] | None:
    """The class names recorded beside an exported model (its folder's metadata.yaml), read
    without loading the model; None where there is none (a .pt file keeps them inside) or it
    cannot be read (loading the model reports that)."""
    path = model / METADATA_FILE if model.is_dir() else None
    if path is None or not path.is_file():
        return None
    try:
        names = yaml.safe_load(path.read_text(encoding="utf-8")).get("names")
        return {int(i): str(n) for i, n in names.items()}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError, ValueError):
        return None
