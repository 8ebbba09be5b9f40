"""``--save-overlay`` for every method CLI: per-frame overlay PNGs plus a GIF / MP4 preview.

A CLI adds the options once and calls :func:`save_overlays` per sequence::

    add_overlay_arguments(parser)
    ...
    if args.save_overlay:
        save_overlays(args.save_overlay / sequence.name, sequence, predictions,
                      **overlay_options(args))
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vos_common.datasets.base import VideoSequence
from vos_common.io.frames import resize_frame, resize_mask, write_frame
from vos_common.io.masks import DAVIS_PALETTE
from vos_common.viz.overlay import overlay_mask
from vos_common.viz.panels import side_by_side
from vos_common.viz.video import write_video

PREVIEW_FORMATS = ("gif", "mp4", "none")


@dataclass
class SavedOverlays:
    """What :func:`save_overlays` wrote: one PNG per frame in order, and the preview or ``None``."""

    frames: list[Path] = field(default_factory=list)
    preview: Path | None = None


def _frame_source(
    frames: VideoSequence | Sequence[np.ndarray] | np.ndarray, names: Sequence[str] | None
) -> tuple[int, Iterable[np.ndarray], list[str]]:
    if isinstance(frames, VideoSequence):
        count, source = len(frames), frames.frames()
        default_names = frames.frame_names
    else:
        count, source = len(frames), iter(frames)
        default_names = [f"{index:05d}" for index in range(count)]
    names = list(default_names if names is None else names)
    if len(names) != count:
        raise ValueError(f"got {count} frames but {len(names)} names")
    return count, source, names


def _preview_frame(image: np.ndarray, width: int | None) -> np.ndarray:
    if width is None or image.shape[1] <= width:
        return image
    height = max(1, int(round(image.shape[0] * width / image.shape[1])))
    return resize_frame(image, (height, width))


def save_overlays(
    out_dir: str | os.PathLike,
    frames: VideoSequence | Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[np.ndarray] | np.ndarray,
    ground_truth: Sequence[np.ndarray | None] | None = None,
    names: Sequence[str] | None = None,
    alpha: float = 0.5,
    contours: bool = True,
    preview: str = "gif",
    fps: float = 10.0,
    preview_width: int | None = 480,
    palette: np.ndarray = DAVIS_PALETTE,
) -> SavedOverlays:
    """Write ``<out_dir>/<frame name>.png`` overlays and ``<out_dir>/preview.gif`` (or ``.mp4``).

    Args:
        frames: a :class:`VideoSequence` (frames read one at a time, names from its files) or
            RGB frames ``(T, H, W, 3)`` uint8.
        labels: predicted id maps, one ``(h, w)`` per frame; resized to the frame with
            nearest-neighbour sampling when their size differs (e.g. 480p predictions over
            full-size frames).
        ground_truth: optional id maps (``None`` for unannotated frames); when given every
            PNG is a ground truth / prediction :func:`side_by_side` panel.
        names: file stems (default: the sequence's frame names, or ``00000``, ``00001``, ...).
        preview: ``"gif"``, ``"mp4"`` or ``"none"``; previews are scaled down to
            ``preview_width`` px (``None`` keeps the size) and play at ``fps``.

    Every file is written atomically.
    """
    if preview not in PREVIEW_FORMATS:
        raise ValueError(f"preview must be one of {', '.join(PREVIEW_FORMATS)}, got {preview!r}")
    count, source, names = _frame_source(frames, names)
    if len(labels) != count:
        raise ValueError(f"got {count} frames but {len(labels)} label maps")
    if ground_truth is not None and len(ground_truth) != count:
        raise ValueError(f"got {count} frames but {len(ground_truth)} ground-truth maps")
    out_dir = Path(out_dir)
    saved = SavedOverlays()
    previews = []
    for index, (frame, name) in enumerate(zip(source, names, strict=True)):
        size = frame.shape[:2]
        prediction = resize_mask(np.asarray(labels[index], dtype=np.uint8), size)
        if ground_truth is None:
            image = overlay_mask(frame, prediction, alpha, palette, contours)
        else:
            truth = ground_truth[index]
            truth = None if truth is None else resize_mask(np.asarray(truth, dtype=np.uint8), size)
            image = side_by_side(
                frame, truth, prediction, alpha=alpha, contours=contours, palette=palette
            )
        path = out_dir / f"{name}.png"
        write_frame(path, image)
        saved.frames.append(path)
        if preview != "none":
            previews.append(_preview_frame(image, preview_width))
    if preview != "none" and previews:
        saved.preview = out_dir / f"preview.{preview}"
        write_video(saved.preview, previews, fps)
    return saved


def add_overlay_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--save-overlay DIR`` and its options (preview, fps, alpha, contours) to a CLI."""
    group = parser.add_argument_group("overlays")
    group.add_argument(
        "--save-overlay",
        type=Path,
        default=None,
        metavar="DIR",
        help="write overlay PNGs of the predictions and a preview per sequence to DIR/<sequence>/",
    )
    group.add_argument(
        "--overlay-preview",
        choices=PREVIEW_FORMATS,
        default="gif",
        help="preview animation per sequence (default: gif)",
    )
    group.add_argument(
        "--overlay-fps", type=float, default=10.0, help="preview frame rate (default: 10)"
    )
    group.add_argument(
        "--overlay-alpha",
        type=float,
        default=0.5,
        help="opacity of the mask colours (default: 0.5)",
    )
    group.add_argument("--overlay-no-contours", action="store_true", help="draw no object outlines")


def overlay_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`save_overlays` from :func:`add_overlay_arguments`' options."""
    return {
        "preview": args.overlay_preview,
        "fps": args.overlay_fps,
        "alpha": args.overlay_alpha,
        "contours": not args.overlay_no_contours,
    }
