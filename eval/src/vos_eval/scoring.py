"""Per-frame scoring of label maps: every mask's box, area and boundary computed once.

A :class:`FrameMasks` wraps one ``(H, W)`` uint8 label map (or one binary mask) and caches,
per object id, the boolean mask, its bounding box, its pixel count and its
:class:`~vos_eval.metrics.MaskBoundary` (whose dilation is itself computed at most once).
Scoring a (prediction id, GT id) pair then costs two box-restricted counts, which is what
makes the unsupervised P x K matching cheap (P + K dilations per frame instead of 2 P K).
"""

from __future__ import annotations

import numpy as np

from vos_eval.metrics import MaskBoundary, boundary_f, j_from_counts, mask_box


class FrameMasks:
    """Lazily computed per-id masks of one frame.

    Args:
        labels: ``(H, W)`` uint8 label map (id per pixel), or ``(H, W)`` bool for a single
            binary mask (then its only id is 1).
        radius: boundary tolerance of this frame in pixels.
    """

    def __init__(self, labels: np.ndarray, radius: float):
        self.labels = labels
        self.radius = radius
        self.shape = labels.shape
        self._binary = labels.dtype == bool
        self._cache: dict[int, tuple[np.ndarray, tuple[int, int, int, int] | None, int]] = {}
        self._boundaries: dict[int, MaskBoundary] = {}

    def _entry(self, object_id: int) -> tuple[np.ndarray, tuple[int, int, int, int] | None, int]:
        entry = self._cache.get(object_id)
        if entry is None:
            if self._binary:
                mask = self.labels if object_id == 1 else np.zeros_like(self.labels)
            else:
                mask = self.labels == object_id
            box = mask_box(mask)
            area = (
                0 if box is None else int(np.count_nonzero(mask[box[0] : box[2], box[1] : box[3]]))
            )
            entry = (mask, box, area)
            self._cache[object_id] = entry
        return entry

    def area(self, object_id: int) -> int:
        """Pixel count of ``object_id``."""
        return self._entry(object_id)[2]

    def boundary(self, object_id: int) -> MaskBoundary:
        """Boundary map of ``object_id`` (cached)."""
        found = self._boundaries.get(object_id)
        if found is None:
            mask, box, area = self._entry(object_id)
            found = MaskBoundary.of(mask, self.radius, box, known_empty=area == 0)
            self._boundaries[object_id] = found
        return found

    def intersection(self, object_id: int, other: FrameMasks, other_id: int) -> int:
        """Pixels that are ``object_id`` here and ``other_id`` in ``other``."""
        mask, box, _ = self._entry(object_id)
        other_mask, other_box, _ = other._entry(other_id)
        if box is None or other_box is None:
            return 0
        top, left = max(box[0], other_box[0]), max(box[1], other_box[1])
        bottom, right = min(box[2], other_box[2]), min(box[3], other_box[3])
        if top >= bottom or left >= right:
            return 0
        return int(
            np.count_nonzero(mask[top:bottom, left:right] & other_mask[top:bottom, left:right])
        )


def score_pair(pred: FrameMasks, pred_id: int, gt: FrameMasks, gt_id: int) -> tuple[float, float]:
    """``(J, F)`` of prediction id ``pred_id`` against GT id ``gt_id`` on one frame."""
    inter = pred.intersection(pred_id, gt, gt_id)
    union = pred.area(pred_id) + gt.area(gt_id) - inter
    return j_from_counts(inter, union), boundary_f(pred.boundary(pred_id), gt.boundary(gt_id))


def score_empty_prediction(gt: FrameMasks, gt_id: int) -> tuple[float, float]:
    """``(J, F)`` of an empty prediction against GT id ``gt_id`` (1 if the GT is empty, else 0)."""
    j = 1.0 if gt.area(gt_id) == 0 else 0.0
    f = 1.0 if gt.boundary(gt_id).count == 0 else 0.0
    return j, f


def score_masks(pred: np.ndarray, gt: np.ndarray, radius: float) -> tuple[float, float]:
    """``(J, F)`` of two ``(H, W)`` bool masks."""
    return score_pair(FrameMasks(pred, radius), 1, FrameMasks(gt, radius), 1)


__all__ = ["FrameMasks", "score_empty_prediction", "score_masks", "score_pair"]
