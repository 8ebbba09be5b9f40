"""Animated previews: GIF (Pillow) and MP4 (OpenCV, MPEG-4 part 2 ``mp4v``), written atomically.

Both writers take RGB uint8 frames ``(H, W, 3)`` of one size and need no dependency beyond the
data layer's. The file appears at its path only once it is complete (temporary file in the
same folder, then a rename).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vos_common.io.atomic import atomic_path
from vos_common.viz.panels import as_rgb

VIDEO_SUFFIXES = (".gif", ".mp4")


def _frames_of_one_size(frames: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    size = None
    for index, frame in enumerate(frames):
        frame = as_rgb(frame)
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise ValueError(
                f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, "
                f"frame 0 is {size[1]}x{size[0]}: all frames must have one size"
            )
        yield frame


def write_gif(
    path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 10.0, loop: int = 0
) -> int:
    """Write an animated GIF; returns the number of frames given.

    Each frame gets its own adaptive 256-colour palette. GIF delays are multiples of 10 ms, so
    ``fps`` is rounded accordingly; ``loop=0`` repeats forever. Pillow stores consecutive
    identical frames as one frame shown for their summed duration (the animation is the same).
    """
    images = [Image.fromarray(frame) for frame in _frames_of_one_size(frames)]
    if not images:
        raise ValueError("a GIF needs at least one frame")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    duration = max(10, int(round(100.0 / fps)) * 10)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=loop
        )
    return len(images)


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 10.0) -> int:
    """Write an MP4 (``mp4v``, readable by OpenCV and common players); returns the frame count.

    Frames are streamed to the encoder (an iterator of frames is never held in memory). The
    codec needs even sizes: an odd height or width gets one replicated row / column.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    count = 0
    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in _frames_of_one_size(frames):
                pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
                if pad[0][1] or pad[1][1]:
                    frame = np.pad(frame, pad, mode="edge")
                if writer is None:
                    writer = cv2.VideoWriter(
                        str(tmp),
                        cv2.VideoWriter_fourcc(*"mp4v"),
                        float(fps),
                        (frame.shape[1], frame.shape[0]),
                    )
                    if not writer.isOpened():
                        raise RuntimeError(f"{path}: OpenCV cannot open an mp4v video writer")
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                count += 1
        finally:
            if writer is not None:
                writer.release()
        if count == 0:
            raise ValueError("an MP4 needs at least one frame")
    return count


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 10.0) -> int:
    """:func:`write_gif` or :func:`write_mp4` by the path's suffix (``.gif`` / ``.mp4``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return write_gif(path, frames, fps)
    if suffix == ".mp4":
        return write_mp4(path, frames, fps)
    raise ValueError(
        f"{path}: unknown video suffix {suffix!r} (expected one of {', '.join(VIDEO_SUFFIXES)})"
    )
