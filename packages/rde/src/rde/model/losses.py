"""RDE-VOS training pass and losses (the original ``model/model.py`` ``do_pass`` + ``losses.py``).

Loss names follow the code, not the paper (the naming trap):

* ``klloss`` (weight ``klloss_weight``) is the paper's **mask-consistency / self-correction**
  term: KL between the first-frame value encoded from the *perturbed* masks and the one encoded
  from the clean masks;
* ``df2_distillation`` / ``df4_distillation`` (weights ``decoder_f2_weight`` /
  ``decoder_f4_weight``) are the paper's **unbiased guidance**: KL between the decoder input
  read from the SAM-compressed bank and the one read from the full STM bank, frames 2 and 4.

Segmentation: bootstrapped cross-entropy per sample (2 or 3 classes by the selector), and the
running total is **halved after every frame**: ``L = L1/16 + L2/8 + L3/4 + L4/2`` (5 frames),
``L1/4 + L2/2`` (3 frames). The KL is ``τ² · mean over every element`` (channels included) of
``q (log q − log p)`` with softmax over channels — PyTorch's ``KLDivLoss`` default ``mean``
reduction written out, neither argument detached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossConfig:
    """The original's loss flags (``util/hyper_para.py`` defaults)."""

    start_warm: int = 20000
    end_warm: int = 70000
    top_p: float = 0.15
    klloss_weight: float = 10.0
    decoder_f2_weight: float = 10.0
    decoder_f4_weight: float = 10.0
    temperature: float = 1.0
    # "halving" (the original): L1/16 + L2/8 + L3/4 + L4/2; "mean": every frame 1/(s-1).
    # A from-scratch aid (tiny config): frame 1, read from the ground-truth memory, is where a
    # random network first learns to read memory at all; halving gives it 1/16 of the loss.
    frame_weights: str = "halving"


