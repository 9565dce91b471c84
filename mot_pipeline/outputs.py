"""A run's output folder: staged writing, publication all at once, and guards around it.

Every file of a `mot-run` goes first into a hidden staging folder inside the output folder
(same file system) and is moved to its final name only when the run ends: an interrupted run
(Ctrl-C, SIGTERM) leaves nothing behind, and a killed one (SIGKILL) leaves only the staging
folder, which the next run into that folder removes. Publishing also removes the products of an
older run that this one replaces (`--overwrite`) but does not write again, so the folder never
mixes two runs. Outputs are never allowed to land on an input file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from mot_pipeline.errors import InputError

STAGING_PREFIX = ".mot-run."
STAGING_SUFFIX = ".partial"
# Hidden files and folders a process left behind, each naming the writer's process id: this
# module's staging folders, `render.VideoWriter`'s temporary videos (`.<name>.pid<pid>.tmp.mp4`,
# earlier `.<name>.<pid>.tmp.mp4`) and `fileio.atomic_write`'s temporary files
# (`.<name>.pid<pid>.<random>.tmp`).
LEFTOVER = re.compile(
    rf"^(?:{re.escape(STAGING_PREFIX)}(\d+){re.escape(STAGING_SUFFIX)}"
    r"|\..+\.(?:pid)?(\d+)\.tmp\.\w+"
    r"|\..+\.pid(\d+)\.\w+\.tmp)$"
)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files and staging folders that a killed run left in `folder`
    (those whose process is gone); returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = LEFTOVER.match(entry.name)
        if match is None or _alive(int(next(g for g in match.groups() if g))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def check_not_inputs(targets: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Refuse (`InputError`) an output file that is one of the inputs: the same file by name,
    through a symbolic link or as a hard link."""
    existing = {}
    for target in targets:
        with contextlib.suppress(OSError):
            st = target.stat()  # follows symbolic links
            existing[(st.st_dev, st.st_ino)] = target
    if not existing:
        return
    for source in inputs:
        with contextlib.suppress(OSError):
            st = source.stat()
            target = existing.get((st.st_dev, st.st_ino))
            if target is not None:
                raise InputError(
                    f"would overwrite the input {source}; choose another --output", target
                )


class Staging:
    """Context manager for one run's files in `folder`: `path(name)` is where a file is
    written; `publish(stale)` moves every staged file to `folder` and deletes the files in
    `stale` that this run did not write. Leaving the block without publishing (an error, an
    interrupt) deletes the staging folder and everything in it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = folder / f"{STAGING_PREFIX}{os.getpid()}{STAGING_SUFFIX}"
        self.published: list[Path] = []

    def __enter__(self) -> Staging:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.folder)
            self._make_root()
        except FileExistsError:
            raise InputError("a run into this folder is already in progress", self.root) from None
        except OSError as err:
            raise InputError(f"cannot create ({err.strerror or err})", self.folder) from None
        return self

    def _make_root(self) -> None:
        """Create the staging folder. A signal that lands just after the folder is made raises
        before the `with` block is entered, so `__exit__` would never remove it: do it here."""
        try:
            self.root.mkdir()
        except FileExistsError:
            raise
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def path(self, name: str) -> Path:
        return self.root / name

    def publish(self, stale: Iterable[Path] = ()) -> list[Path]:
        """Move the staged files to their final names (sorted, so reruns publish in the same
        order) and remove `stale` files that were not replaced; returns the final paths."""
        names = sorted(p.name for p in self.root.iterdir() if p.is_file())
        for name in names:
            os.replace(self.root / name, self.folder / name)
            self.published.append(self.folder / name)
        for old in stale:
            if old.name not in names:
                old.unlink(missing_ok=True)
        return self.published

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
