"""Building blocks of the RDE-VOS network (STCN's encoders and decoder).

Key names follow the released checkpoints (``value_encoder.fuser.block1.downsample``,
``decoder.up_16_8.skip_conv``, ``...attention.ChannelGate.mlp.1`` ...).

Several blocks take a concatenation of a per-object tensor (batch K) and a per-frame tensor
(batch 1, identical for every object). Their ``forward`` accepts both as separate parts: a
convolution of a concatenation is the sum of the convolutions of its parts, so the per-frame
part is convolved once and broadcast over the objects instead of K times. With equal batches
the parts are concatenated first, exactly as the original does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rde.model.resnet import KeyResNet, ValueResNet


def conv_of_concat(conv: nn.Conv2d, parts: list[torch.Tensor]) -> torch.Tensor:
    """``conv(torch.cat(parts, 1))`` where the parts may have batch 1 (broadcast) or batch K."""
    batches = {p.shape[0] for p in parts}
    if len(batches) == 1:
        return conv(torch.cat(parts, 1) if len(parts) > 1 else parts[0])
    out = None
    start = 0
    for part in parts:
        stop = start + part.shape[1]
        y = F.conv2d(part, conv.weight[:, start:stop], None, conv.stride, conv.padding,
                     conv.dilation, conv.groups)
        out = y if out is None else out + y
        start = stop
    if conv.bias is not None:
        out = out + conv.bias.view(1, -1, 1, 1)
    return out


class ResBlock(nn.Module):
    """Pre-activation residual block: ``s(x) + conv2(relu(conv1(relu(x))))``.

    ``s`` is the identity when the channel count is kept, else a 3×3 conv (``downsample``).
    """

    def __init__(self, indim: int, outdim: int | None = None):
        super().__init__()
        outdim = indim if outdim is None else outdim
        self.downsample = None if indim == outdim else nn.Conv2d(indim, outdim, 3, padding=1)
        self.conv1 = nn.Conv2d(indim, outdim, 3, padding=1)
        self.conv2 = nn.Conv2d(outdim, outdim, 3, padding=1)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        """``parts`` are concatenated along channels (see the module doc for mixed batches)."""
        parts = list(parts)
        r = conv_of_concat(self.conv1, [F.relu(p) for p in parts])
        r = self.conv2(F.relu(r))
        if self.downsample is not None:
            x = conv_of_concat(self.downsample, parts)
        else:
            x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return x + r


class ChannelGate(nn.Module):
    """CBAM channel attention: shared MLP on average- and max-pooled vectors, summed, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction),
                                 nn.ReLU(), nn.Linear(channels // reduction, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        att = self.mlp(F.avg_pool2d(x, (h, w), stride=(h, w)))
        att = att + self.mlp(F.max_pool2d(x, (h, w), stride=(h, w)))
        return x * torch.sigmoid(att)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    """CBAM spatial attention: [channel max, channel mean] → 7×7 conv → sigmoid."""

    def __init__(self):
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.max(1, keepdim=True)[0], x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Value fusion: ``block1([value path, key f16])``, ``+ CBAM``, ``block2``."""

    def __init__(self, indim: int, outdim: int):
        super().__init__()
        self.block1 = ResBlock(indim, outdim)
        self.attention = CBAM(outdim)
        self.block2 = ResBlock(outdim, outdim)

    def forward(self, x: torch.Tensor, f16: torch.Tensor) -> torch.Tensor:
        x = self.block1(x, f16)
        return self.block2(x + self.attention(x))


class KeyEncoder(KeyResNet):
    """ResNet-50 to stride 16 shared by memory and query frames: ``frame → (f16, f8, f4)``."""


class ValueEncoder(ValueResNet):
    """Modified ResNet-18 on [RGB, mask(, others)] fused with the key encoder's f16.

    ``single_object`` (stage 0) has no "others" channel. ``image``/``f16`` may have batch 1
    while the masks have batch K (one frame, K objects).
    """

    def __init__(self, single_object: bool = False, width_div: int = 1):
        super().__init__(4 if single_object else 5, width_div)
        self.single_object = single_object
        value = 512 // width_div
        self.fuser = FeatureFusionBlock((256 + 1024) // width_div, value)

    def forward(self, image: torch.Tensor, f16: torch.Tensor, mask: torch.Tensor,
                other: torch.Tensor | None = None) -> torch.Tensor:
        masks = [mask] if self.single_object else [mask, other]
        if image.shape[0] == mask.shape[0]:
            x = self.conv1(torch.cat([image, *masks], 1))
        else:
            x = conv_of_concat(self.conv1, [image, torch.cat(masks, 1)])
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fuser(x, f16)


class KeyProjection(nn.Module):
    def __init__(self, indim: int, keydim: int):
        super().__init__()
        self.key_proj = nn.Conv2d(indim, keydim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight.data)
        nn.init.zeros_(self.key_proj.bias.data)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.key_proj(x)


class UpsampleBlock(nn.Module):
    """``out_conv(skip_conv(skip) + up×2(x))``; the skip (batch 1) broadcasts over objects."""

    def __init__(self, skip_c: int, up_c: int, out_c: int, scale_factor: int = 2):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_c, up_c, 3, padding=1)
        self.out_conv = ResBlock(up_c, out_c)
        self.scale_factor = scale_factor

    def forward(self, skip_f: torch.Tensor, up_f: torch.Tensor) -> torch.Tensor:
        x = self.skip_conv(skip_f)
        x = x + F.interpolate(up_f, scale_factor=self.scale_factor, mode="bilinear",
                              align_corners=False)
        return self.out_conv(x)


class Decoder(nn.Module):
    """``[readout, f16_thin]`` (stride 16) + f8/f4 skips → one logit map per object."""

    def __init__(self, width_div: int = 1):
        super().__init__()
        d = width_div
        self.compress = ResBlock(1024 // d, 512 // d)
        self.up_16_8 = UpsampleBlock(512 // d, 512 // d, 256 // d)
        self.up_8_4 = UpsampleBlock(256 // d, 256 // d, 256 // d)
        self.pred = nn.Conv2d(256 // d, 1, 3, padding=1)

    def forward(self, x16, f8: torch.Tensor, f4: torch.Tensor,
                f16_thin: torch.Tensor | None = None) -> torch.Tensor:
        """``x16`` is the 1024-channel input, or the readout when ``f16_thin`` is given apart."""
        x = self.compress(x16) if f16_thin is None else self.compress(x16, f16_thin)
        x = self.up_16_8(f8, x)
        x = self.up_8_4(f4, x)
        x = self.pred(F.relu(x))
        return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
