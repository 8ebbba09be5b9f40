"""Optical flow for a user's own video when none was pre-computed.

Estimators share one interface, ``estimator(frame_a, frame_b) -> (H, W, 2) float32`` flow
from ``frame_a`` to ``frame_b`` (u = +x, v = +y, pixels), on RGB uint8 ``(H, W, 3)`` frames:

* :class:`DISFlowEstimator` -- OpenCV's DIS, the offline default (no weights, CPU);
* :class:`RaftFlowEstimator` -- torchvision's RAFT with a checkpoint file given by the user
  (torchvision or original princeton-vl format; nothing is downloaded; torch imported lazily).

:func:`write_sequence_flows` computes a sequence's forward/backward flows for chosen gaps and
writes them in the RCF, OAST or ``.flo`` layout (see :mod:`vos_common.flow.compute`);
:func:`iter_sequence_flows` yields them in memory. CLI: ``python -m vos_common.flow --help``.
"""

from __future__ import annotations

import os

from vos_common.errors import VOSDataError
from vos_common.flow.base import FlowEstimator, end_point_error
from vos_common.flow.compute import (
    DIRECTIONS,
    LAYOUTS,
    FlowJob,
    FlowRunSummary,
    iter_sequence_flows,
    plan_flow_jobs,
    write_flow_output,
    write_sequence_flows,
)
from vos_common.flow.dis_flow import (
    DEFAULT_DIS_SETTINGS,
    DIS_PRESETS,
    DISFlowEstimator,
    DISSettings,
)
from vos_common.flow.frames import FrameReader
from vos_common.flow.raft import (
    DEFAULT_NUM_FLOW_UPDATES,
    RAFT_VARIANTS,
    RaftFlowEstimator,
    convert_princeton_state_dict,
    load_raft_state_dict,
)

METHODS = ("dis",) + RAFT_VARIANTS


def make_estimator(
    method: str = "dis",
    checkpoint: str | os.PathLike | None = None,
    device: str = "cpu",
    num_flow_updates: int = DEFAULT_NUM_FLOW_UPDATES,
    dis_settings: DISSettings = DEFAULT_DIS_SETTINGS,
) -> FlowEstimator:
    """Build the estimator for ``method`` (``"dis"``, ``"raft_small"``, ``"raft_large"``).

    RAFT needs ``checkpoint`` (there are no built-in weights); DIS ignores it.
    """
    if method == "dis":
        return DISFlowEstimator(dis_settings)
    if method in RAFT_VARIANTS:
        if checkpoint is None:
            raise VOSDataError(
                None,
                f"--method {method} needs --checkpoint: a RAFT weights file "
                "(torchvision state_dict or original raft-*.pth); none is downloaded",
            )
        return RaftFlowEstimator(
            checkpoint, method, device=device, num_flow_updates=num_flow_updates
        )
    raise ValueError(f"unknown flow method {method!r}; choose from {METHODS}")


__all__ = [
    "DEFAULT_DIS_SETTINGS",
    "DEFAULT_NUM_FLOW_UPDATES",
    "DIRECTIONS",
    "DIS_PRESETS",
    "LAYOUTS",
    "METHODS",
    "RAFT_VARIANTS",
    "DISFlowEstimator",
    "DISSettings",
    "FlowEstimator",
    "FlowJob",
    "FlowRunSummary",
    "FrameReader",
    "RaftFlowEstimator",
    "convert_princeton_state_dict",
    "end_point_error",
    "iter_sequence_flows",
    "load_raft_state_dict",
    "make_estimator",
    "plan_flow_jobs",
    "write_flow_output",
    "write_sequence_flows",
]
