"""Shared fixtures: paths to the read-only material beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MOT_DIR = SHARED / "data" / "mot"
SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte", "KITTI-17", "PETS09-S2L1")


@pytest.fixture(scope="session")
def mot_dir() -> Path:
    if not MOT_DIR.is_dir():
        pytest.skip(f"shared MOT data not found at {MOT_DIR}")
    return MOT_DIR
