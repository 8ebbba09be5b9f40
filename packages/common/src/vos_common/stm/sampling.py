"""STM-style training samplers: three frames with a bounded jump, the max-skip curriculum, and
the choice of target / second object.

These follow the MiVOS / STCN training code (spec ``mivos_prop.md`` section 3.5, 4.3):

* :func:`sample_three_frames`: for a video of ``n >= 3`` frames and ``J = min(n, max_jump)``,
  ``s ~ U{0..n-J}``, ``f1 = min(s + U{0..J} + 1, n - J, n - 1)``,
  ``f2 = min(f1 + U{0..J} + 1, n - J//2, n - 1)``, reversed with probability 0.5. Gaps can reach
  ``J + 1``; for ``n <= J``, ``f1`` collapses onto ``s``.
* :class:`SkipCurriculum`: the maximum jump grows at fixed fractions of the run's epochs and
  returns to the start value for the last phase (MiVOS: 5 -> 10 -> 15 -> 20 -> 25 -> 5 at
  0.1/0.2/0.3/0.4/0.8 (BL30K) or 0.9 (DAVIS + YouTube-VOS) of the epochs). Changes happen only
  at epoch boundaries. YouTube-VOS divides the value by 5 (its training frames are every 5th
  frame of the video).
* :func:`choose_objects`: the target is drawn uniformly among the ids of the first sampled frame
  (optionally filtered, e.g. by size for BL30K), and a second object among the rest if any.

Every draw uses a ``numpy.random.Generator`` (or the legacy global NumPy RNG when ``rng`` is
``None``, which ``vos_common.training`` seeds per sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SkipCurriculum", "bl30k_object_filter", "choose_objects", "sample_three_frames"]


def _randint(rng, high: int) -> int:
    """Uniform integer in ``[0, high)``."""
    if rng is None:
        return int(np.random.randint(high))
    return int(rng.integers(high))


def _rand(rng) -> float:
    return float(np.random.rand()) if rng is None else float(rng.random())


def sample_three_frames(n: int, max_jump: int, rng: np.random.Generator | None = None) -> list[int]:
    """Three frame indices of a video of ``n >= 3`` frames (module doc)."""
    if n < 3:
        raise ValueError(f"a training video needs at least 3 frames, got {n}")
    jump = min(n, max(1, max_jump))
    start = _randint(rng, n - jump + 1)
    f1 = min(start + _randint(rng, jump + 1) + 1, n - jump, n - 1)
    f2 = min(f1 + _randint(rng, jump + 1) + 1, n - jump // 2, n - 1)
    order = [start, f1, f2]
    if _rand(rng) < 0.5:
        order = order[::-1]
    return order


@dataclass
class SkipCurriculum:
    """Maximum jump as a function of the epoch (module doc).

    ``values[0]`` is used from epoch 0; ``values[i]`` from epoch ``round(total_epochs *
    fractions[i-1])`` on.
    """

    total_epochs: int
    values: Sequence[int] = (5, 10, 15, 20, 25, 5)
    fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.9)
    switch_epochs: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.values) != len(self.fractions) + 1:
            raise ValueError("values must have one entry more than fractions")
        self.switch_epochs = [round(self.total_epochs * f) for f in self.fractions]

    @classmethod
    def for_iterations(cls, iterations: int, steps_per_epoch: int, **kwargs) -> SkipCurriculum:
        """``E = ceil(iterations / steps_per_epoch)`` epochs, as the reference computes them."""
        return cls(math.ceil(iterations / max(1, steps_per_epoch)), **kwargs)

    def max_skip(self, epoch: int) -> int:
        value = self.values[0]
        for switch, nxt in zip(self.switch_epochs, self.values[1:], strict=True):
            if epoch >= switch:
                value = nxt
        return value


def bl30k_object_filter(masks: Sequence[np.ndarray], label: int) -> bool:
    """BL30K's rule: > 100 px in the first frame and (> 900 px there, or < 400 px in both others)."""
    first = int((masks[0] == label).sum())
    if first <= 10 * 10:
        return False
    if first > 30 * 30:
        return True
    return max(int((masks[1] == label).sum()), int((masks[2] == label).sum())) < 20 * 20


def choose_objects(
    masks: Sequence[np.ndarray], rng: np.random.Generator | None = None, keep=None
) -> tuple[int | None, int | None]:
    """``(target, second)`` ids from the first frame's labels (``None`` when absent).

    ``keep(masks, label) -> bool`` filters the candidates (e.g. :func:`bl30k_object_filter`).
    """
    labels = [int(v) for v in np.unique(masks[0]) if v != 0]
    if keep is not None:
        labels = [label for label in labels if keep(masks, label)]
    if not labels:
        return None, None
    target = labels[_randint(rng, len(labels))]
    rest = [label for label in labels if label != target]
    second = rest[_randint(rng, len(rest))] if rest else None
    return target, second
