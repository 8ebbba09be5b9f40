"""Helpers that write tiny DAVIS-layout fixtures with vos_common.io (no dataset download needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from vos_common.io import write_label_map


def write_davis_sequence(
    root: Path,
    name: str,
    gt: list[np.ndarray],
    pred: list[np.ndarray | None] | None,
    results: Path,
    annotations: str = "Annotations",
) -> None:
    """GT under ``<root>/<annotations>/480p/<name>/``, predictions under ``<results>/<name>/``.

    A ``None`` prediction leaves that frame's file out.
    """
    for index, labels in enumerate(gt):
        write_label_map(root / annotations / "480p" / name / f"{index:05d}.png", labels)
    for index, labels in enumerate(pred or []):
        if labels is not None:
            write_label_map(results / name / f"{index:05d}.png", labels)


def write_image_set(root: Path, names: list[str], subset: str = "val", year: str = "2017") -> None:
    folder = root / "ImageSets" / year
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{subset}.txt").write_text("\n".join(names) + "\n")


def square(
    shape: tuple[int, int],
    top: int,
    left: int,
    size: int,
    value: int = 1,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """A label map (new, or ``labels`` updated) with a ``size`` x ``size`` square of ``value``."""
    out = np.zeros(shape, np.uint8) if labels is None else labels
    out[top : top + size, left : left + size] = value
    return out
