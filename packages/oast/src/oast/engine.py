"""One iteration of each OAST training phase, in the order of the release (spec §3).

* :func:`phase_ab_iteration` — phases A/B: supervised BCE+IoU on a labeled batch plus the
  adversarial term that makes D_A call the unlabeled batch's feature map "labeled"; then D_A
  learns labeled = 1, unlabeled = 0. D_A is called three times, always in train mode (the first
  call, for the generator, with its parameters frozen; it still updates D_A's BN statistics).
* :func:`teacher_pseudo_logits` / :func:`phase_c_iteration` — phase C: four teacher views whose
  logits are averaged, the student trained on σ(average) plus D_C's adversarial term, D_C
  trained teacher = 1 / student = 0, then the EMA of the parameters.

The functions take the (possibly DDP-wrapped) networks, a ``backward`` callable (Accelerate's
``accelerator.backward`` or ``Tensor.backward``) and optional optimizers, so the parity tests run
them on the fixtures exactly as the entry points run them on data.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oast.model.losses import (
    ab_adversarial_loss,
    c_adversarial_loss,
    iou_metric,
    online_seg_loss,
    seg_loss,
)
from oast.model.network import SIZE_MULTIPLE, check_input_size

__all__ = [
    "RATES",
    "Backward",
    "unwrap",
    "set_requires_grad",
    "phase_ab_iteration",
    "rescaled_size",
    "teacher_views",
    "teacher_pseudo_logits",
    "phase_c_iteration",
    "draw_rate",
]

RATES = (0.5, 0.75, 1.25, 1.5)

Backward = Callable[[torch.Tensor], None]


def _plain_backward(loss: torch.Tensor) -> None:
    loss.backward()


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper."""
    while isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        module = module.module
    return module


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


# ---------------------------------------------------------------------------------------------
# phases A and B


def phase_ab_iteration(
    model: nn.Module,
    disc: nn.Module,
    labeled: Mapping[str, torch.Tensor],
    unlabeled: Mapping[str, torch.Tensor] | None,
    *,
    adversarial: bool = True,
    lambda_adv: float = 1e-4,
    double_sigmoid: bool = True,
    backward: Backward = _plain_backward,
    opt_g: torch.optim.Optimizer | None = None,
    opt_d: torch.optim.Optimizer | None = None,
    keep: bool = False,
) -> dict:
    """One phase-A/B iteration; returns the losses (floats) and, with ``keep``, the tensors.

    ``labeled`` holds ``image``, ``flow``, ``mask`` (B×3×H×W, B×3×H×W, B×1×H×W); ``unlabeled``
    ``image`` and ``flow``. Without ``adversarial`` (epochs before ``start_adv``) only the
    supervised loss is used and D_A is not touched. With optimizers, the gradients are zeroed
    first and each network is stepped after its backward; without them only the backwards run.
    """
    disc_plain = unwrap(disc)
    if opt_g is not None:
        opt_g.zero_grad(set_to_none=True)
    logits_l, fmap_l = model(labeled["image"], labeled["flow"])
    seg = seg_loss(logits_l, labeled["mask"])
    out: dict = {"seg": seg.detach()}
    if not adversarial:
        backward(seg)
        if opt_g is not None:
            opt_g.step()
        out["g_total"] = seg.detach()
        if keep:
            out.update(logits_labeled=logits_l.detach(), feature_map_labeled=fmap_l.detach())
        return _floats(out, keep)
    if unlabeled is None:
        raise ValueError("the adversarial branch needs an unlabeled batch")
    _, fmap_u = model(unlabeled["image"], unlabeled["flow"])

    # generator: D_A frozen (called directly, outside any DDP wrapper: no gradient to sync)
    set_requires_grad(disc_plain, False)
    p_u_g = disc_plain(fmap_u)
    adv_g = ab_adversarial_loss(p_u_g, True, double_sigmoid)
    g_total = seg + lambda_adv * adv_g
    backward(g_total)
    if opt_g is not None:
        opt_g.step()
    set_requires_grad(disc_plain, True)

    # discriminator
    if opt_d is not None:
        opt_d.zero_grad(set_to_none=True)
    p_l = disc(fmap_l.detach())
    d_real = ab_adversarial_loss(p_l, True, double_sigmoid)
    p_u = disc(fmap_u.detach())
    d_fake = ab_adversarial_loss(p_u, False, double_sigmoid)
    d_total = 0.5 * lambda_adv * (d_real + d_fake)
    backward(d_total)
    if opt_d is not None:
        opt_d.step()
    out.update(
        adv_g=adv_g.detach(),
        g_total=g_total.detach(),
        d_real=d_real.detach(),
        d_fake=d_fake.detach(),
        d_total=d_total.detach(),
    )
    if keep:
        out.update(
            logits_labeled=logits_l.detach(),
            feature_map_labeled=fmap_l.detach(),
            feature_map_unlabeled=fmap_u.detach(),
            D_A_call1_unlabeled=p_u_g.detach(),
            D_A_call2_labeled=p_l.detach(),
            D_A_call3_unlabeled=p_u.detach(),
        )
    return _floats(out, keep)


def _floats(out: dict, keep: bool) -> dict:
    """Scalar losses as floats (the tensors stay available under ``tensors`` with ``keep``)."""
    result = {k: float(v) for k, v in out.items() if torch.is_tensor(v) and v.dim() == 0}
    if keep:
        result["tensors"] = out
    return result


