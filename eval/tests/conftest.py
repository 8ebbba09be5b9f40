"""Shared fixtures; puts this folder on sys.path so tests can import ``eval_fixtures``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def davis_root(tmp_path: Path) -> Path:
    return tmp_path / "DAVIS"
