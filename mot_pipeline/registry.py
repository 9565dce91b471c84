"""Name -> class registries of the plugin packages, imported lazily (no torch or ultralytics
until a plugin is chosen)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping


def registered_class(registry: Mapping[str, str], name: str, kind: str) -> type:
    """The class `registry[name]` ("module:Class") names; KeyError naming the choices."""
    if name not in registry:
        raise KeyError(f"unknown {kind} {name!r}; choose from {', '.join(sorted(registry))}")
    module, attr = registry[name].split(":")
    return getattr(importlib.import_module(module), attr)
