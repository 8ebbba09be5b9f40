"""Reading ground truth and predictions with errors that name the sequence and the frame.

Every problem with user input raises :class:`~vos_common.errors.VOSDataError`, whose
message is one line: ``<file>: sequence '<seq>', frame <frame>: <problem>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from vos_common.errors import VOSDataError
from vos_common.io import read_binary_mask, read_label_map

from vos_eval.pngread import read_label_png


def frame_error(
    path: str | os.PathLike | None, sequence: str, frame: str | None, problem: str
) -> VOSDataError:
    """A one-line error naming the file, the sequence and (if given) the frame."""
    where = f"sequence {sequence!r}" + (f", frame {frame}" if frame is not None else "")
    return VOSDataError(path, f"{where}: {problem}")


def read_labels(path: Path, sequence: str, frame: str, what: str) -> np.ndarray:
    """Raw object ids of an indexed PNG, ``(H, W)`` uint8; RGB and missing files raise.

    8-bit palette / grey PNGs take the fast decoder; everything else goes through
    :func:`vos_common.io.read_label_map` (16-bit maps, errors for colour images).
    """
    try:
        labels = read_label_png(path)
    except FileNotFoundError:
        raise frame_error(path, sequence, frame, f"{what} file does not exist") from None
    if labels is not None:
        return labels
    try:
        return read_label_map(path)
    except VOSDataError as err:
        raise frame_error(path, sequence, frame, f"{what}: {err.problem}") from None


def read_foreground(path: Path, sequence: str, frame: str, what: str) -> np.ndarray:
    """Binary mask with the DAVIS 2016 rule (channel 0, non-zero = foreground), ``(H, W)`` bool."""
    try:
        labels = read_label_png(path)
    except FileNotFoundError:
        raise frame_error(path, sequence, frame, f"{what} file does not exist") from None
    if labels is not None:
        return labels != 0
    try:
        return read_binary_mask(path)
    except VOSDataError as err:
        raise frame_error(path, sequence, frame, f"{what}: {err.problem}") from None


def check_same_size(
    array: np.ndarray,
    shape: tuple[int, int],
    path: Path,
    sequence: str,
    frame: str,
    what: str = "prediction",
    reference: str = "ground truth",
) -> None:
    """Raise unless ``array`` is ``shape`` ``(H, W)``."""
    if tuple(array.shape[:2]) != tuple(shape):
        raise frame_error(
            path,
            sequence,
            frame,
            f"{what} is {array.shape[1]}x{array.shape[0]} but the {reference} is "
            f"{shape[1]}x{shape[0]} (WxH)",
        )


def looks_binary_255(labels: np.ndarray) -> bool:
    """True if a label map holds only 0 and 255 (a binary mask saved as 0/255)."""
    counts = np.bincount(labels.ravel(), minlength=256)
    return counts[255] > 0 and not counts[1:255].any()
