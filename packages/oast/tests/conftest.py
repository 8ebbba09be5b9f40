"""Shared fixtures: parity material (shared/parity/oast) and a small synthetic OAST benchmark."""

from __future__ import annotations

import os

import pytest
import torch
from vos_common.parity import load_case, parity_dir, parity_state_dict

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # one thread per xdist worker: no oversubscription, stable timings


@pytest.fixture(scope="session")
def parity():
    """``(folder, load)``: the parity folder and a cached loader of its cases."""
    try:
        folder = parity_dir("oast")
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"parity fixtures unavailable: {err}")
    cache: dict = {}

    def load(name: str) -> dict:
        if name not in cache:
            cache[name] = load_case(folder / name)
        return cache[name]

    return folder, load


@pytest.fixture(scope="session")
def filled_state(parity):
    """Deterministic parity state_dicts by table name (cached)."""
    folder, _ = parity
    cache: dict = {}

    def get(table: str) -> dict:
        if table not in cache:
            cache[table] = parity_state_dict(folder / table)
        return {k: v.clone() for k, v in cache[table].items()}

    return get


@pytest.fixture(scope="session")
def step_inputs(parity):
    _, load = parity
    i = load("case_inputs_steps.pt")["inputs"]
    return {
        "img": i["img"].float(),
        "flow": i["flow"].float() / 255,
        "mask": i["mask"].float(),
        "img_u": i["img_u"].float(),
        "flow_u": i["flow_u"].float() / 255,
        "img_c": i["img_c"].float(),
    }


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """The synthetic benchmark in OAST's layout (72×96 frames, one moving object per video)."""
    from vos_common.synth import SynthConfig, generate_videos, write_benchmark

    root = tmp_path_factory.mktemp("oast_synth")
    config = SynthConfig(height=72, width=96, frames=6, num_objects=1, late_objects=0, seed=3)
    write_benchmark(generate_videos(config, count=4), format="oast", out=root)
    return root


def _no_dropout(model: torch.nn.Module) -> torch.nn.Module:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    return model


@pytest.fixture(scope="session")
def no_dropout():
    """Disable every Dropout of a model (train-mode parity: dropout is random)."""
    return _no_dropout
