"""The floors of DESIGN.md, enforced: a file imports from its own floor or below, never above.

Every import is read with `ast`, at module level or inside a function (a lazy import still ties
the floors together), `if TYPE_CHECKING:` ones included.

1. Ground (`GROUND`): imports nothing of the project but other ground modules.
2. Plugins (`trackers`, `detectors`, `association`): from `mot_pipeline` only the ground floor;
   never another plugin package (within its own package anything).
3. Engine (the rest of `mot_pipeline`, the package's `__init__` included): plugins and ground,
   never the top floor (`mot_pipeline.cli`, `mot_pipeline.bench`).
4. Top: anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGINS = ("trackers", "detectors", "association")
# DESIGN.md's ground floor, plus `registry` (the plugin packages' name -> factory lookup) and
# `fileio` (atomic writes, cache folder): both import nothing above `errors` (rule 1 checks it).
GROUND = frozenset(f"mot_pipeline.{m}" for m in ("types", "boxes", "errors", "registry", "fileio"))
TOP = ("mot_pipeline.cli", "mot_pipeline.bench")
# (importer, imported) pairs that break a rule and are left for a change of their own; each
# needs a comment saying why. None today; the test fails when a listed one is gone.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_files() -> list[Path]:
    roots = [REPO / "mot_pipeline", *(REPO / p for p in PLUGINS)]
    return sorted(f for root in roots for f in root.rglob("*.py"))


MODULES = {_module_name(f) for f in _project_files()}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module of a `from ... import`, relative ones included."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_in(source: str, importer: str, is_package: bool = False) -> set[str]:
    """Project modules that module `importer`'s `source` imports; `from pkg import name` counts
    as `pkg.name` where that is a module of the project (a submodule import), else as `pkg`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, importer)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, importer, is_package)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in MODULES else module)
    roots = ("mot_pipeline", *PLUGINS)
    return {m for m in found if m.split(".")[0] in roots}


def imports_of(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return imports_in(text, _module_name(path), path.name == "__init__.py")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


FLOOR_NAMES = {1: "ground", 2: "plugin", 3: "engine", 4: "top"}


def floor(module: str) -> int:
    """1 ground, 2 plugin, 3 engine (`mot_pipeline` and its package itself), 4 top."""
    if module in GROUND:
        return 1
    if module.split(".")[0] in PLUGINS:
        return 2
    return 4 if any(_within(module, t) for t in TOP) else 3


def floor_violation(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported` (None: allowed)."""
    mine, theirs = floor(importer), floor(imported)
    if theirs > mine:
        return f"{FLOOR_NAMES[mine]} floor imports the {FLOOR_NAMES[theirs]} floor above it"
    if mine == theirs == 2 and importer.split(".")[0] != imported.split(".")[0]:
        return "plugins never import each other"
    return None


def _violations() -> list[tuple[str, str, str]]:
    out = []
    for path in _project_files():
        importer = _module_name(path)
        for imported in sorted(imports_of(path)):
            why = floor_violation(importer, imported)
            if why is not None:
                out.append((importer, imported, why))
    return out


def test_every_import_respects_the_floors():
    broken = [v for v in _violations() if v[:2] not in KNOWN_EXCEPTIONS]
    assert not broken, "\n".join(f"{a} imports {b}: {why}" for a, b, why in broken)


def test_known_exceptions_still_exist():
    current = {v[:2] for v in _violations()}
    assert current >= KNOWN_EXCEPTIONS, f"fixed, drop them: {KNOWN_EXCEPTIONS - current}"


def test_the_ground_floor_exists():
    assert GROUND <= MODULES  # a renamed module must not silently widen what plugins may use


@pytest.mark.parametrize(
    "importer, imported, allowed",
    [
        ("trackers.siammt.training.pairs", "mot_pipeline.errors", True),
        ("trackers.siammt.training.pairs", "mot_pipeline.motchallenge", False),
        ("trackers.siammt.tracker", "trackers.motion_prior", True),
        ("trackers.kalman", "association.assign", False),
        ("detectors.yolo", "mot_pipeline", False),
        ("mot_pipeline.fileio", "mot_pipeline.sources", False),
        ("mot_pipeline.training_data", "trackers.siammt.training.pairs", True),
        ("mot_pipeline.runner", "mot_pipeline.cli.run", False),
        ("mot_pipeline.cli.train", "mot_pipeline.training_data", True),
        ("mot_pipeline.bench.speed", "mot_pipeline.cli", True),
    ],
)
def test_the_rules_themselves(importer, imported, allowed):
    assert (floor_violation(importer, imported) is None) == allowed


def test_imports_are_found_inside_functions_and_relative():
    source = (
        "import numpy\n"
        "from mot_pipeline import boxes\n"
        "from . import crop\n"
        "def f():\n"
        "    from mot_pipeline.sources import read_image\n"
    )
    found = imports_in(source, "trackers.siammt.tracker")
    assert found == {"mot_pipeline.boxes", "trackers.siammt.crop", "mot_pipeline.sources"}
