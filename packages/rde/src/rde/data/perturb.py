"""First-frame mask perturbation (the self-correction training signal).

:func:`perturb_mask` degrades a 0/255 mask by rounds of four random operations on random
axis-aligned sub-rectangles — with probability 0.1 set the rectangle's centre pixel to 0 or
255, then dilate or erode (½ each) with a random structuring element (rectangle, ellipse, or
half-height / half-width ellipse, size 3–9) — and stops as soon as the IoU with the clean mask
drops below the target (at most 250 rounds; a target of 1 returns the mask unchanged).
Random numbers come from NumPy's global generator, which the trainer seeds per sample.
"""

from __future__ import annotations

import cv2
import numpy as np


def random_structure(size: int) -> np.ndarray:
    choice = np.random.randint(1, 5)
    if choice == 1:
        return cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    if choice == 2:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    if choice == 3:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size // 2))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size // 2, size))


def random_dilate(seg: np.ndarray, low: int = 3, high: int = 10) -> np.ndarray:
    return cv2.dilate(seg, random_structure(np.random.randint(low, high)), iterations=1)


def random_erode(seg: np.ndarray, low: int = 3, high: int = 10) -> np.ndarray:
    return cv2.erode(seg, random_structure(np.random.randint(low, high)), iterations=1)


def mask_iou(seg: np.ndarray, gt: np.ndarray) -> float:
    return (np.count_nonzero(seg * gt) + 1e-6) / (np.count_nonzero(seg + gt) + 1e-6)


def perturb_mask(gt: np.ndarray, iou_target: float = 0.9) -> np.ndarray:
    """A degraded copy of ``gt`` (float 0/255, ``(H, W)``) with IoU just below ``iou_target``."""
    if iou_target == 1:
        return gt
    h, w = gt.shape
    seg = gt.copy()
    if h <= 2 or w <= 2:
        return seg
    for _ in range(250):
        for _ in range(4):
            lx, ly = np.random.randint(w), np.random.randint(h)
            lw, lh = np.random.randint(lx + 1, w + 1), np.random.randint(ly + 1, h + 1)
            if np.random.rand() < 0.1:
                cx, cy = int((lx + lw) / 2), int((ly + lh) / 2)
                seg[cy, cx] = np.random.randint(2) * 255
            if np.random.rand() < 0.5:
                seg[ly:lh, lx:lw] = random_dilate(seg[ly:lh, lx:lw])
            else:
                seg[ly:lh, lx:lw] = random_erode(seg[ly:lh, lx:lw])
        if mask_iou(seg, gt) < iou_target:
            break
    return seg


def iou_targets(perturb_min: float, perturb_max: float, group: int = 1) -> list[float]:
    """``group`` IoU targets drawn from ``U[perturb_min, perturb_max)`` (only the first is used)."""
    return [np.random.rand() * (perturb_max - perturb_min) + perturb_min for _ in range(group)]
