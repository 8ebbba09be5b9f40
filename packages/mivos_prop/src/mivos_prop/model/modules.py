"""Decoder blocks and key/value projections of MiVOS propagation (no normalisation, all biased)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Decoder", "KeyValue", "ResBlock", "UpsampleBlock"]


class ResBlock(nn.Module):
    """Pre-activation residual block ``x' = skip(x) + conv2(relu(conv1(relu(x))))``.

    When the channel count changes, the skip is a **3x3** conv named ``downsample`` (registered
    before ``conv1``, as in the checkpoint); otherwise it is the identity.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.downsample = (
            None
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        )
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv2(F.relu(self.conv1(F.relu(x))))
        skip = x if self.downsample is None else self.downsample(x)
        return skip + residual


class UpsampleBlock(nn.Module):
    """``out_conv(skip_conv2(skip_conv1(skip)) + up2x(x))`` with bilinear ``align_corners=False``.

    The skip branch may have batch 1 while ``x`` has one entry per object: broadcasting then
    computes the skip branch once for all objects.
    """

    def __init__(
        self, skip_channels: int, up_channels: int, out_channels: int, scale_factor: int = 2
    ):
        super().__init__()
        self.skip_conv1 = nn.Conv2d(skip_channels, up_channels, kernel_size=3, padding=1)
        self.skip_conv2 = ResBlock(up_channels, up_channels)
        self.out_conv = ResBlock(up_channels, out_channels)
        self.scale_factor = scale_factor

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = self.skip_conv2(self.skip_conv1(skip))
        s = s + F.interpolate(
            x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False
        )
        return self.out_conv(s)


class KeyValue(nn.Module):
    """Two parallel 3x3 convolutions on ``f16``: key (128 ch) and value (512 ch)."""

    def __init__(self, in_channels: int = 1024, key_dim: int = 128, value_dim: int = 512):
        super().__init__()
        self.key_proj = nn.Conv2d(in_channels, key_dim, kernel_size=3, padding=1)
        self.val_proj = nn.Conv2d(in_channels, value_dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key_proj(x), self.val_proj(x)


class Decoder(nn.Module):
    """``concat[readout, query value]`` (1024 ch, stride 16) + ``f8``, ``f4`` -> one logit at full size.

    ``compress`` ResBlock 1024->512, two upsampling blocks (16->8 with ``f8``, 8->4 with
    ``f4``), ReLU + 3x3 conv to one channel, then bilinear x4 upsampling.
    """

    def __init__(
        self,
        in_channels: int = 1024,
        mid: tuple[int, int, int] = (512, 256, 256),
        skip_channels: tuple[int, int] = (512, 256),
    ):
        super().__init__()
        c16, c8, c4 = mid
        self.compress = ResBlock(in_channels, c16)
        self.up_16_8 = UpsampleBlock(skip_channels[0], c16, c8)
        self.up_8_4 = UpsampleBlock(skip_channels[1], c8, c4)
        self.pred = nn.Conv2d(c4, 1, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> torch.Tensor:
        x = self.compress(x)
        x = self.up_16_8(f8, x)
        x = self.up_8_4(f4, x)
        x = self.pred(F.relu(x))
        return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
