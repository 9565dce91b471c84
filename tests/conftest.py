"""Shared fixtures: paths to the read-only material beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MOT_DIR


@pytest.fixture(scope="session")
def mot_dir() -> Path:
    if not MOT_DIR.is_dir():
        pytest.skip(f"shared MOT data not found at {MOT_DIR}")
    return MOT_DIR
