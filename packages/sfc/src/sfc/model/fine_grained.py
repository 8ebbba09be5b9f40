"""The fine-grained correspondence (FC) pre-training network and its loss (spec 2.3).

A BYOL-style online/target pair trained with PixPro's pixel-matching rule on two random crops of
the same frame:

* ``online_encoder`` / ``target_encoder``: ResNet-18 without head, stride 1 in layer3 *and*
  layer4 (no dilation), layer4 kept → 512-d features at stride 8;
* ``online_projector`` / ``target_projector``: MLP2d 512 → 2048 → 256 (1×1 convs with bias,
  BN, ReLU); ``predictor`` (online only): MLP2d 256 → 2048 → 256.

State-dict names are the original's (``online_encoder.layer1.0.conv1.weight``, …,
``predictor.linear2.bias``: 267 entries), so a trained network saved as ``{'model': state}``
loads as the ``fine-grained`` encoder.

The target is an exponential moving average of the online *parameters* (BN affine included,
running statistics not), updated at the start of every forward with the cosine-increasing
momentum ``m_k = 1 - (1 - m0)(cos(π k / K) + 1) / 2``. It lives inside the network (not in
``vos_common.training.ModelEMA``) because the released checkpoint format holds it under
``target_*`` and the rule covers only some modules and no buffers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sfc.model.resnet import build_trunk

FEATURE_CHANNELS = {"resnet18": 512, "resnet50": 2048}


class MLP2d(nn.Module):
    """1×1 conv (bias) → BN → ReLU → 1×1 conv (bias); keys ``linear1``, ``bn1``, ``linear2``."""

    def __init__(self, in_dim: int, inner_dim: int = 2048, out_dim: int = 256):
        super().__init__()
        self.linear1 = nn.Conv2d(in_dim, inner_dim, kernel_size=1, bias=True)
        self.bn1 = nn.BatchNorm2d(inner_dim)
        self.relu1 = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv2d(inner_dim, out_dim, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.relu1(self.bn1(self.linear1(x))))


def target_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """``1 - (1 - base)(cos(π step / total) + 1) / 2``: ``base`` at step 0, 1 at the end."""
    total = max(1, total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total) + 1.0) / 2.0


def crop_centers(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres ``(B, H'·W', 2)`` (x, y) and bin diagonals ``(B,)`` of boxes ``(B, 4)``."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    bin_w = (x1 - x0) / width
    bin_h = (y1 - y0) / height
    xs = torch.arange(width, dtype=boxes.dtype, device=boxes.device) + 0.5
    ys = torch.arange(height, dtype=boxes.dtype, device=boxes.device) + 0.5
    cx = x0[:, None, None] + xs[None, None, :] * bin_w[:, None, None]  # (B, 1, W')
    cy = y0[:, None, None] + ys[None, :, None] * bin_h[:, None, None]  # (B, H', 1)
    centers = torch.stack([cx.expand(-1, height, width), cy.expand(-1, height, width)], dim=-1)
    return centers.reshape(boxes.shape[0], height * width, 2), torch.sqrt(bin_w**2 + bin_h**2)


def positive_mask(
    box_a: torch.Tensor, box_b: torch.Tensor, height: int, width: int, radius: float = 0.5
) -> torch.Tensor:
    """``(B, P, P)`` 1 where cell i of view a and cell j of view b are within ``radius`` bins.

    Distance between cell centres in the source frame, divided by the larger bin diagonal of
    the two views, strictly below ``radius``.
    """
    ca, da = crop_centers(box_a, height, width)
    cb, db = crop_centers(box_b, height, width)
    dist = torch.sqrt(((ca[:, :, None] - cb[:, None]) ** 2).sum(-1))
    return (dist / torch.maximum(da, db)[:, None, None] < radius).float()


def regression_loss(
    p: torch.Tensor, z: torch.Tensor, box_p: torch.Tensor, box_z: torch.Tensor, radius: float = 0.5
) -> torch.Tensor:
    """PixPro's pixel-to-pixel loss ``-2 · mean_b [Σ M ⟨p_i, z_j⟩ / (Σ M + 1e-6)]``.

    ``p``, ``z``: unit vectors ``(B, C, H', W')``; boxes ``(B, 4)`` normalised ``(x0, y0, x1, y1)``.
    Images whose crops do not overlap contribute 0 and still count in the mean.
    """
    B, C, H, W = p.shape
    logits = torch.bmm(p.flatten(2).transpose(1, 2), z.flatten(2))  # (B, P, P)
    mask = positive_mask(box_p, box_z, H, W, radius).detach()
    per_image = (logits * mask).sum((1, 2)) / (mask.sum((1, 2)) + 1e-6)
    return -2.0 * per_image.mean()


class FineGrained(nn.Module):
    """Online/target ResNet + projectors + predictor; ``forward`` returns the symmetric loss."""

    def __init__(
        self,
        arch: str = "resnet18",
        projection_hidden_dim: int = 2048,
        projection_dim: int = 256,
        prediction_hidden_dim: int = 2048,
        pos_radius: float = 0.5,
        remove_stride_layers: tuple[str, ...] = ("layer3", "layer4"),
    ):
        super().__init__()
        if tuple(remove_stride_layers) != ("layer3", "layer4"):
            raise ValueError(
                "only --remove-stride-layers layer3 layer4 (the original default) is supported"
            )
        self.pos_radius = pos_radius
        channels = FEATURE_CHANNELS[arch]
        self.online_encoder = build_trunk(arch, "layer4")
        self.target_encoder = build_trunk(arch, "layer4")
        self.online_projector = MLP2d(channels, projection_hidden_dim, projection_dim)
        self.target_projector = MLP2d(channels, projection_hidden_dim, projection_dim)
        self.predictor = MLP2d(projection_dim, prediction_hidden_dim, projection_dim)
        for online, target in self._pairs():
            for p_o, p_t in zip(online.parameters(), target.parameters(), strict=True):
                p_t.data.copy_(p_o.data)
                p_t.requires_grad = False
        # The original measures the output shape once in train mode: touches BN statistics.
        with torch.no_grad():
            self.online_encoder.train()
            self.online_encoder(torch.zeros(1, 3, 256, 256))

    def _pairs(self):
        return (
            (self.online_encoder, self.target_encoder),
            (self.online_projector, self.target_projector),
        )

    @torch.no_grad()
    def momentum_update(self, momentum: float) -> None:
        """θ_target ← m·θ_target + (1 − m)·θ_online for encoder and projector parameters."""
        for online, target in self._pairs():
            for p_o, p_t in zip(online.parameters(), target.parameters(), strict=True):
                p_t.data.mul_(momentum).add_(p_o.data, alpha=1.0 - momentum)

    def online(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.predictor(self.online_projector(self.online_encoder(x)[-1])), dim=1)

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.target_projector(self.target_encoder(x)[-1]), dim=1)

    def forward(
        self,
        view1: torch.Tensor,
        view2: torch.Tensor,
        box1: torch.Tensor,
        box2: torch.Tensor,
        momentum: float | None = None,
    ) -> torch.Tensor:
        """Views ``(B, T, 3, S, S)`` or ``(B, 3, S, S)``, boxes ``(B, T, 4)`` or ``(B, 4)``."""
        if view1.dim() == 5:
            view1, view2 = view1.flatten(0, 1), view2.flatten(0, 1)
            box1, box2 = box1.flatten(0, 1), box2.flatten(0, 1)
        if momentum is not None:
            self.momentum_update(momentum)
        p1, p2 = self.online(view1), self.online(view2)
        z1, z2 = self.target(view1), self.target(view2)
        return regression_loss(p1, z2, box1, box2, self.pos_radius) + regression_loss(
            p2, z1, box2, box1, self.pos_radius
        )
