"""Seeding of Python's ``random``, NumPy's global RNG and torch (CPU and every CUDA device).

Two kinds of seeds are used by the trainer:

* the *process* seed ``seed + process_index`` drives what runs in the training process itself
  (dropout, random ops inside the model and the loss), so that processes do not draw the same
  random numbers;
* a *sample* seed derived from ``(seed, epoch, position in the epoch)`` is installed around the
  loading of each sample (see :mod:`vos_common.training.data`), so augmentation does not depend on
  the number of processes, the number of loader workers, or where a run was resumed.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["derive_seed", "fork_rng", "rng_states", "seed_everything", "set_rng_states"]


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy's global RNG and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers (e.g. ``derive_seed(seed, epoch, position)``)."""
    state = np.random.SeedSequence([int(v) % 2**64 for v in values]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def rng_states() -> dict:
    """The global RNG states of this process (Python, NumPy, torch CPU and CUDA)."""
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore what :func:`rng_states` returned."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


@contextlib.contextmanager
def fork_rng(seed: int) -> Iterator[None]:
    """Run the block with all global RNGs seeded by ``seed``; restore the previous states after.

    CPU generators only (data loading runs on the CPU); the caller's random streams are left
    exactly where they were.
    """
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
