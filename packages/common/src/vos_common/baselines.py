"""Trivial baselines that set the floor of the evaluation matrix, in one place.

* **Copy the first frame** (semi-supervised): every frame's prediction is the first annotated
  mask (:func:`copy_first_frame`); with annotations given on later frames too (YouTube-VOS,
  where objects start late), each frame shows the latest mask given so far for every object
  (:func:`carry_annotations_forward`).
* **Flow-magnitude threshold** (unsupervised): a pixel is foreground when the magnitude of
  its optical flow is *strictly above the mean magnitude of its frame*
  (:func:`flow_magnitude_mask`). Non-finite flow values (the synthetic benchmark's NaN where a
  target frame does not exist) are ignored for the mean and are background. A frame whose
  flow is constant has no pixel above the mean, hence an empty mask. For frame ``t`` the flow
  is the forward flow ``t -> t+1``; the last frame, which has none, uses the backward flow
  ``t -> t-1`` (:func:`sequence_flow_masks`), which describes the same motion.

NumPy only; flows come from the files written by :mod:`vos_common.synth` /
:mod:`vos_common.flow` (read by :mod:`vos_common.datasets`) or from any flow estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

FLOW_RULE = "flow magnitude strictly above the frame's mean magnitude (non-finite flow ignored)"


def copy_first_frame(first_mask: np.ndarray, length: int) -> Iterator[np.ndarray]:
    """Yield ``first_mask`` (any dtype, ``(H, W)``) ``length`` times, as independent copies."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    mask = np.asarray(first_mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    for _ in range(length):
        yield mask.copy()


def carry_annotations_forward(
    annotations: Mapping[int, np.ndarray], length: int
) -> Iterator[np.ndarray]:
    """Yield ``length`` label maps: each frame shows, for every object, its latest given mask.

    ``annotations`` maps a frame index to an ``(H, W)`` label map holding the objects
    annotated on that frame (0 = nothing). Frames before the first annotation are empty.
    An object given again later replaces its earlier mask; other objects' pixels stay.
    """
    if not annotations:
        raise ValueError("no annotation given")
    shapes = {np.asarray(mask).shape for mask in annotations.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"annotations must be (H, W) maps of one size, got {sorted(shapes)}")
    current = np.zeros(next(iter(shapes)), dtype=np.asarray(next(iter(annotations.values()))).dtype)
    for t in range(length):
        given = annotations.get(t)
        if given is not None:
            given = np.asarray(given)
            for obj in np.unique(given[given > 0]):
                current[current == obj] = 0
            current = np.where(given > 0, given, current)
        yield current.copy()


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """Per-pixel magnitude ``(H, W)`` float64 of an ``(H, W, 2)`` flow (NaN stays NaN)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"expected an (H, W, 2) flow, got shape {flow.shape}")
    return np.hypot(flow[..., 0], flow[..., 1])


def flow_magnitude_mask(flow: np.ndarray) -> np.ndarray:
    """Foreground ``(H, W)`` bool: flow magnitude strictly above the frame's mean magnitude.

    Non-finite values are ignored for the mean and never foreground; a frame with no finite
    value gives an empty mask.
    """
    magnitude = flow_magnitude(flow)
    finite = np.isfinite(magnitude)
    if not finite.any():
        return np.zeros(magnitude.shape, dtype=bool)
    threshold = magnitude[finite].mean()
    return finite & (magnitude > threshold)


def sequence_flow_masks(
    length: int,
    forward: Callable[[int], np.ndarray | None],
    backward: Callable[[int], np.ndarray | None],
) -> Iterator[np.ndarray]:
    """Yield the flow-threshold mask of frames ``0 .. length-1``.

    ``forward(t)`` returns the flow ``t -> t+1`` (or None where there is none) and
    ``backward(t)`` the flow ``t -> t-1``; the forward flow is used when it exists, else the
    backward one. A frame with neither (a one-frame video) raises ``ValueError``.
    """
    for t in range(length):
        flow = forward(t) if t + 1 < length else None
        if flow is None:
            flow = backward(t) if t > 0 else None
        if flow is None:
            raise ValueError(f"frame {t}: no forward or backward flow to threshold")
        yield flow_magnitude_mask(flow)


__all__ = [
    "FLOW_RULE",
    "carry_annotations_forward",
    "copy_first_frame",
    "flow_magnitude",
    "flow_magnitude_mask",
    "sequence_flow_masks",
]
