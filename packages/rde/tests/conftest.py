"""Shared fixtures of the rde tests: parity weights and fixtures, small synthetic data."""

from __future__ import annotations

import pytest
import torch
from rde.parity import normalise

# one thread per xdist worker (2 workers = 2 cores): oversubscribed OpenMP threads spin
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def parity_folder():
    from vos_common.parity import parity_dir

    try:
        return parity_dir("rde")
    except Exception as err:  # pragma: no cover - depends on the checkout
        pytest.skip(f"parity fixtures not available: {err}")


@pytest.fixture(scope="session")
def parity_net(parity_folder):
    from rde.model.network import RDEVOS
    from rde.parity import parity_weights

    net = RDEVOS().eval()
    net.load_state_dict(parity_weights(), strict=True)
    return net


@pytest.fixture(scope="session")
def parity_clip(parity_folder):
    from vos_common.parity import load_case
    from vos_common.stm import pad_divide_by

    clip = load_case(parity_folder / "case_clip.pt")
    frames, pad = pad_divide_by(normalise(clip["frames_uint8"]), 16)
    assert list(pad) == clip["pad"].tolist()
    labels = clip["labels"].long()
    onehot = torch.stack([(labels == k).float() for k in (1, 2)])[:, :, None]  # K, T, 1, H, W
    masks, _ = pad_divide_by(onehot, 16)
    return {"frames": frames, "masks": masks, "labels": clip["labels"], "pad": pad,
            "raw_frames": normalise(clip["frames_uint8"]), "raw_onehot": onehot}


@pytest.fixture(scope="session")
def case_modules(parity_folder):
    from vos_common.parity import load_case

    return load_case(parity_folder / "case_modules.pt")
