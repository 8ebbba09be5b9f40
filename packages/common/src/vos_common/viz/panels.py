"""Composite images: titled panels, ground truth / prediction side by side, flow colours and
contact sheets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from vos_common.io.flow import flow_to_color
from vos_common.io.masks import DAVIS_PALETTE
from vos_common.viz.overlay import overlay_mask

WHITE = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 -> ``(H, W, 3)`` uint8 (bool becomes 0/255)."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W) or (H, W, 3) uint8 image, got {image.shape} {image.dtype}"
        )
    return image


def title_height(width: int) -> int:
    """Height of the title bar for a panel ``width`` px wide (text scales with the panel)."""
    return max(14, min(32, width // 12))


def add_title(image: np.ndarray, title: str, height: int | None = None) -> np.ndarray:
    """``image`` under a white bar of ``height`` px with ``title`` in black: ``(h + H, W, 3)``.

    Text that does not fit is shrunk to the bar's width (down to a legible minimum, then cut).
    """
    image = as_rgb(image)
    width = image.shape[1]
    height = title_height(width) if height is None else height
    bar = np.full((height, width, 3), WHITE, np.uint8)
    scale = height / 40.0
    (text_width, _), _ = cv2.getTextSize(title, FONT, scale, 1)
    if text_width > width - 4:
        scale = max(0.25, scale * (width - 4) / max(text_width, 1))
    (text_width, text_height), _ = cv2.getTextSize(title, FONT, scale, 1)
    origin = (max(2, (width - text_width) // 2), (height + text_height) // 2)
    cv2.putText(bar, title, origin, FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def hstack(images: Sequence[np.ndarray], gap: int = 4, background: int = WHITE) -> np.ndarray:
    """Images side by side with ``gap`` px between them; shorter ones are padded at the bottom."""
    images = [as_rgb(image) for image in images]
    height = max(image.shape[0] for image in images)
    parts = []
    for index, image in enumerate(images):
        if index:
            parts.append(np.full((height, gap, 3), background, np.uint8))
        pad = height - image.shape[0]
        parts.append(
            np.pad(image, ((0, pad), (0, 0), (0, 0)), constant_values=background) if pad else image
        )
    return np.concatenate(parts, axis=1)


def side_by_side(
    frame: np.ndarray,
    ground_truth: np.ndarray | None,
    prediction: np.ndarray,
    titles: tuple[str, str] = ("ground truth", "prediction"),
    alpha: float = 0.5,
    contours: bool = True,
    palette: np.ndarray = DAVIS_PALETTE,
    gap: int = 4,
) -> np.ndarray:
    """Two titled overlays of one frame, ground truth left and prediction right.

    Returns ``(h + H, 2 W + gap, 3)`` uint8.

    ``ground_truth=None`` (an unannotated frame) shows the bare frame under the title plus
    "(none)".
    """
    left_title, right_title = titles
    if ground_truth is None:
        left = add_title(frame, f"{left_title} (none)")
    else:
        left = add_title(overlay_mask(frame, ground_truth, alpha, palette, contours), left_title)
    right = add_title(overlay_mask(frame, prediction, alpha, palette, contours), right_title)
    return hstack([left, right], gap)


def flow_image(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Middlebury colours (``io.flow_to_color``) of a flow ``(H, W, 2)`` or ``(2, H, W)``."""
    flow = np.asarray(flow)
    if flow.ndim == 3 and flow.shape[0] == 2 and flow.shape[2] != 2:
        flow = flow.transpose(1, 2, 0)
    return flow_to_color(flow, max_magnitude)


def flow_images(
    flows: Sequence[np.ndarray] | np.ndarray, shared_scale: bool = True
) -> list[np.ndarray]:
    """Colour images of a sequence of flows ``(T, H, W, 2)``.

    With ``shared_scale`` every frame uses the largest finite magnitude of the whole
    sequence, so equal colours mean equal motion across frames (NaN flows render black).
    """
    scale = None
    if shared_scale:
        peaks = []
        for flow in flows:
            magnitude = np.linalg.norm(np.asarray(flow, dtype=np.float64).reshape(-1, 2), axis=1)
            finite = magnitude[np.isfinite(magnitude)]
            peaks.append(float(finite.max()) if finite.size else 0.0)
        scale = max(peaks, default=0.0)
    return [flow_image(flow, scale) for flow in flows]


def contact_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    columns: int | None = None,
    gap: int = 4,
    background: int = WHITE,
) -> np.ndarray:
    """A grid of images with optional captions, ``(H', W', 3)`` uint8.

    Every cell is as large as the largest image (smaller ones sit top-left on ``background``);
    ``columns`` defaults to ``ceil(sqrt(n))``. With labels each cell gets a title bar of
    :func:`title_height` of the cell width. Size: ``W' = columns * cell_w + (columns - 1) * gap``,
    ``H' = rows * (cell_h + bar) + (rows - 1) * gap``.
    """
    images = [as_rgb(image) for image in images]
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    columns = math.ceil(math.sqrt(len(images))) if columns is None else columns
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = math.ceil(len(images) / columns)
    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    bar = title_height(cell_w) if labels is not None else 0
    sheet = np.full(
        (rows * (cell_h + bar) + (rows - 1) * gap, columns * cell_w + (columns - 1) * gap, 3),
        background,
        np.uint8,
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = row * (cell_h + bar + gap), column * (cell_w + gap)
        if labels is not None:
            sheet[top : top + bar, left : left + cell_w] = add_title(
                np.zeros((0, cell_w, 3), np.uint8), labels[index], bar
            )
        h, w = image.shape[:2]
        sheet[top + bar : top + bar + h, left : left + w] = image
    return sheet
