"""Static images turned into three-frame pseudo-videos: affine and thin-plate-spline warps.

STM-family stage 0 trains on image/mask pairs (FSS-1000, DUTS, ECSSD, BIG, HRSOD): each sample
applies one random transform shared by the three frames, then a different random transform per
frame, and, with probability 0.33, a random thin-plate-spline (TPS) warp.

:func:`random_tps_warp` is our own TPS (no GitHub-only dependency): ``num_points`` control
points at random distinct rows and columns of the normalised ``[0, 1)`` square are moved by
``N(0, scale)`` noise; the dense backward map is the TPS interpolant (``scipy``
``RBFInterpolator`` with the thin-plate kernel and a linear polynomial) of the destination
points onto the source points, and the image is resampled with OpenCV ``remap``: bilinear for
the image, nearest for the mask, constant border 0 (black, not the mean colour).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["random_tps_warp", "tps_backward_map"]


def tps_backward_map(
    source: np.ndarray, destination: np.ndarray, height: int, width: int, grid_step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel maps ``(map_x, map_y)`` such that ``out(p) = in(map(p))`` moves ``source`` to ``destination``.

    Points are ``(N, 2)`` arrays of normalised ``(x, y)`` in ``[0, 1]``.
    """
    from scipy.interpolate import RBFInterpolator

    ys, xs = np.mgrid[0:height:grid_step, 0:width:grid_step].astype(np.float64)
    query = np.stack([xs.ravel() / max(1, width - 1), ys.ravel() / max(1, height - 1)], 1)
    fit = RBFInterpolator(destination, source - destination, kernel="thin_plate_spline", degree=1)
    offset = fit(query).reshape(ys.shape + (2,))
    map_x = ((query[:, 0].reshape(ys.shape) + offset[..., 0]) * (width - 1)).astype(np.float32)
    map_y = ((query[:, 1].reshape(ys.shape) + offset[..., 1]) * (height - 1)).astype(np.float32)
    if grid_step > 1:
        map_x = cv2.resize(map_x, (width, height), interpolation=cv2.INTER_LINEAR)
        map_y = cv2.resize(map_y, (width, height), interpolation=cv2.INTER_LINEAR)
    return map_x, map_y


def random_tps_warp(
    image: np.ndarray,
    mask: np.ndarray,
    scale: float = 0.02,
    num_points: int = 12,
    rng: np.random.Generator | None = None,
    grid_step: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image ``(H, W[, C])`` and its mask ``(H, W)`` by one random TPS (module doc).

    ``grid_step`` evaluates the spline on a coarser grid and interpolates the map (the warp is
    smooth; 4 px keeps a 384x384 warp cheap).
    """
    rng = np.random.default_rng() if rng is None else rng
    height, width = image.shape[:2]
    xs = rng.choice(width, size=num_points, replace=False) / width
    ys = rng.choice(height, size=num_points, replace=False) / height
    source = np.stack([xs, ys], 1)
    destination = source + rng.normal(0.0, scale, size=source.shape)
    map_x, map_y = tps_backward_map(source, destination, height, width, grid_step)
    warped = cv2.remap(
        image,
        map_x,
        map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    warped_mask = cv2.remap(
        mask,
        map_x,
        map_y,
        interpolation=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return warped, warped_mask
