"""OAST's losses (spec §3) and the release's per-frame IoU metric.

* :func:`seg_loss` — BCE-with-logits (mean over B·H·W) + batch mean of ``1 − I/(Σy + Σσ(z) − I)``
  (no epsilon: an empty mask still gives a finite loss because σ(z) > 0); used with hard masks in
  phases A/B and, through :func:`online_seg_loss`, with the soft teacher target σ(z̄) in phase C.
* :func:`ab_adversarial_loss` — the phase-A/B term on D_A's *probabilities*. The release applies
  BCE-with-logits to them (a second sigmoid, spec §7.8): ``double_sigmoid=True`` (default)
  reproduces it, ``False`` is the corrected plain BCE.
* :func:`c_adversarial_loss` — phase C, plain BCE on D_C's per-pixel probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "LAMBDA_ADV",
    "soft_iou_loss",
    "seg_loss",
    "online_seg_loss",
    "ab_adversarial_loss",
    "c_adversarial_loss",
    "iou_metric",
]

LAMBDA_ADV = 1e-4


def _bce(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain BCE in float32 (autocast refuses ``binary_cross_entropy`` in half precision)."""
    with torch.autocast(device_type=prob.device.type, enabled=False):
        return F.binary_cross_entropy(prob.float(), target.float())


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean_b [1 − Σ t·σ(z) / (Σ t + Σ σ(z) − Σ t·σ(z))]`` over C·H·W of each sample."""
    prob = torch.sigmoid(logits)
    dims = tuple(range(1, logits.dim()))
    inter = (target * prob).sum(dim=dims)
    union = target.sum(dim=dims) + prob.sum(dim=dims) - inter
    return (1.0 - inter / union).mean()


def seg_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_seg(z, y) = BCEWithLogits(z, y) + soft IoU loss; ``target`` in [0, 1], same shape."""
    target = target.to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target) + soft_iou_loss(logits, target)


def online_seg_loss(student_logits: torch.Tensor, pseudo_logits: torch.Tensor) -> torch.Tensor:
    """L_seg_on(z_s, z̄): :func:`seg_loss` against the soft target σ(z̄) (z̄ is not differentiated)."""
    return seg_loss(student_logits, torch.sigmoid(pseudo_logits.detach()))


def ab_adversarial_loss(
    prob: torch.Tensor, real: bool, double_sigmoid: bool = True
) -> torch.Tensor:
    """Phase-A/B adversarial BCE of D_A's probabilities against 1 (``real``) or 0.

    ``double_sigmoid=True`` is the released behaviour (BCE-with-logits on a probability);
    ``False`` is plain BCE on the probability (the corrected loss).
    """
    target = torch.full_like(prob, 1.0 if real else 0.0)
    if double_sigmoid:
        return F.binary_cross_entropy_with_logits(prob, target)
    return _bce(prob, target)


def c_adversarial_loss(prob: torch.Tensor, real: bool) -> torch.Tensor:
    """Phase-C adversarial plain BCE of D_C's per-pixel probabilities against 1 or 0."""
    return _bce(prob, torch.full_like(prob, 1.0 if real else 0.0))


@torch.no_grad()
def iou_metric(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """The release's IoU: binarise both with ``> 0.5``, 1 when both are empty, batch mean.

    Same rule as :func:`vos_eval.oast.oast_batch_iou` (which the training loops use for logging).
    """
    pred = (pred > 0.5).reshape(pred.shape[0], -1)
    gt = (gt > 0.5).reshape(gt.shape[0], -1)
    inter = (pred & gt).sum(1).double()
    union = (pred | gt).sum(1).double()
    iou = torch.where(union == 0, torch.ones_like(union), inter / union.clamp_min(1))
    return float(iou.mean())
