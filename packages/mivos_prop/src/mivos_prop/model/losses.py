"""Bootstrapped cross-entropy of MiVOS propagation training, and the three-frame forward pass.

The loss of predicted frame ``i`` (1 and 2) is computed **per sample** on the aggregated
log-odds: 3-way (background, target, second object) when the sample has a second object
(``selector[j, 1] = 1``), else 2-way over the first two channels. For ``it < start_warm`` it is
the mean cross-entropy over all pixels; afterwards the mean over the ``floor(p * H * W)``
hardest pixels of that sample, where the kept fraction ``p`` falls linearly from 1 to ``top_p``
between ``start_warm`` and ``end_warm``. ``loss_i`` averages over the batch and
``total_loss = loss_1 + loss_2``. ``it`` counts the iterations of the current stage (each stage
starts again at 0, so the warm-up repeats).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "BootstrappedCE",
    "LossConfig",
    "compute_losses",
    "forward_three_frames",
    "kept_fraction",
]


@dataclass
class LossConfig:
    """Warm-up of the kept fraction (the reference's ``start_warm``/``end_warm``/``top_p``)."""

    start_warm: int = 20000
    end_warm: int = 70000
    top_p: float = 0.15


def kept_fraction(it: int, cfg: LossConfig | None = None) -> float:
    """``p(it)``: 1 before ``start_warm``, linear to ``top_p`` at ``end_warm``, then ``top_p``."""
    cfg = LossConfig() if cfg is None else cfg
    if it < cfg.start_warm:
        return 1.0
    if it > cfg.end_warm:
        return cfg.top_p
    return cfg.top_p + (1 - cfg.top_p) * ((cfg.end_warm - it) / (cfg.end_warm - cfg.start_warm))


class BootstrappedCE:
    """Cross-entropy over the hardest ``floor(p * N)`` pixels of one sample (module doc)."""

    def __init__(self, cfg: LossConfig | None = None):
        self.cfg = LossConfig() if cfg is None else cfg

    def __call__(
        self, logits: torch.Tensor, target: torch.Tensor, it: int
    ) -> tuple[torch.Tensor, float]:
        if it < self.cfg.start_warm:
            return F.cross_entropy(logits, target), 1.0
        raw = F.cross_entropy(logits, target, reduction="none").view(-1)
        p = kept_fraction(it, self.cfg)
        kept, _ = torch.topk(raw, int(raw.numel() * p), sorted=False)
        return kept.mean(), p


def compute_losses(
    out: dict, cls_gt: torch.Tensor, selector: torch.Tensor | None, it: int, loss: BootstrappedCE
) -> dict:
    """``loss_1``, ``loss_2``, ``total_loss`` and ``p`` for the outputs of :func:`forward_three_frames`."""
    b = cls_gt.shape[0]
    losses: dict = {"total_loss": 0.0}
    for i in (1, 2):
        term = 0.0
        for j in range(b):
            logits = out[f"logits_{i}"][j : j + 1]
            if selector is None or selector[j, 1] <= 0.5:
                logits = logits[:, :2]
            value, p = loss(logits, cls_gt[j : j + 1, i], it)
            term = term + value / b
            losses["p"] = p
        losses[f"loss_{i}"] = term
        losses["total_loss"] = losses["total_loss"] + term
    return losses


def forward_three_frames(
    net,
    rgb: torch.Tensor,
    gt: torch.Tensor,
    sec_gt: torch.Tensor | None = None,
    selector: torch.Tensor | None = None,
) -> dict:
    """The reference's training pass on ``rgb (B, 3, 3, H, W)`` with frame-0 masks ``gt``.

    Multi-object: frame 0 is memorised twice (slot 1 = target with the second object as
    "others", slot 2 = the reverse), frame 1 is segmented, then memorised with its **predicted
    soft masks (not detached)** in the same slot arrangement, and frame 2 is segmented against
    both. Single-object (``net.single_object``): the same with one slot. Returns ``logits_1``,
    ``logits_2``, ``mask_1``, ``mask_2`` (and ``sec_mask_*`` for MO) and ``memory_keys_frame0``.
    """
    out = {}
    if getattr(net, "module", net).single_object:  # DDP-wrapped or plain
        k0, v0 = net(rgb[:, 0], gt[:, 0])
        logits_1, mask_1 = net(rgb[:, 1], k0, v0)
        k1, v1 = net(rgb[:, 1], mask_1)
        logits_2, mask_2 = net(rgb[:, 2], torch.cat([k0, k1], 2), torch.cat([v0, v1], 2))
        out.update(mask_1=mask_1, mask_2=mask_2, memory_keys_frame0=k0)
    else:
        k_a, v_a = net(rgb[:, 0], gt[:, 0], sec_gt[:, 0])
        k_b, v_b = net(rgb[:, 0], sec_gt[:, 0], gt[:, 0])
        keys, values = torch.stack([k_a, k_b], 1), torch.stack([v_a, v_b], 1)
        logits_1, prob_1 = net(rgb[:, 1], keys, values, selector)
        k_a, v_a = net(rgb[:, 1], prob_1[:, 0:1], prob_1[:, 1:2])
        k_b, v_b = net(rgb[:, 1], prob_1[:, 1:2], prob_1[:, 0:1])
        keys2 = torch.cat([keys, torch.stack([k_a, k_b], 1)], 3)
        values2 = torch.cat([values, torch.stack([v_a, v_b], 1)], 3)
        logits_2, prob_2 = net(rgb[:, 2], keys2, values2, selector)
        out.update(
            mask_1=prob_1[:, 0:1],
            mask_2=prob_2[:, 0:1],
            sec_mask_1=prob_1[:, 1:2],
            sec_mask_2=prob_2[:, 1:2],
            memory_keys_frame0=keys,
        )
    out.update(logits_1=logits_1, logits_2=logits_2)
    return out
