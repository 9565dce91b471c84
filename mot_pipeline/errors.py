"""The one user-facing error type.

Anything a user can cause (a bad path, a malformed file, an unknown config key) raises
`InputError`; the CLI prints it as one line and exits with code 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input: `str(err)` is the one line the CLI prints."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)
