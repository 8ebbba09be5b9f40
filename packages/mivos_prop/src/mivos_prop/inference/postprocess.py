"""From the core's probabilities to label maps, and frame/mask preparation for the network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "normalise_frame",
    "probabilities_to_labels",
    "resize_short_side",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise_frame(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """RGB uint8 ``(H, W, 3)`` (or ``(3, H, W)`` tensor) -> float ``(3, H, W)``, ``(x/255 - mean)/std``."""
    t = torch.from_numpy(np.array(rgb, dtype=np.uint8)) if not torch.is_tensor(rgb) else rgb
    if t.dim() == 3 and t.shape[-1] == 3 and t.shape[0] != 3:
        t = t.permute(2, 0, 1)
    x = t.float() / 255
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def resize_short_side(frame: torch.Tensor, short: int = 480) -> torch.Tensor:
    """torchvision ``Resize(short, bicubic)`` of a normalised ``(3, H, W)`` frame, no antialiasing.

    The shorter side becomes ``short`` and the longer ``int(short * long / short_side)``, as
    torchvision 0.8 (the reference's version) computed it.
    """
    h, w = frame.shape[-2:]
    size = _short_side_size(h, w, short)
    if size == (h, w):
        return frame
    return F.interpolate(
        frame[None], size=size, mode="bicubic", align_corners=False, antialias=False
    )[0]


def resize_mask_short_side(mask: torch.Tensor, short: int = 480) -> torch.Tensor:
    """Nearest ``Resize(short)`` of an ``(H, W)`` id map (same size rule as the frames)."""
    h, w = mask.shape[-2:]
    size = _short_side_size(h, w, short)
    if size == (h, w):
        return mask
    return F.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].to(mask.dtype)


def _short_side_size(h: int, w: int, short: int) -> tuple[int, int]:
    if h <= w:
        return short, int(short * w / h)
    return int(short * h / w), short


def probabilities_to_labels(
    prob: torch.Tensor, size: tuple[int, int] | None = None, ids: Sequence[int] | None = None
) -> np.ndarray:
    """Argmax of ``(K+1, H, W)`` probabilities, after a bilinear resize to ``size``.

    Returns an ``(H', W')`` uint8 map of channel indices, or of ``ids[c-1]`` for channel ``c``
    when ``ids`` is given (background stays 0).
    """
    if size is not None and tuple(prob.shape[-2:]) != tuple(size):
        prob = F.interpolate(prob[:, None], size=tuple(size), mode="bilinear", align_corners=False)[
            :, 0
        ]
    index = torch.argmax(prob, dim=0).to(torch.uint8).cpu().numpy()
    if ids is None:
        return index
    table = np.zeros(max(256, len(ids) + 1), dtype=np.uint8)
    table[1 : len(ids) + 1] = np.asarray(ids, dtype=np.uint8)
    return table[index]
