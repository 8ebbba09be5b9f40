"""Read a sequence's frames, masks and flows in order, decoding ahead on a thread pool.

PNG/JPEG decoding (Pillow) and ``.npy`` reads release the GIL, so a few threads overlap the
decoding of the next frames with whatever the caller does with the current one, and with
each other. Order is preserved and at most ``prefetch`` samples are held in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vos_common.datasets.base import VideoSequence


@dataclass
class FrameSample:
    """One frame of a sequence with what was asked for.

    Attributes:
        index: frame index in the sequence.
        name: frame stem.
        frame: RGB uint8 ``(H, W, 3)``.
        mask: object ids ``(H, W)`` uint8, or ``None`` when the frame is not annotated.
        flows: ``(direction, gap)`` -> ``(H, W, 2)`` float32, for the flows that exist.
    """

    index: int
    name: str
    frame: np.ndarray
    mask: np.ndarray | None = None
    flows: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)


def _load(sequence: VideoSequence, index: int, masks: bool,
          flows: Sequence[tuple[str, int]]) -> FrameSample:
    sample = FrameSample(index, sequence.frame_paths[index].stem, sequence.read_frame(index))
    if masks and sequence.has_mask(index):
        sample.mask = sequence.read_mask(index)
    for direction, gap in flows:
        if sequence.has_flow(index, gap, direction):
            sample.flows[(direction, gap)] = sequence.read_flow(index, gap, direction)
    return sample


def iter_samples(sequence: VideoSequence, masks: bool = True,
                 flows: Sequence[tuple[str, int]] = (), workers: int = 4,
                 prefetch: int = 8, indices: Sequence[int] | None = None) -> Iterator[FrameSample]:
    """Yield :class:`FrameSample` for every frame (or ``indices``) in order.

    ``workers=0`` reads serially in the calling thread (no pool).
    """
    order = list(range(len(sequence))) if indices is None else list(indices)
    if workers <= 0:
        for index in order:
            yield _load(sequence, index, masks, flows)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vos-load") as pool:
        pending: deque[Future] = deque()
        position = 0
        while position < len(order) or pending:
            while position < len(order) and len(pending) < max(1, prefetch):
                pending.append(pool.submit(_load, sequence, order[position], masks, flows))
                position += 1
            yield pending.popleft().result()
