"""Shared fixtures of the matrix tests: ci/ and this folder on sys.path, one cache per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent, HERE):  # ci/ (vos_matrix) and ci/tests (matrix_fixtures)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One cache for the session, so the tiny benchmark is generated once."""
    return tmp_path_factory.mktemp("vos-cache")
