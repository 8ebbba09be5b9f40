"""The test script's inputs (spec 4.2): a filelist of ``<frame folder> <annotation folder>`` lines.

Frames are every image of the frame folder in natural order (``00000.jpg`` …); frame 0's label
is the first annotation of the annotation folder, read as a 3-channel BGR colour image. Unlike
the original loader, only frame 0's annotation is needed (the original reads one per frame and
uses only the first), and nothing is cached next to the dataset (the original writes
``*_onehot.npy`` / ``*_size{h}x{w}.npy`` beside every annotation).

``cropSize > 0`` reproduces the original: frames *and the colour label image* are resized to a
square ``cropSize × cropSize`` with bilinear interpolation (the intended nearest-neighbour flag
lands in the wrong argument of ``cv2.resize``, so blended colours become extra classes);
``fix_crop_labels`` resizes the label image with nearest neighbour instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from vos_common.datasets import VideoSequence, list_frames
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError
from vos_common.io import frame_size

from sfc.inference.labels import read_annotation_bgr

ANNOTATION_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class FilelistVideo:
    """One filelist line: its index (names the outputs ``<index>_<t>_mask.png``) and files."""

    index: int
    line: int
    frame_dir: Path
    label_dir: Path
    frames: list[Path]
    annotations: list[Path]

    @property
    def name(self) -> str:
        """Sequence name: the frame folder's name (DAVIS ``JPEGImages/480p/<seq>``)."""
        return self.frame_dir.name

    @property
    def size(self) -> tuple[int, int]:
        return frame_size(self.frames[0])

    def sequence(self) -> VideoSequence:
        return VideoSequence(name=self.name, frame_paths=self.frames)


def _folder(text: str, filelist: Path, line: int, what: str) -> Path:
    path = Path(os.path.expanduser(text))
    if not path.is_dir():
        raise VOSDataError(
            path, f"{what} folder does not exist (filelist {filelist.name} line {line})"
        )
    return path


def read_filelist(path: str | os.PathLike) -> list[FilelistVideo]:
    """Parse and check every line: folders exist, frames and a first annotation are there."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VOSDataError(path, "filelist does not exist")
    videos = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise VOSDataError(
                path, f"line {number}: expected '<frame folder> <annotation folder>'"
            )
        frame_dir = _folder(fields[0], path, number, "frame")
        label_dir = _folder(fields[1], path, number, "annotation")
        frames = list_frames(frame_dir)
        if not frames:
            raise VOSDataError(frame_dir, "frame folder has no images")
        annotations = list_frames(label_dir, ANNOTATION_EXTENSIONS)
        if not annotations:
            raise VOSDataError(label_dir, "annotation folder has no annotation images")
        videos.append(FilelistVideo(len(videos), number, frame_dir, label_dir, frames, annotations))
    if not videos:
        raise VOSDataError(path, "filelist has no lines")
    return videos


def first_annotation(
    video: FilelistVideo, crop_size: int = -1, fix_crop_labels: bool = False
) -> np.ndarray:
    """Frame 0's annotation as BGR ``(H, W, 3)`` (resized as the original does if cropping)."""
    bgr = read_annotation_bgr(video.annotations[0])
    size = video.size
    if bgr.shape[:2] != size:
        raise VOSDataError(
            video.annotations[0],
            f"annotation is {bgr.shape[1]}x{bgr.shape[0]} but frame "
            f"{video.frames[0].name} is {size[1]}x{size[0]} (WxH)",
        )
    if crop_size > 0:
        interpolation = cv2.INTER_NEAREST if fix_crop_labels else cv2.INTER_LINEAR
        bgr = cv2.resize(bgr, (crop_size, crop_size), interpolation=interpolation)
    return bgr


def unit_frame(rgb: np.ndarray, crop_size: int = -1) -> np.ndarray:
    """float32 RGB in [0, 1] as the original loader makes it (square bilinear if cropping)."""
    unit = rgb.astype(np.float32) / 255.0
    if crop_size > 0:
        unit = cv2.resize(unit, (crop_size, crop_size))
    return unit


def iter_unit_frames(
    video: FilelistVideo, crop_size: int = -1, workers: int = 2
) -> Iterator[np.ndarray]:
    """Frames in order as float32 RGB in [0, 1]; decoding runs ahead on ``workers`` threads."""
    size = video.size
    for sample in iter_samples(video.sequence(), masks=False, workers=workers, prefetch=4):
        if sample.frame.shape[:2] != size:
            path = video.frames[sample.index]
            raise VOSDataError(
                path,
                f"frame is {sample.frame.shape[1]}x{sample.frame.shape[0]} but "
                f"frame {video.frames[0].name} is {size[1]}x{size[0]} (WxH)",
            )
        yield unit_frame(sample.frame, crop_size)
