"""Access to the project's parity material in ``../shared`` (specs and original-code fixtures).

Method packages test against fixtures made by running the original code with deterministic
weights (``shared/parity/weights.py``). The folder lives beside the repository checkout; set
``VOS_SHARED`` to point elsewhere. Only tests and benchmarks use this module.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from vos_common.errors import VOSDataError


def shared_root() -> Path:
    """``$VOS_SHARED``, else the ``shared`` folder beside the repository (``<repo>/../shared``)."""
    if os.environ.get("VOS_SHARED"):
        return Path(os.environ["VOS_SHARED"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / ".git").exists() or (parent / ".ci").is_dir():
            return parent.parent / "shared"
    return here.parents[4].parent / "shared"


def parity_dir(method: str) -> Path:
    """``shared/parity/<method>``; raises if the fixtures are not there."""
    folder = shared_root() / "parity" / method
    if not folder.is_dir():
        raise VOSDataError(folder, "parity fixtures not found (set VOS_SHARED to the shared folder)")
    return folder


@lru_cache(maxsize=1)
def weights_module() -> ModuleType:
    """``shared/parity/weights.py`` imported as a module (the deterministic weight rule)."""
    path = shared_root() / "parity" / "weights.py"
    if not path.is_file():
        raise VOSDataError(path, "parity weight rule not found (set VOS_SHARED to the shared folder)")
    spec = importlib.util.spec_from_file_location("vos_shared_parity_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parity_state_dict(table: str | os.PathLike) -> dict:
    """The deterministic state_dict for a key table (``keys_*.json``) of the parity fixtures."""
    weights = weights_module()
    return weights.state_dict_from_table(weights.load_table(table))


def load_case(path: str | os.PathLike) -> dict:
    """A ``case_*.pt`` fixture, loaded with ``weights_only=True``."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
