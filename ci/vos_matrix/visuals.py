"""Pictures of a cell (vos_common.viz): a contact sheet of ground truth | prediction overlays on
a few frames of the first evaluated video, and a GIF of the same over the whole video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from vos_common.io import atomic_save, read_label_map
from vos_common.viz import contact_sheet, side_by_side, write_gif

SHEET_FRAMES = 4


def _prediction(results: Path, sequence, index: int, binary: bool) -> np.ndarray | None:
    path = results / sequence.name / f"{sequence.frame_names[index]}.png"
    if not path.is_file():
        return None
    labels = read_label_map(path)
    return (labels > 0).astype(np.uint8) if binary else labels


def _ground_truth(sequence, index: int, binary: bool) -> np.ndarray | None:
    if not sequence.has_mask(index):
        return None
    mask = sequence.read_mask(index)
    if sequence.void_label is not None:
        mask = np.where(mask == sequence.void_label, 0, mask)
    return (mask > 0).astype(np.uint8) if binary else mask


def cell_pictures(sequences, results: Path, out: Path, title: str, binary: bool) -> dict[str, str]:
    """Write ``out/contact_sheet.png`` and ``out/overlay.gif``; returns their paths."""
    sequence = sequences[0]
    panels, indices = [], []
    for index in range(len(sequence)):
        prediction = _prediction(results, sequence, index, binary)
        if prediction is None:
            continue
        frame = np.asarray(sequence.read_frame(index))
        panels.append(side_by_side(frame, _ground_truth(sequence, index, binary), prediction))
        indices.append(index)
    if not panels:
        raise FileNotFoundError(f"{results / sequence.name}: no prediction to draw")
    picks = sorted(
        {round(i * (len(panels) - 1) / max(1, SHEET_FRAMES - 1)) for i in range(SHEET_FRAMES)}
    )
    sheet = contact_sheet(
        [panels[i] for i in picks],
        [f"{title} | {sequence.name} frame {sequence.frame_names[indices[i]]}" for i in picks],
        columns=1,
    )
    out.mkdir(parents=True, exist_ok=True)
    sheet_path, gif_path = out / "contact_sheet.png", out / "overlay.gif"
    atomic_save(sheet_path, lambda tmp: Image.fromarray(sheet).save(tmp, format="PNG"))
    write_gif(gif_path, panels, fps=6)
    return {"contact_sheet": str(sheet_path), "gif": str(gif_path)}


def _upscale(image: np.ndarray, factor: int) -> np.ndarray:
    import cv2

    if factor == 1:
        return image
    return cv2.resize(
        image, (image.shape[1] * factor, image.shape[0] * factor), interpolation=cv2.INTER_NEAREST
    )


def most_visible(sequences) -> object:
    """The sequence whose ground truth covers the most of its emptiest annotated frame."""

    def coverage(sequence) -> float:
        return min(float((sequence.read_mask(i) > 0).mean()) for i in sequence.annotated_frames)

    return max(sequences, key=coverage)


def overview_sheet(
    sequence, columns: list[tuple[str, Path]], binary: bool, frames: int = 3
) -> np.ndarray:
    """One video, a few frames (rows) x ground truth and each method's prediction (columns)."""
    from vos_common.viz import add_title, overlay_mask

    factor = max(1, round(192 / sequence.original_size[0]))  # small synthetic frames: enlarge

    picks = sorted({round((i + 1) * (len(sequence) - 1) / frames) for i in range(frames)})
    images, titles = [], []
    for index in picks:
        frame = np.asarray(sequence.read_frame(index))
        truth = _ground_truth(sequence, index, binary)
        images.append(
            overlay_mask(
                frame,
                truth if truth is not None else np.zeros(frame.shape[:2], np.uint8),
                contours=True,
            )
        )
        titles.append(f"ground truth, frame {index}")
        for name, results in columns:
            prediction = _prediction(results, sequence, index, binary)
            if prediction is None:
                prediction = np.zeros(frame.shape[:2], np.uint8)
            images.append(overlay_mask(frame, prediction, contours=True))
            titles.append(name)
    images = [
        add_title(_upscale(image, factor), title)
        for image, title in zip(images, titles, strict=True)
    ]
    return contact_sheet(images, columns=len(columns) + 1)


def write_overview(path: Path, sequence, columns: list[tuple[str, Path]], binary: bool) -> str:
    sheet = overview_sheet(sequence, columns, binary)
    atomic_save(path, lambda tmp: Image.fromarray(sheet).save(tmp, format="PNG", optimize=True))
    return str(path)