# ---------------------------------------------------------------------------------------------
# phase C


def rescaled_size(height: int, width: int, rate: float) -> tuple[int, int]:
    """``(round(H·r/64)·64, round(W·r/64)·64)`` with Python's round-half-to-even (the release's
    rule); refuses a rate that rounds a side to 0 (the release crashes inside the resize)."""
    h = round(height * rate / SIZE_MULTIPLE) * SIZE_MULTIPLE
    w = round(width * rate / SIZE_MULTIPLE) * SIZE_MULTIPLE
    if h == 0 or w == 0:
        raise ValueError(
            f"phase-C rescale rate {rate} turns the {height}x{width} input into "
            f"{h}x{w}; use a larger image size or drop this rate (data.rates)"
        )
    return h, w


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


@torch.no_grad()
def teacher_views(
    teacher: nn.Module, image: torch.Tensor, flow: torch.Tensor, image_c: torch.Tensor, rate: float
) -> dict[str, torch.Tensor]:
    """The four teacher logit maps: ``plain``, ``flip`` (image and flow picture mirrored, output
    mirrored back), ``colour`` (jittered image, original flow) and ``rescaled`` (inputs resized
    bilinearly with align_corners to :func:`rescaled_size`, output resized back)."""
    height, width = image.shape[-2:]
    check_input_size(height, width)
    plain = teacher(image, flow)[0]
    flip = teacher(image.flip(-1), flow.flip(-1))[0].flip(-1)
    colour = teacher(image_c, flow)[0]
    size = rescaled_size(height, width, rate)
    scaled = teacher(_resize(image, size), _resize(flow, size))[0]
    rescaled = _resize(scaled, (height, width))
    return {"plain": plain, "flip": flip, "colour": colour, "rescaled": rescaled}


@torch.no_grad()
def teacher_pseudo_logits(
    teacher: nn.Module, image: torch.Tensor, flow: torch.Tensor, image_c: torch.Tensor, rate: float
) -> torch.Tensor:
    """Mean of the four teacher logit maps (logit averaging; the soft target is its sigmoid)."""
    v = teacher_views(teacher, image, flow, image_c, rate)
    return (v["plain"] + v["flip"] + v["colour"] + v["rescaled"]) / 4


def draw_rate(rates: Sequence[float], rng: random.Random | None = None) -> float:
    """One rate drawn uniformly (Python ``random``, once per batch, as the release)."""
    return (rng or random).choice(list(rates))


def phase_c_iteration(
    student: nn.Module,
    teacher: nn.Module,
    disc: nn.Module,
    batch: Mapping[str, torch.Tensor],
    rate: float,
    *,
    lambda_adv: float = 1e-4,
    backward: Backward = _plain_backward,
    opt_g: torch.optim.Optimizer | None = None,
    opt_d: torch.optim.Optimizer | None = None,
    ema_update: Callable[[], None] | None = None,
    keep: bool = False,
) -> dict:
    """One phase-C iteration (student and teacher in eval mode, D_C in train mode).

    ``batch`` holds ``image``, ``flow``, ``image_c`` (colour-jittered copy) and optionally
    ``mask`` (ground truth, used only for the IoU metrics). Order: teacher views → student
    forward → zero both optimizers → D_C frozen, backward L_G, step G → backward L_D, step D →
    ``ema_update()``.
    """
    disc_plain = unwrap(disc)
    pseudo = teacher_pseudo_logits(teacher, batch["image"], batch["flow"], batch["image_c"], rate)
    z_s = student(batch["image"], batch["flow"])[0]
    seg = online_seg_loss(z_s, pseudo)
    if opt_g is not None:
        opt_g.zero_grad(set_to_none=True)
    if opt_d is not None:
        opt_d.zero_grad(set_to_none=True)

    set_requires_grad(disc_plain, False)
    q_s_g = disc_plain(z_s)
    adv_g = c_adversarial_loss(q_s_g, True)
    g_total = seg + lambda_adv * adv_g
    backward(g_total)
    if opt_g is not None:
        opt_g.step()
    set_requires_grad(disc_plain, True)

    q_t = disc(pseudo.detach())
    d_real = c_adversarial_loss(q_t, True)
    q_s = disc(z_s.detach())
    d_fake = c_adversarial_loss(q_s, False)
    d_total = 0.5 * lambda_adv * (d_real + d_fake)
    backward(d_total)
    if opt_d is not None:
        opt_d.step()
    if ema_update is not None:
        ema_update()

    out: dict = {
        "seg": seg.detach(),
        "adv_g": adv_g.detach(),
        "g_total": g_total.detach(),
        "d_real": d_real.detach(),
        "d_fake": d_fake.detach(),
        "d_total": d_total.detach(),
    }
    result = _floats(out, False)
    if "mask" in batch:
        with torch.no_grad():
            result["student_iou"] = iou_metric((torch.sigmoid(z_s) >= 0.5).float(), batch["mask"])
            result["teacher_iou"] = iou_metric(
                (torch.sigmoid(pseudo) >= 0.5).float(), batch["mask"]
            )
    if keep:
        out.update(
            student_logits=z_s.detach(),
            pseudo_logits=pseudo,
            D_C_call1_student=q_s_g.detach(),
            D_C_call2_pseudo=q_t.detach(),
            D_C_call3_student=q_s.detach(),
        )
        result["tensors"] = out
    return result
