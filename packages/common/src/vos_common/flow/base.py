"""The one interface every flow estimator of ``vos_common.flow`` implements, and EPE."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FlowEstimator(ABC):
    """Callable ``estimator(frame_a, frame_b) -> flow``.

    ``frame_a`` and ``frame_b`` are RGB uint8 ``(H, W, 3)`` frames of the same size; the
    result is float32 ``(H, W, 2)``: the displacement (u = +x right, v = +y down, in
    pixels) that carries every pixel of ``frame_a`` to its position in ``frame_b``.
    """

    name = "estimator"

    @abstractmethod
    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` float32 from ``frame_a`` to ``frame_b``."""


def check_frame_pair(frame_a: np.ndarray, frame_b: np.ndarray) -> None:
    """Raise ``ValueError`` unless both frames are RGB uint8 ``(H, W, 3)`` of the same size."""
    for frame in (frame_a, frame_b):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 (H, W, 3) frame, got {frame.shape} {frame.dtype}"
            )
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames differ in size: {frame_a.shape[:2]} vs {frame_b.shape[:2]}")


def end_point_error(flow: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel end-point error ``(H, W)``: Euclidean distance between two ``(H, W, 2)`` flows.

    NaN where the reference is undefined (NaN), so callers can mask with ``np.isfinite``.
    """
    difference = np.asarray(flow, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    return np.sqrt((difference**2).sum(axis=-1))
