"""Writing output files: atomically (a temp file in the target directory, then os.replace), and
checks that refuse a target before any work is done.

Generic, so that the MOTChallenge files (`motchallenge.py`), evaluation reports and the
benchmark's outputs are all written the same way: a reader never sees a partial file, an
existing file is replaced only when asked, and written files are readable by others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from mot_pipeline.errors import InputError

FILE_MODE = 0o644  # mkstemp creates 0o600; written files are meant to be shared


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse a target file that exists (unless `overwrite`) or is a directory (`InputError`)."""
    if path.exists() and not overwrite:
        raise InputError("exists; pass --overwrite", path)
    if path.is_dir():
        raise InputError("is a directory", path)


def check_output_dir(path: str | Path) -> Path:
    """Refuse, before any work, an output directory that cannot be made or written in: a
    file in its place or above it, a symbolic link to nothing, or no write permission where
    it would be created."""
    path = Path(path)
    existing = path
    while not existing.exists():  # False also below a file (ENOTDIR)
        if existing.is_symlink():
            raise InputError("symbolic link to a missing target, cannot hold output", existing)
        existing = existing.parent
    if not existing.is_dir():
        raise InputError("not a directory, cannot hold output files", existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError("not writable", existing)
    return path


def atomic_write(
    path: str | Path, write: Callable[[IO[bytes]], None], overwrite: bool = False
) -> Path:
    """Create `path` through `write(binary_file)` so that readers never see a partial file.

    The data goes to a temp file in the same directory (same file system), which replaces
    `path` only once complete; on any error the temp file is removed and `path` is untouched.
    An existing `path` raises `InputError` unless `overwrite`.
    """
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The process id in the name lets a later run remove what a killed one left
    # (`outputs.remove_leftovers`).
    prefix = f".{path.name}.pid{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            os.fchmod(f.fileno(), FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, overwrite: bool = False) -> Path:
    """`atomic_write` for UTF-8 text."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")), overwrite)


CACHE_NAME = "mot-pipeline"


def cache_root() -> Path:
    """The project's per-user cache folder: `$XDG_CACHE_HOME/mot-pipeline`, by default
    `~/.cache/mot-pipeline` (detections, built models, ultralytics' settings go below it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / CACHE_NAME
