"""Name -> plugin registries of the plugin packages, imported lazily: naming a plugin's config
class imports no torch or ultralytics, so a YAML preset is validated before anything heavy."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Plugin:
    """Where a plugin lives: `config` ("module:Class", its frozen config dataclass, in a light
    module) and `factory` ("module:callable", called with one such config)."""

    config: str
    factory: str


def resolve(reference: str) -> Any:
    """The object a "module:attribute" reference names (importing the module)."""
    module, attr = reference.split(":")
    return getattr(importlib.import_module(module), attr)


def lookup(registry: Mapping[str, Plugin], name: str, kind: str) -> Plugin:
    """`registry[name]`; KeyError naming the choices."""
    if name not in registry:
        raise KeyError(f"unknown {kind} {name!r}; choose from {', '.join(sorted(registry))}")
    return registry[name]
