"""Masks drawn over frames with the DAVIS palette: alpha-blended fill and optional contours."""

from __future__ import annotations

import cv2
import numpy as np

from vos_common.io.masks import DAVIS_PALETTE


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
    return frame


def _check_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    if labels.ndim != 2 or labels.shape != tuple(size):
        raise ValueError(f"label map must be (H, W) = {tuple(size)}, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError("label map ids must lie in 0..255")
        labels = labels.astype(np.uint8)
    return labels


def label_image(labels: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> np.ndarray:
    """A label map ``(H, W)`` of ids as an RGB image ``(H, W, 3)`` uint8 (palette colour per id)."""
    labels = np.asarray(labels)
    return np.asarray(palette, dtype=np.uint8)[_check_labels(labels, labels.shape[:2])]


def mask_contours(labels: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Inner boundary of each object, ``(H, W)`` bool: pixels within ``thickness`` px of another id.

    The image border is not a boundary (an object cut by the frame edge gets no line there).
    """
    labels = np.asarray(labels)
    if thickness < 1:
        raise ValueError(f"thickness must be >= 1, got {thickness}")
    kernel = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    boundary = np.zeros(labels.shape, dtype=bool)
    for object_id in np.unique(labels):
        if object_id == 0:
            continue
        inside = (labels == object_id).astype(np.uint8)
        eroded = cv2.erode(inside, kernel, borderType=cv2.BORDER_REPLICATE)
        boundary |= (inside == 1) & (eroded == 0)
    return boundary


def overlay_mask(
    frame: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.5,
    palette: np.ndarray = DAVIS_PALETTE,
    contours: bool = False,
    contour_thickness: int = 1,
    contour_color: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Blend object colours into a frame: ``(H, W, 3)`` uint8 + ``(H, W)`` ids -> ``(H, W, 3)``.

    Where ``labels > 0`` the pixel becomes ``round((1 - alpha) * frame + alpha * palette[id])``;
    background pixels keep the frame's colour exactly. With ``contours`` each object's inner
    boundary is drawn opaque in its palette colour (or in ``contour_color``). A grey frame
    ``(H, W)`` is accepted and shown as RGB.
    """
    frame = _check_frame(frame)
    labels = _check_labels(labels, frame.shape[:2])
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    colours = np.asarray(palette, dtype=np.uint8)[labels]
    blended = np.rint((1.0 - alpha) * frame.astype(np.float32) + alpha * colours.astype(np.float32))
    objects = labels > 0
    result = frame.copy()
    result[objects] = np.clip(blended, 0, 255).astype(np.uint8)[objects]
    if contours:
        edge = mask_contours(labels, contour_thickness)
        result[edge] = (
            colours[edge] if contour_color is None else np.asarray(contour_color, np.uint8)
        )
    return result
