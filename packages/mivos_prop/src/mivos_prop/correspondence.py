"""Dense correspondence from the trained propagation weights (the original ``try_correspondence``).

The source frame is encoded by the value encoder with **both mask channels zero** and
projected by ``kv_m_f16.key_proj``; the target frame by the key encoder and
``kv_q_f16.key_proj``. ``W = softmax_i(<k_src[:, i], k_tgt[:, j]> / sqrt(C_k))`` (no top-k) maps
any map defined on the source's 1/16 grid to the target: ``X W``, then bilinear x16 and unpad.
The decoder is not used (the original loads the checkpoint with ``strict=False`` for this).

    python -m mivos_prop.try_correspondence --model propagation_model.pth --src a.jpg --tgt b.jpg \\
        --point 120,80 --out corr.png
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from vos_common.errors import VOSDataError
from vos_common.stm import pad_divide_by, unpad

from mivos_prop.inference.postprocess import normalise_frame
from mivos_prop.model.network import PropagationNetwork

__all__ = ["correspondence_affinity", "point_map", "transfer", "transfer_point"]


@torch.inference_mode()
def correspondence_affinity(
    net: PropagationNetwork, source: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, tuple[int, int], tuple]:
    """``W (1, hw_src, hw_tgt)`` between two normalised ``(3, H, W)`` frames of the same padded size.

    Returns ``(W, (h, w), pad)``.
    """
    src, pad = pad_divide_by(source[None], 16)
    tgt, pad_t = pad_divide_by(target[None], 16)
    if src.shape != tgt.shape:
        raise ValueError(
            f"source {tuple(source.shape[-2:])} and target {tuple(target.shape[-2:])} "
            "must have the same (padded) size"
        )
    zeros = torch.zeros(1, 1, *src.shape[-2:], device=src.device)
    k_src = net.kv_m_f16.key_proj(net.mask_rgb_encoder(src, zeros, zeros))
    k_tgt = net.kv_q_f16.key_proj(net.rgb_encoder(tgt)[0])
    _, ck, h, w = k_src.shape
    s = torch.bmm(
        k_src.reshape(1, ck, h * w).transpose(1, 2), k_tgt.reshape(1, ck, h * w)
    ) / math.sqrt(ck)
    return F.softmax(s, dim=1), (h, w), pad


def transfer(
    weights: torch.Tensor,
    source_map: torch.Tensor,
    grid: tuple[int, int],
    pad: tuple[int, int, int, int],
) -> torch.Tensor:
    """Move ``source_map (1, C, h, w)`` on the source grid to the target: ``(1, C, H, W)`` unpadded."""
    h, w = grid
    c = source_map.shape[1]
    moved = torch.bmm(source_map.reshape(1, c, h * w), weights).view(1, c, h, w)
    return unpad(F.interpolate(moved, scale_factor=16, mode="bilinear", align_corners=False), pad)


def point_map(
    x: int, y: int, grid: tuple[int, int], pad: tuple[int, int, int, int]
) -> torch.Tensor:
    """One-hot ``(1, 1, h, w)`` at the grid cell of pixel ``(x, y)`` of the unpadded source."""
    h, w = grid
    gy, gx = (y + pad[2]) // 16, (x + pad[0]) // 16
    if not (0 <= gy < h and 0 <= gx < w):
        raise VOSDataError(None, f"point ({x}, {y}) lies outside the source frame")
    out = torch.zeros(1, 1, h, w)
    out[0, 0, gy, gx] = 1
    return out


def transfer_point(
    net: PropagationNetwork, source_rgb: np.ndarray, target_rgb: np.ndarray, x: int, y: int
) -> np.ndarray:
    """Heat map ``(H, W)`` in [0, 1] on the target frame for a click at ``(x, y)`` on the source."""
    device = next(net.parameters()).device
    weights, grid, pad = correspondence_affinity(
        net, normalise_frame(source_rgb).to(device), normalise_frame(target_rgb).to(device)
    )
    heat = transfer(weights, point_map(x, y, grid, pad).to(device), grid, pad)[0, 0]
    return (heat / heat.max().clamp_min(1e-12)).cpu().numpy()
