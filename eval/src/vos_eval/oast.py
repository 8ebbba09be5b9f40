"""OAST's training-time IoU (``metrics/compute_iou.py``, evaluation.md 2.10), for monitoring only.

Both inputs are binarised with ``> 0.5`` (so probability maps, 0/1 and 0/255 masks all
work), J = |A and B| / |A or B| with a float32 denominator, and 1 when both are empty. The
batch value is the mean of the per-sample J; a run's value is the mean of its batch values
(frame-weighted when batches are equal). OAST computes it at the network resolution
(384 x 640), so it is a training monitor, not a benchmark number: OAST's reported results
come from the DAVIS 2016 protocol (:func:`vos_eval.davis2016.evaluate_davis2016`).
"""

from __future__ import annotations

import numpy as np

DESCRIPTION = (
    "OAST training-time IoU (monitoring only, not comparable to benchmark numbers): inputs "
    "binarised "
    "with > 0.5, J = intersection / union (float32 union), 1 when both are empty; mean over the "
    "batch, "
    "then mean of the batch means."
)


def oast_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of one sample, ``(H, W)`` arrays of any numeric type."""
    pred, gt = np.asarray(pred) > 0.5, np.asarray(gt) > 0.5
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    union = float(np.float32(np.count_nonzero(pred | gt)))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & gt)) / union


def oast_batch_iou(preds: np.ndarray, gts: np.ndarray) -> float:
    """Mean of :func:`oast_iou` over a batch ``(B, H, W)`` (a channel axis of 1 is dropped)."""
    preds, gts = np.asarray(preds), np.asarray(gts)
    if preds.ndim == 4:
        preds, gts = preds[:, 0], gts[:, 0]
    return float(np.mean([oast_iou(p, g) for p, g in zip(preds, gts, strict=True)]))


class OASTIoUMeter:
    """Running OAST IoU over a training or fine-tuning loop: mean of the batch means."""

    def __init__(self) -> None:
        self.batch_values: list[float] = []

    def update(self, preds: np.ndarray, gts: np.ndarray) -> float:
        """Add one batch ``(B, H, W)``; returns its batch IoU."""
        value = oast_batch_iou(preds, gts)
        self.batch_values.append(value)
        return value

    @property
    def value(self) -> float:
        """Mean of the batch IoUs so far (NaN before the first batch)."""
        return float(np.mean(self.batch_values)) if self.batch_values else float("nan")