def kl_divergence(student: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``τ² · mean(q · (log q − log p))``, p = softmax(student/τ), q = softmax(target/τ) over dim 1.

    The value of ``KLDivLoss(log_softmax(s), softmax(t))`` (mean reduction), with ``log q`` taken
    from ``log_softmax`` instead of the log of the softmax: where ``q`` underflows to 0 (large
    features, e.g. a network trained from scratch) the original's gradient is NaN, this one is 0.
    """
    log_p = F.log_softmax(student / temperature, dim=1)
    log_q = F.log_softmax(target / temperature, dim=1)
    return (log_q.exp() * (log_q - log_p)).mean() * temperature ** 2


def bootstrap_fraction(it: int, cfg: LossConfig) -> float | None:
    """Fraction of pixels kept at iteration ``it`` (None: plain cross-entropy)."""
    if it < cfg.start_warm:
        return None
    if it > cfg.end_warm:
        return cfg.top_p
    return cfg.top_p + (1 - cfg.top_p) * ((cfg.end_warm - it) / (cfg.end_warm - cfg.start_warm))


def bootstrapped_ce(logits: torch.Tensor, target: torch.Tensor, it: int,
                    cfg: LossConfig) -> tuple[torch.Tensor, float]:
    """Cross-entropy, averaged over the hardest ``p`` of the pixels after ``start_warm``."""
    p = bootstrap_fraction(it, cfg)
    if p is None:
        return F.cross_entropy(logits, target), 1.0
    raw = F.cross_entropy(logits, target, reduction="none").view(-1)
    loss, _ = torch.topk(raw, int(raw.numel() * p), sorted=False)
    return loss.mean(), p


def _iu(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (pred & gt).float().sum(), (pred | gt).float().sum()


def segmentation_losses(out: dict, data: dict, it: int, cfg: LossConfig) -> dict:
    """``loss_i``, ``p``, ``total_loss`` (frame-halved), ``hide_iou/*`` pixel counts."""
    gt = data["gt"]
    b, s = gt.shape[:2]
    if cfg.frame_weights not in ("halving", "mean"):
        raise ValueError(f"loss.frame_weights must be halving or mean, got {cfg.frame_weights!r}")
    selector = data.get("selector")
    cls_gt = data["cls_gt"].long()
    losses: dict = {"p": 0.0, "total_loss": 0.0}
    iou = {"hide_iou/i": 0.0, "hide_iou/u": 0.0}
    if selector is not None:
        iou.update({"hide_iou/sec_i": 0.0, "hide_iou/sec_u": 0.0})
    for i in range(1, s):
        frame_loss = 0.0
        for j in range(b):
            logits = out[f"logits_{i}"][j:j + 1]
            if selector is None or selector[j][1] <= 0.5:
                logits = logits[:, :2]
            loss, p = bootstrapped_ce(logits, cls_gt[j:j + 1, i], it, cfg)
            frame_loss = frame_loss + loss / b
            losses["p"] += p / b / (s - 1)
        losses[f"loss_{i}"] = frame_loss
        if cfg.frame_weights == "mean":
            losses["total_loss"] = losses["total_loss"] + frame_loss / (s - 1)
        else:
            losses["total_loss"] = (losses["total_loss"] + frame_loss) / 2
        with torch.no_grad():
            inter, union = _iu(out[f"mask_{i}"] > 0.5, gt[:, i] > 0.5)
            iou["hide_iou/i"] += inter
            iou["hide_iou/u"] += union
            if selector is not None:
                inter, union = _iu(out[f"sec_mask_{i}"] > 0.5, data["sec_gt"][:, i] > 0.5)
                iou["hide_iou/sec_i"] += inter
                iou["hide_iou/sec_u"] += union
    losses.update(iou)
    return losses


def forward_single(net, data: dict) -> tuple[dict, dict]:
    """Stage 0: 3 frames, one object; memory slot 0 from the perturbed mask."""
    frames, masks, pgt = data["rgb"], data["gt"], data["pgt"]
    k16, f16_thin, f16, f8, f4 = net("encode_key", frames)
    ref_v = net("encode_value", frames[:, 0], f16[:, 0], pgt[:, 0])
    clean_v = net("encode_value", frames[:, 0], f16[:, 0], masks[:, 0])
    logits_1, mask_1, _ = net("segment", k16[:, :, 1], f16_thin[:, 1], f8[:, 1], f4[:, 1],
                              k16[:, :, 0:1], ref_v)
    prev_v = net("encode_value", frames[:, 1], f16[:, 1], mask_1)
    values = torch.cat([ref_v, prev_v], 2)
    logits_2, mask_2, _ = net("segment", k16[:, :, 2], f16_thin[:, 2], f8[:, 2], f4[:, 2],
                              k16[:, :, 0:2], values)
    out = {"mask_1": mask_1, "mask_2": mask_2, "logits_1": logits_1, "logits_2": logits_2}
    return out, {"klloss": [(ref_v, clean_v)]}


def _encode_values(net, frame, f16, pairs) -> list[torch.Tensor]:
    """Values ``(B, C, 1, h, w)`` of one frame for several (mask, others) pairs, in one call.

    The pairs are stacked along the batch (the original encodes them one call each; with
    frozen BatchNorm every sample is encoded independently, so only rounding differs).
    """
    n = len(pairs)
    masks = torch.cat([m for m, _ in pairs], 0)
    others = torch.cat([o for _, o in pairs], 0)
    repeat = [n] + [1] * (frame.dim() - 1)
    values = net("encode_value", frame.repeat(repeat), f16.repeat([n] + [1] * (f16.dim() - 1)),
                 masks, others)
    return list(values.chunk(n, 0))


def _values(net, frame, f16, mask):
    """Values of both objects of one frame (each object's "others" is the other object)."""
    v1, v2 = _encode_values(net, frame, f16, [(mask[:, 0:1], mask[:, 1:2]),
                                              (mask[:, 1:2], mask[:, 0:1])])
    return torch.stack([v1, v2], 1)  # B, 2, C, 1, h, w


def forward_multi(net, data: dict) -> tuple[dict, dict]:
    """Stages 1-3: 5 frames, two objects, the STM bank and the SAM-compressed bank."""
    frames, masks, sec = data["rgb"], data["gt"], data["sec_gt"]
    pgt1, pgt2, selector = data["pgt"], data["sec_pgt"], data["selector"]
    k16, f16_thin, f16, f8, f4 = net("encode_key", frames)

    def seg(t, mk, mv):
        return net("segment", k16[:, :, t], f16_thin[:, t], f8[:, t], f4[:, t], mk, mv, selector)

    # first frame: perturbed masks go to memory, clean masks are the KL targets
    ref_v1, ref_v2, clean_v1, clean_v2 = _encode_values(
        net, frames[:, 0], f16[:, 0], [(pgt1[:, 0], pgt2[:, 0]), (pgt2[:, 0], pgt1[:, 0]),
                                       (masks[:, 0], sec[:, 0]), (sec[:, 0], masks[:, 0])])
    values = torch.stack([ref_v1, ref_v2], 1)

    f1_logits, f1_mask, _, _ = seg(1, k16[:, :, 0:1], values)
    values = torch.cat([values, _values(net, frames[:, 1], f16[:, 1], f1_mask)], 3)

    # frame 2: from SAM([F0, F1]) (student, loss) and from the STM bank (target, next values)
    k2, v2 = net("compress", k16[:, :, 0:2], values)
    f2_logits, f2_mask_sam, f2_sam_o1, f2_sam_o2 = seg(2, k2, v2)
    _, f2_mask, f2_stm_o1, f2_stm_o2 = seg(2, k16[:, :, 0:2], values)
    values = torch.cat([values, _values(net, frames[:, 2], f16[:, 2], f2_mask)], 3)

    f3_logits, f3_mask, _, _ = seg(3, k16[:, :, 0:3], values)
    values = torch.cat([values, _values(net, frames[:, 3], f16[:, 3], f3_mask)], 3)

    # frame 4: recurrent SAM over the STM-bank values of frames 2 and 3
    k3, v3 = net("compress", torch.cat([k2, k16[:, :, 2:3]], 2),
                 torch.cat([v2, values[:, :, :, 2:3]], 3))
    k4, v4 = net("compress", torch.cat([k3, k16[:, :, 3:4]], 2),
                 torch.cat([v3, values[:, :, :, 3:4]], 3))
    f4_logits, f4_mask_sam, f4_sam_o1, f4_sam_o2 = seg(4, k4, v4)
    _, _, f4_stm_o1, f4_stm_o2 = seg(4, k16[:, :, 0:4], values)

    out = {}
    for i, mask in ((1, f1_mask), (2, f2_mask_sam), (3, f3_mask), (4, f4_mask_sam)):
        out[f"mask_{i}"] = mask[:, 0:1]
        out[f"sec_mask_{i}"] = mask[:, 1:2]
    for i, logits in ((1, f1_logits), (2, f2_logits), (3, f3_logits), (4, f4_logits)):
        out[f"logits_{i}"] = logits
    pairs = {"klloss": [(ref_v1, clean_v1), (ref_v2, clean_v2)],
             "df2": [(f2_sam_o1, f2_stm_o1), (f2_sam_o2, f2_stm_o2)],
             "df4": [(f4_sam_o1, f4_stm_o1), (f4_sam_o2, f4_stm_o2)]}
    return out, pairs


def compute_losses(out: dict, pairs: dict, data: dict, it: int, cfg: LossConfig) -> dict:
    """Every logged loss (weighted KL terms as logged by the original) and ``total_loss``."""
    losses = segmentation_losses(out, data, it, cfg)

    def kl(name: str, weight: float) -> torch.Tensor:
        if weight == 0:  # not computed: 0 · (a non-finite KL) would still poison the gradients
            return torch.zeros((), device=out["logits_1"].device)
        return sum(kl_divergence(s, t, cfg.temperature) for s, t in pairs[name]) * weight

    losses["klloss_loss"] = kl("klloss", cfg.klloss_weight)
    losses["total_loss"] = losses["total_loss"] + losses["klloss_loss"]
    if "df2" in pairs:
        losses["df2_distillation"] = kl("df2", cfg.decoder_f2_weight)
        losses["df4_distillation"] = kl("df4", cfg.decoder_f4_weight)
        losses["total_loss"] = (losses["total_loss"] + losses["df2_distillation"]
                                + losses["df4_distillation"])
    return losses


def gradient_norms(net: torch.nn.Module, prefixes) -> dict[str, float]:
    """L2 norm of all ``.grad`` tensors under each parameter-name prefix (e.g. ``decoder``).

    Squares are summed per tensor and accumulated in float64. A float32 ``vector_norm`` over
    the concatenated gradients (tens of millions of elements) accumulates sequentially on one
    CPU thread and is off by up to ~0.2 % even though every gradient element is accurate.
    """
    norms = {}
    for prefix in prefixes:
        total = torch.zeros((), dtype=torch.float64)
        for name, param in net.named_parameters():
            if param.grad is not None and name.startswith(prefix + "."):
                total += param.grad.detach().double().pow(2).sum()
        norms[prefix] = total.sqrt().item()
    return norms


def training_pass(net, data: dict, it: int, cfg: LossConfig, single_object: bool):
    """Forward one batch and compute the losses: ``(losses, outputs)``."""
    forward = forward_single if single_object else forward_multi
    out, pairs = forward(net, data)
    return compute_losses(out, pairs, data, it, cfg), out
