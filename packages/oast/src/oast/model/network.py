"""``MobileViTVOS``: the OAST segmentation network (spec §2.3, key layout §2.5).

One shared MobileViT encoder, inflated to 3-D, runs on the 2-frame clip ``stack([img, flow],
dim=2)`` (slot 0 = RGB, ImageNet-normalised; slot 1 = flow picture in [0, 1]); a 3-D MobileViT
decoder maps the four stage outputs to a ``B×1×2×H/4×W/4`` map whose RGB slot, resized with
``align_corners=True`` to ``H×W``, is the prediction. ``H`` and ``W`` must be multiples of 64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from oast.model.inflate import ClipConv3d, inflate_convs_
from oast.model.mobilevit import (
    ConvNormAct,
    MobileViTBlock,
    encoder_stages,
    mobilevit_config,
)

__all__ = [
    "MobileViTVOS",
    "OASTOutput",
    "Encoder3D",
    "Decoder3D",
    "SIZE_MULTIPLE",
    "check_input_size",
    "build_model",
]

SIZE_MULTIPLE = 64


class OASTOutput(NamedTuple):
    """What :class:`MobileViTVOS` returns (a tuple, like the original's ``(logits, feature_map)``).

    ``logits``: ``B×1×H×W`` (RGB slot); ``feature_map``: ``B×H×W``, the stage-4 encoder output
    resized to ``(2, H, W)`` and averaged over the slots and the channels (input of D_A).
    """

    logits: torch.Tensor
    feature_map: torch.Tensor


def check_input_size(height: int, width: int) -> None:
    """Refuse a network input whose height or width is not a positive multiple of 64."""
    if height <= 0 or width <= 0 or height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(
            f"OAST input size {height}x{width} (HxW) is not a multiple of "
            f"{SIZE_MULTIPLE} in both dimensions (e.g. 384x640)"
        )


class Encoder3D(nn.Module):
    """``stem`` and ``body.0..3`` (stage1..4) of MobileViT, every conv centre-inflated."""

    def __init__(self, scale: str):
        super().__init__()
        stem, stages = encoder_stages(mobilevit_config(scale))
        self.stem = stem
        self.body = nn.ModuleList(stages)
        inflate_convs_(self, "centre")

    def forward(self, clip: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(clip)
        outs = []
        for stage in self.body:
            x = stage(x)
            outs.append(x)
        return outs


def _upsample2(x: torch.Tensor) -> torch.Tensor:
    """Trilinear ×(1, 2, 2) with ``align_corners=True``."""
    t, h, w = x.shape[-3:]
    return F.interpolate(x, size=(t, 2 * h, 2 * w), mode="trilinear", align_corners=True)


def _init_decoder(module: nn.Module) -> None:
    """Decoder init pass: conv xavier-normal, Linear kaiming-normal (fan_out), BN 1/0, LN 0/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_normal_(m.weight)
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)


class Decoder3D(nn.Module):
    """Three MobileViT stages with lateral 3×3 CNA paths and a 3×3×3 ``conv_seg`` head."""

    def __init__(self, scale: str, dropout: float = 0.0):
        super().__init__()
        cfg = mobilevit_config(scale)
        c0, c1, c2, c3 = cfg.decoder_channels
        d0, d1, d2 = cfg.dims
        self.stage1 = nn.Sequential(MobileViTBlock(c3, c3, d2, 3, 4 * d2), ConvNormAct(c3, c2, 1))
        self.stage2 = nn.Sequential(MobileViTBlock(c2, c2, d1, 4, 4 * d1), ConvNormAct(c2, c1, 1))
        self.stage3 = nn.Sequential(MobileViTBlock(c1, c1, d0, 2, 4 * d0), ConvNormAct(c1, c0, 1))
        self.r1 = ConvNormAct(c2, c2, 3)
        self.r2 = ConvNormAct(c1, c1, 3)
        self.r3 = ConvNormAct(c0, c0, 3)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        _init_decoder(self)  # 2-D pass
        inflate_convs_(self, "centre")
        self.conv_seg = ClipConv3d(c0, 1, 3, padding=1, bias=True)  # a native Conv3d
        _init_decoder(self)  # second pass over the 5-D kernels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        e1, e2, e3, e4 = feats
        y = self.stage1(e4)
        y = _upsample2(y) + self.r1(e3)
        y = self.stage2(y)
        y = _upsample2(y) + self.r2(e2)
        y = self.stage3(y)
        y = _upsample2(y) + self.r3(e1)
        return self.conv_seg(self.dropout(y))


class MobileViTVOS(nn.Module):
    """The OAST network at scale ``xxs``, ``xs`` or ``s``; ``forward(img, flow)`` → OASTOutput.

    ``dropout`` is the dropout before ``conv_seg`` (released setting 0); the transformer FFNs
    always have Dropout(0.1), active in train mode only.
    """

    def __init__(self, scale: str = "xxs", dropout: float = 0.0):
        super().__init__()
        mobilevit_config(scale)  # validates the name
        self.scale = scale
        self.encoder = Encoder3D(scale)
        self.decoder = Decoder3D(scale, dropout)

    @staticmethod
    def make_clip(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """``B×3×2×H×W`` clip: slot 0 = image, slot 1 = flow picture."""
        if img.shape != flow.shape or img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(
                f"expected image and flow of the same shape B×3×H×W, got "
                f"{tuple(img.shape)} and {tuple(flow.shape)}"
            )
        check_input_size(img.shape[-2], img.shape[-1])
        return torch.stack([img, flow], dim=2)

    def forward_features(self, img: torch.Tensor, flow: torch.Tensor) -> list[torch.Tensor]:
        """The four encoder stage outputs (strides 4, 8, 16, 32; T = 2)."""
        return self.encoder(self.make_clip(img, flow))

    def forward(self, img: torch.Tensor, flow: torch.Tensor) -> OASTOutput:
        height, width = img.shape[-2:]
        feats = self.forward_features(img, flow)
        raw = self.decoder(feats)
        # trilinear resize to (2, H, W) then slot 0 == bilinear align-corners resize of slot 0
        logits = F.interpolate(
            raw[:, :, 0], size=(height, width), mode="bilinear", align_corners=True
        )
        # resize, then mean over T and channels == mean first, then resize (linear operations)
        pooled = feats[3].mean(dim=(1, 2)).unsqueeze(1)
        feature_map = F.interpolate(
            pooled, size=(height, width), mode="bilinear", align_corners=True
        )[:, 0]
        return OASTOutput(logits, feature_map)


def build_model(scale: str = "xxs", dropout: float = 0.0) -> MobileViTVOS:
    """``MobileViTVOS(scale, dropout)``."""
    return MobileViTVOS(scale, dropout)
