"""Shared fixtures of the mivos_prop tests: parity weights and inputs, small synthetic data."""

from __future__ import annotations

import pytest
import torch
from vos_common.parity import load_case, parity_dir, parity_state_dict

# One torch thread per test process: pytest -n 2 already fills both cores, and OpenMP threads
# that wait on each other slow every test down several times on a busy machine.
torch.set_num_threads(1)


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.fixture(scope="session")
def parity_folder():
    return parity_dir("mivos_prop")


@pytest.fixture(scope="session")
def parity_weights(parity_folder):
    return parity_state_dict(parity_folder / "keys_eval.json")


@pytest.fixture(scope="session")
def parity_clip(parity_folder):
    return load_case(parity_folder / "case_clip.pt")


@pytest.fixture(scope="session")
def parity_modules(parity_folder):
    return flatten(load_case(parity_folder / "case_modules.pt"))


@pytest.fixture(scope="session")
def eval_net(parity_weights):
    from mivos_prop.model import PropagationNetwork

    net = PropagationNetwork(top_k=50).eval()
    net.load_state_dict(parity_weights, strict=True)
    return net
