"""RCF's loss terms on slot probabilities ``[B, I, C, h, w]`` (softmax over C).

Released behaviour is the default; the corrections are opt-in switches of :class:`RCFModel`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def entropy_loss(probs: torch.Tensor, corrected: bool = False) -> torch.Tensor:
    """Mean over pixels of ``-sum_c p_c log q_c``.

    Released (``corrected=False``, issue #4): ``q = softmax(p)``, i.e. log-softmax applied to
    probabilities, between about 0.74 (one-hot) and log C (uniform) for C = 4. Corrected:
    ``q = p`` (the Shannon entropy, clamped away from log 0).
    """
    if corrected:
        return -(probs * probs.clamp_min(1e-12).log()).sum(dim=2).mean()
    return -(probs * F.log_softmax(probs, dim=2)).sum(dim=2).mean()


def asymmetric_squared_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    object_channel: int,
    pos_weight: float,
    neg_weight: float,
    threshold: float = -1.0,
) -> torch.Tensor:
    """``pos * mean(relu(t - p)^2) + neg * mean(relu(p - t)^2)`` on slot ``object_channel``.

    ``target [B, I, h, w]`` in [0, 1]; ``threshold != -1`` binarises it first (``t > threshold``):
    pseudo-labels use 0.35, CRF targets -1 (kept soft).
    """
    if threshold != -1:
        target = (target > threshold).float()
    p = probs[:, :, object_channel]
    diff = target - p
    positive = torch.clamp(diff, min=0) ** 2
    negative = torch.clamp(diff, max=0) ** 2
    return positive.mean() * pos_weight + negative.mean() * neg_weight


def compactness_loss(probs: torch.Tensor, channel: int) -> torch.Tensor:
    """GWM-style compactness of one slot: mean of ``m(x) * |(y/h, x/w) - centroid|^2``."""
    mask = probs.flatten(0, 1)[:, channel]
    _, h, w = mask.shape
    count = mask.sum(dim=(1, 2), keepdim=True)
    ys = torch.arange(h, dtype=mask.dtype, device=mask.device)[None, :, None] / h
    xs = torch.arange(w, dtype=mask.dtype, device=mask.device)[None, None, :] / w
    cy = (ys * mask).sum(dim=(1, 2), keepdim=True) / count
    cx = (xs * mask).sum(dim=(1, 2), keepdim=True) / count
    error = (ys - cy) ** 2 + (xs - cx) ** 2
    return (error * mask).mean()
