"""Padding frames and masks to a multiple of the network stride, and undoing it.

STM-family networks (MiVOS propagation, STCN, RDE) work on a stride-16 grid, so every input is
padded to the next multiple of 16. The convention shared by these methods:

* the padding is added to the *normalised* image (ImageNet mean/std already applied), with
  zeros, so the padded border has the mean colour;
* along each axis the smaller half, ``floor(d / 2)``, goes on the top / left and the rest,
  ``d - floor(d / 2)``, on the bottom / right;
* the pad is reported as ``(left, right, top, bottom)``, the order ``torch.nn.functional.pad``
  takes for the last two dimensions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Pad = tuple[int, int, int, int]


def padded_size(height: int, width: int, divisor: int = 16) -> tuple[int, int]:
    """``(H', W')``: the size rounded up to a multiple of ``divisor``."""
    return -(-height // divisor) * divisor, -(-width // divisor) * divisor


def pad_amounts(height: int, width: int, divisor: int = 16) -> Pad:
    """The ``(left, right, top, bottom)`` padding of an ``height x width`` input."""
    new_h, new_w = padded_size(height, width, divisor)
    dh, dw = new_h - height, new_w - width
    return dw // 2, dw - dw // 2, dh // 2, dh - dh // 2


def pad_divide_by(
    x: torch.Tensor, divisor: int = 16, value: float = 0.0
) -> tuple[torch.Tensor, Pad]:
    """Pad the last two dimensions of ``x`` up to multiples of ``divisor`` with ``value``.

    Returns the padded tensor and the pad ``(left, right, top, bottom)``. Any number of
    leading dimensions is accepted (``(3, H, W)``, ``(T, 3, H, W)``, ``(K, T, 1, H, W)``...).
    """
    pad = pad_amounts(x.shape[-2], x.shape[-1], divisor)
    if not any(pad):
        return x, pad
    if x.dim() < 3:
        return F.pad(x[None], pad, value=value)[0], pad
    return F.pad(x, pad, value=value), pad


def unpad(x: torch.Tensor, pad: Pad) -> torch.Tensor:
    """Remove a padding ``(left, right, top, bottom)`` from the last two dimensions of ``x``."""
    left, right, top, bottom = pad
    height, width = x.shape[-2], x.shape[-1]
    return x[..., top : height - bottom, left : width - right]
