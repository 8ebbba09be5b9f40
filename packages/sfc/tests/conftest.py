"""Shared fixtures: the parity fixtures of shared/parity/sfc and checkpoints rebuilt from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from vos_common.io import DAVIS_PALETTE, write_frame, write_label_map
from vos_common.parity import load_case, parity_dir, parity_state_dict

CASES = ("case_sfc", "case_fc_only")

# The suite runs with `pytest -n 2` on two cores: one thread per worker avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def parity_folder() -> Path:
    return parity_dir("sfc")


@pytest.fixture(scope="session")
def cases(parity_folder) -> dict[str, dict]:
    return {name: load_case(parity_folder / f"{name}.pt") for name in CASES}


@pytest.fixture(scope="session")
def checkpoint_dir(parity_folder, tmp_path_factory) -> Path:
    """The three synthetic official checkpoints under their official names."""
    out = tmp_path_factory.mktemp("checkpoints")
    containers = json.loads((parity_folder / "checkpoints.json").read_text())
    for model_type, c in containers.items():
        state = parity_state_dict(parity_folder / f"keys_{model_type}.json")
        torch.save({**c["extra"], c["container_key"]: state}, out / c["file"])
    return out


def case_bgr0(case: dict) -> np.ndarray:
    """Frame 0's annotation as the original reads it (DAVIS palette colours, BGR)."""
    return DAVIS_PALETTE[case["inputs"]["labels"][0].numpy()][..., ::-1].copy()


def write_davis_clip(case: dict, root: Path, name: str = "clip") -> Path:
    """A case's clip as a DAVIS-2017 layout (lossless PNG frames, indexed annotations)."""
    inputs = case["inputs"]
    for t in range(len(inputs["frames_uint8"])):
        write_frame(
            root / "JPEGImages" / "480p" / name / f"{t:05d}.png", inputs["frames_uint8"][t].numpy()
        )
        write_label_map(
            root / "Annotations" / "480p" / name / f"{t:05d}.png", inputs["labels"][t].numpy()
        )
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text(f"{name}\n")
    return root


@pytest.fixture(scope="session")
def helpers():
    """Helper functions (tests run with --import-mode=importlib, so conftest is not importable)."""

    class Helpers:
        bgr0 = staticmethod(case_bgr0)
        davis_clip = staticmethod(write_davis_clip)

    return Helpers
