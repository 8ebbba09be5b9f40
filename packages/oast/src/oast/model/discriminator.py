"""OAST's discriminators (spec §2.4): D_A (image level, phases A/B) and D_C (pixel level, phase C).

Both share a trunk of four ``Conv2d 3×3 (bias) + BatchNorm2d + ReLU`` blocks (widths
1→16→32→64→128, full resolution, keys ``stage{1..4}.{0,1}``) and ``pool.0`` = Conv2d 128→1, 1×1.
The original never puts a discriminator in eval mode: keep them in train mode to reproduce it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DiscriminatorTrain", "DiscriminatorFinetuning", "WIDTHS"]

WIDTHS = (1, 16, 32, 64, 128)


class _Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        for i in range(4):
            block = nn.Sequential(
                nn.Conv2d(WIDTHS[i], WIDTHS[i + 1], 3, 1, 1, bias=True),
                nn.BatchNorm2d(WIDTHS[i + 1]),
                nn.ReLU(inplace=True),
            )
            setattr(self, f"stage{i + 1}", block)
        self.pool = nn.Sequential(nn.Conv2d(WIDTHS[-1], 1, 1, bias=True))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        return self.pool(x)


class DiscriminatorTrain(_Trunk):
    """D_A: ``B×H×W`` feature map → ``B`` probabilities (trunk, global average, sigmoid)."""

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        if feature_map.dim() != 3:
            raise ValueError(f"D_A expects a B×H×W feature map, got {tuple(feature_map.shape)}")
        y = self.trunk(feature_map.unsqueeze(1))
        return torch.sigmoid(y.mean(dim=(1, 2, 3)))


class DiscriminatorFinetuning(_Trunk):
    """D_C: ``B×1×H×W`` logit map (never probabilities) → ``B×1×H×W`` per-pixel probabilities."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 4 or logits.shape[1] != 1:
            raise ValueError(f"D_C expects a B×1×H×W logit map, got {tuple(logits.shape)}")
        return torch.sigmoid(self.trunk(logits))
