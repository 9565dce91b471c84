"""Output files: atomic writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mot_pipeline.fileio import atomic_write


def test_atomic_write_removes_its_temp_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    target.write_text("previous\n")

    def half_then_fail(f) -> None:
        f.write(b"1,1,1,1,")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail, overwrite=True)
    assert target.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]
