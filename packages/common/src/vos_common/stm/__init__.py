"""Plumbing shared by the STM-family methods (MiVOS propagation, STCN-based RDE).

* :mod:`~vos_common.stm.padding`: pad to a multiple of 16 in normalised space, and unpad;
* :mod:`~vos_common.stm.aggregate`: log-odds soft aggregation of per-object probabilities;
* :mod:`~vos_common.stm.memory`: per-object memory bank with STM's schedule (annotated frame +
  every ``mem_every``-th frame permanent, previous frame temporary) and a FIFO bound;
* :mod:`~vos_common.stm.sampling`: three-frame training sampler, max-skip curriculum, target /
  second object choice;
* :mod:`~vos_common.stm.pseudo_video`: thin-plate-spline warps for static-image pseudo-videos
  (needs scipy; imported on use);
* :mod:`~vos_common.stm.synthetic`: extra synthetic training videos in a DAVIS-like folder
  pair, for from-scratch tiny runs (imported on use).
"""

from vos_common.stm.aggregate import aggregate_logits, soft_aggregate
from vos_common.stm.memory import MemoryBank, memory_frames_schedule
from vos_common.stm.padding import pad_amounts, pad_divide_by, padded_size, unpad
from vos_common.stm.sampling import (
    SkipCurriculum,
    bl30k_object_filter,
    choose_objects,
    sample_three_frames,
)

__all__ = [
    "MemoryBank",
    "SkipCurriculum",
    "bl30k_object_filter",
    "choose_objects",
    "sample_three_frames",
    "aggregate_logits",
    "memory_frames_schedule",
    "pad_amounts",
    "pad_divide_by",
    "padded_size",
    "soft_aggregate",
    "unpad",
]
