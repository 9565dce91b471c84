"""Test helpers shared by several test files (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "TUD-Campus"
# The read-only material beside the checkout (CI clones with ../shared next to it).
SHARED = REPO.parent / "shared"
MOT_DIR = SHARED / "data" / "mot"
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte", "KITTI-17", "PETS09-S2L1")


def small_sequence(tmp_path: Path, frames: int = 6) -> Path:
    """The first `frames` frames of the bundled sample as a MOTChallenge sequence in
    `tmp_path`, with gt, det and seqinfo.ini cut to match."""
    seq = tmp_path / "TUD-Campus"
    (seq / "img1").mkdir(parents=True)
    for i in range(1, frames + 1):
        shutil.copy(SAMPLE / "img1" / f"{i:06d}.jpg", seq / "img1")
    for sub in ("gt", "det"):
        (seq / sub).mkdir()
        rows = (SAMPLE / sub / f"{sub}.txt").read_text().splitlines()
        keep = [r for r in rows if int(r.split(",")[0]) <= frames]
        (seq / sub / f"{sub}.txt").write_text("\n".join(keep) + "\n")
    info = (SAMPLE / "seqinfo.ini").read_text().replace("seqLength=71", f"seqLength={frames}")
    (seq / "seqinfo.ini").write_text(info)
    return seq


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    """Exit 2 and one `mot-run: error:` line on stderr holding every fragment."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mot-run: error: "), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
