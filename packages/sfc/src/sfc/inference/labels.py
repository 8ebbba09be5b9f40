"""The label pipeline of the original test script (spec 4.2, 4.3 step 6, 4.4).

* Classes are the distinct colours of frame 0's annotation read as a 3-channel **BGR** image,
  in ``np.unique`` order of the BGR triplets (background first; id order for DAVIS ids 0–7).
* The one-hot of frame 0 is resized to the feature grid ``ceil(H/8) × ceil(W/8)`` with
  OpenCV bilinear interpolation (half-pixel centres, no anti-aliasing).
* A propagated soft map is resized back to the frame size with OpenCV bilinear, *then* the
  argmax over classes (first index on ties) is taken.
* The conversion to DAVIS ids maps a colour to the palette index with exactly that RGB value
  (unknown colours → 0), as ``convert_davis.py`` does; the SFC palette equals
  :data:`vos_common.io.DAVIS_PALETTE` (VOC colours with 191 for 192, grey ramp from id 22).

For label maps of object ids (our library API) the classes are the sorted ids instead of
colours; both routes share the resize and argmax code.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
from vos_common.errors import VOSDataError
from vos_common.io import DAVIS_PALETTE

SFC_PALETTE = DAVIS_PALETTE
_CV_MAX_CHANNELS = 512


def grid_size(size: tuple[int, int], stride: int = 8) -> tuple[int, int]:
    """Feature grid ``(ceil(H/stride), ceil(W/stride))`` of a ``(H, W)`` frame."""
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


def read_annotation_bgr(path: str | os.PathLike) -> np.ndarray:
    """An annotation PNG as the original reads it: a 3-channel BGR colour image ``(H, W, 3)``."""
    if not os.path.isfile(path):
        raise VOSDataError(path, "annotation file does not exist")
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VOSDataError(path, "cannot decode annotation image")
    return image


def class_colors(bgr: np.ndarray) -> np.ndarray:
    """Distinct BGR colours of an annotation, ``(K, 3)`` uint8, sorted as BGR triplets."""
    return np.unique(np.asarray(bgr, dtype=np.uint8).reshape(-1, 3), axis=0)


def onehot_from_colors(bgr: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """``(H, W, K)`` bool: pixel colour equals class colour ``k``."""
    return np.stack([np.all(bgr == color, axis=-1) for color in colors], axis=-1)


def onehot_from_ids(ids: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(H, W, K)`` bool: pixel id equals class id ``k``."""
    return np.asarray(ids)[..., None] == np.asarray(classes).reshape(1, 1, -1)


def _resize(array: np.ndarray, size_hw: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize of an ``(h, w, K)`` float32 map that keeps the class axis for any K."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    k = array.shape[-1]
    target = (size_hw[1], size_hw[0])
    if k <= _CV_MAX_CHANNELS:
        out = cv2.resize(array, target, interpolation=interpolation)
        return out.reshape(size_hw[0], size_hw[1], k)
    parts = [
        cv2.resize(
            np.ascontiguousarray(array[..., i : i + _CV_MAX_CHANNELS]),
            target,
            interpolation=interpolation,
        ).reshape(size_hw[0], size_hw[1], -1)
        for i in range(0, k, _CV_MAX_CHANNELS)
    ]
    return np.concatenate(parts, axis=-1)


def downsample_onehot(onehot: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Frame-0 soft label at feature resolution, ``(h, w, K)`` float32 (OpenCV bilinear)."""
    return _resize(np.float32(onehot), grid, cv2.INTER_LINEAR)


def upsample_soft(soft: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(h, w, K)`` soft map resized to ``(H, W, K)`` with OpenCV bilinear."""
    return _resize(soft, size, cv2.INTER_LINEAR)


def class_map(soft: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class index per pixel: bilinear upsampling to ``size`` first, then argmax (first on ties)."""
    return np.argmax(upsample_soft(soft, size), axis=-1).astype(np.int64)


def colors_to_ids(colors_rgb: np.ndarray, palette: np.ndarray = SFC_PALETTE) -> np.ndarray:
    """Palette index with exactly each RGB colour (first match), 0 for unknown colours."""
    colors_rgb = np.asarray(colors_rgb, dtype=np.uint8).reshape(-1, 3)
    ids = np.zeros(len(colors_rgb), dtype=np.uint8)
    for i, color in enumerate(colors_rgb):
        match = np.flatnonzero(np.all(palette == color, axis=-1))
        if match.size:
            ids[i] = match[0]
    return ids


def color_image_to_ids(rgb: np.ndarray, palette: np.ndarray = SFC_PALETTE) -> np.ndarray:
    """``convert_davis``'s mapping of a colour mask ``(H, W, 3)`` RGB to palette ids ``(H, W)``."""
    flat = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    colors, inverse = np.unique(flat, axis=0, return_inverse=True)
    return colors_to_ids(colors, palette)[inverse.reshape(-1)].reshape(rgb.shape[:2])


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an id map to ``(H, W)`` (the conversion step's last resize)."""
    ids = np.asarray(ids, dtype=np.uint8)
    if ids.shape[:2] == tuple(size):
        return ids
    return cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
