"""Inflation of 2-D layers to 3-D over the 2-frame (RGB, flow) clip (spec §2.2).

Every ``Conv2d`` becomes a ``Conv3d`` with kernel ``(3, kh, kw)``, padding ``(1, ph, pw)``,
stride ``(1, s, s)``, dilation ``(1, d, d)`` and the same groups. ``centre`` initialisation puts
the 2-D kernel in temporal slot 1 and zeros in slots 0 and 2 (the encoder then initially
processes both slots independently with shared weights); ``mean`` copies it to all three slots
divided by 3 (exists in the original, unused). BatchNorm, LayerNorm, Linear and activations are
kept as they are (:class:`oast.model.mobilevit.BatchNorm` already accepts 5-D clips).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ClipConv3d", "inflate_conv", "inflate_convs_", "inflate_conv_weight", "TIME_KERNEL"]

TIME_KERNEL = 3
InflateMode = Literal["centre", "mean"]


class ClipConv3d(nn.Conv3d):
    """A ``Conv3d`` (same parameters and state keys) computed as 2-D convolutions on 2-frame clips.

    With a temporal kernel of 3, padding 1 and stride 1, a clip of T = 2 slots gives
    ``out[0] = W₁*x₀ + W₂*x₁`` and ``out[1] = W₀*x₀ + W₁*x₁`` (zero padding removes the other
    taps). Three 2-D convolutions compute exactly that, much faster on CPUs than PyTorch's
    generic 3-D convolution (its grouped and 3×1×1 cases fall back to a slow kernel); the result
    equals ``F.conv3d`` up to float summation order. Other inputs use ``F.conv3d``.
    """

    def _two_slot_ok(self, x: torch.Tensor) -> bool:
        return (
            x.dim() == 5
            and x.shape[2] == 2
            and self.kernel_size[0] == 3
            and self.padding[0] == 1
            and self.stride[0] == 1
            and self.dilation[0] == 1
            and self.padding_mode == "zeros"
            and not isinstance(self.padding, str)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._two_slot_ok(x):
            return super().forward(x)
        b = x.shape[0]
        w = self.weight
        args = dict(
            stride=self.stride[1:],
            padding=self.padding[1:],
            dilation=self.dilation[1:],
            groups=self.groups,
        )
        x0, x1 = x[:, :, 0], x[:, :, 1]
        centre = F.conv2d(torch.cat([x0, x1]), w[:, :, 1], **args)
        out0 = centre[:b] + F.conv2d(x1, w[:, :, 2], **args)
        out1 = centre[b:] + F.conv2d(x0, w[:, :, 0], **args)
        out = torch.stack([out0, out1], dim=2)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1, 1)
        return out


def inflate_conv_weight(weight: torch.Tensor, mode: InflateMode = "centre") -> torch.Tensor:
    """A 2-D kernel ``[O, I, kh, kw]`` as the 3-D kernel ``[O, I, 3, kh, kw]``."""
    if weight.dim() != 4:
        raise ValueError(f"expected a 4-D conv weight, got shape {tuple(weight.shape)}")
    if mode == "centre":
        out = weight.new_zeros(weight.shape[0], weight.shape[1], TIME_KERNEL, *weight.shape[2:])
        out[:, :, TIME_KERNEL // 2] = weight
        return out
    if mode == "mean":
        return weight.unsqueeze(2).repeat(1, 1, TIME_KERNEL, 1, 1) / TIME_KERNEL
    raise ValueError(f"unknown inflation mode {mode!r}")


def inflate_conv(conv: nn.Conv2d, mode: InflateMode = "centre") -> nn.Conv3d:
    """The ``Conv3d`` equivalent of ``conv`` (weights inflated, bias copied)."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("only explicit zero padding can be inflated")
    out = ClipConv3d(
        conv.in_channels,
        conv.out_channels,
        (TIME_KERNEL, *conv.kernel_size),
        stride=(1, *conv.stride),
        padding=(TIME_KERNEL // 2, *conv.padding),
        dilation=(1, *conv.dilation),
        groups=conv.groups,
        bias=conv.bias is not None,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        out.weight.copy_(inflate_conv_weight(conv.weight, mode))
        if conv.bias is not None:
            out.bias.copy_(conv.bias)
    return out


def inflate_convs_(module: nn.Module, mode: InflateMode = "centre") -> nn.Module:
    """Replace every ``Conv2d`` inside ``module`` (recursively, in place) by its inflation."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            setattr(module, name, inflate_conv(child, mode))
        else:
            inflate_convs_(child, mode)
    return module
