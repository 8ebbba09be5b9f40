"""Soft normalised cut on ViT key features: MAA score and NCut mask refinement (spec §5.4-5.5).

``f_i = k_i / |k_i|`` over the patch tokens (CLS dropped), ``A_ij = 1`` if ``f_i . f_j > tau``
else ``eps``; for a soft mask ``x``: ``cut = (1 - x)^T A x``,
``NCut = cut / 1^T A x + cut / 1^T A (1 - x)``. MAA of a slot = ``-NCut`` of its mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TAU = 0.2
EPS = 1e-5


def affinity(key_features: torch.Tensor, tau: float = TAU, eps: float = EPS) -> torch.Tensor:
    feats = F.normalize(key_features[0, 1:, :], p=2, dim=1)
    a = (feats @ feats.transpose(1, 0)) > tau
    return torch.where(a == 0, eps, a.float())


def soft_ncut_value(
    key_features: torch.Tensor,
    mask: torch.Tensor,
    tau: float = TAU,
    eps: float = EPS,
    a: torch.Tensor | None = None,
) -> torch.Tensor:
    """NCut of a soft mask (any shape with ``N`` elements) on keys ``[1, 1 + N, D]``."""
    a = affinity(key_features, tau, eps) if a is None else a
    x = mask.reshape(-1).float()
    cut = (1 - x) @ (a @ x)
    return cut / torch.sum(a @ x) + cut / torch.sum(a @ (1 - x))


def ncut_refine(
    key_features: torch.Tensor,
    mask: torch.Tensor,
    tau: float = TAU,
    eps: float = EPS,
    steps: int = 10,
    learning_rate: float = 0.45,
    weight_decay: float = 1e-6,
) -> torch.Tensor:
    """Minimise the soft NCut over the mask with Adam, clamping to [0, 1] after every step."""
    a = affinity(key_features, tau, eps)
    mask = mask.detach().clone().float().requires_grad_(True)
    optimizer = torch.optim.Adam([mask], lr=learning_rate, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            loss = soft_ncut_value(key_features, mask, tau, eps, a=a).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                mask[:] = torch.clamp(mask, 0.0, 1.0)
    return mask.detach()


def feature_input_size(height: int, width: int, patch: int) -> tuple[int, int]:
    """The ViT input size: each side rounded up to a multiple of the patch (480x854 -> 480x856)."""
    return int(math.ceil(height / patch) * patch), int(math.ceil(width / patch) * patch)


class KeyFeatureHead:
    """Key features of a frame and mask down-sampling to the patch grid, as RCF's NCut heads."""

    def __init__(self, vit, device: torch.device | str = "cpu"):
        self.vit = vit.to(device).eval()
        self.device = torch.device(device)
        self.patch = vit.patch_size

    @torch.no_grad()
    def keys(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """``image``: float RGB in [0, 1] ``(H, W, 3)`` -> (keys ``[1, 1 + N, D]``, patch grid)."""
        tensor = torch.as_tensor(image, device=self.device, dtype=torch.float32)[None].permute(
            0, 3, 1, 2
        )
        mean = torch.tensor(IMAGENET_MEAN, device=self.device)[None, :, None, None]
        std = torch.tensor(IMAGENET_STD, device=self.device)[None, :, None, None]
        tensor = (tensor - mean) / std
        size = feature_input_size(tensor.shape[2], tensor.shape[3], self.patch)
        tensor = F.interpolate(tensor, size, mode="bilinear", align_corners=False)
        keys, _ = self.vit.key_features(tensor)
        return keys, (size[0] // self.patch, size[1] // self.patch)

    def mask_to_grid(self, mask: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
        tensor = torch.as_tensor(mask, device=self.device, dtype=torch.float32)[None, None]
        return F.interpolate(tensor, grid, mode="nearest")[:, 0]

    def ncut(self, image: np.ndarray, mask: np.ndarray) -> float:
        keys, grid = self.keys(image)
        return float(soft_ncut_value(keys, self.mask_to_grid(mask, grid)))

    def refine(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        steps: int = 10,
        learning_rate: float = 0.45,
        weight_decay: float = 1e-6,
    ) -> torch.Tensor:
        """NCut-refined mask bilinearly upsampled back to the image size, ``[H, W]``."""
        keys, grid = self.keys(image)
        refined = ncut_refine(
            keys,
            self.mask_to_grid(mask, grid),
            steps=steps,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
        )
        up = F.interpolate(
            refined[:, None], tuple(mask.shape[:2]), mode="bilinear", align_corners=False
        )
        return up[0, 0]
