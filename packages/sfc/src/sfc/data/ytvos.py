"""YouTube-VOS ``train_all_frames`` with the original's ``ytvos.csv`` (spec 3).

``<root>/train_all_frames/JPEGImages/<video>/<%05d>.jpg`` and ``<root>/ytvos.csv`` with lines
``video_id,first_frame_index,number_of_frames``. The CSV was deleted from the official repository;
when it is missing it is regenerated from the frame folders (first index and count of every
video) — written to the run folder, never into the dataset.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vos_common.datasets import list_frames
from vos_common.datasets.base import require_dir
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

FRAMES_DIR = Path("train_all_frames") / "JPEGImages"
CSV_NAME = "ytvos.csv"


def csv_rows(root: str | os.PathLike) -> list[tuple[str, int, int]]:
    """``(video, first frame index, number of frames)`` of every video folder, sorted by name."""
    frames_dir = require_dir(
        Path(root) / FRAMES_DIR, "YouTube-VOS train_all_frames/JPEGImages folder"
    )
    rows = []
    for folder in sorted((p for p in frames_dir.iterdir() if p.is_dir()), key=lambda p: p.name):
        frames = list_frames(folder, (".jpg", ".jpeg", ".png"))
        if not frames:
            continue
        indices = []
        for frame in frames:
            if not frame.stem.isdigit():
                raise VOSDataError(frame, "frame names must be numbers (00000.jpg, ...)")
            indices.append(int(frame.stem))
        rows.append((folder.name, min(indices), len(indices)))
    if not rows:
        raise VOSDataError(frames_dir, "no video folders with frames")
    return rows


def write_csv(rows: list[tuple[str, int, int]], path: str | os.PathLike) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[tuple[str, int, int]]:
    rows = []
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            try:
                rows.append((row[0], int(row[1]), int(row[2])))
            except (IndexError, ValueError):
                raise VOSDataError(
                    path,
                    f"line {number}: expected 'video_id,first_frame_index,"
                    f"number_of_frames', got {','.join(row)!r}",
                ) from None
    if not rows:
        raise VOSDataError(path, "ytvos.csv is empty")
    return rows


def ytvos_videos(
    root: str | os.PathLike, csv_fallback_dir: str | os.PathLike | None = None, log=print
) -> list[list[Path]]:
    """Frame paths of every video listed in ``<root>/ytvos.csv`` (generated if missing)."""
    root = Path(root).expanduser()
    path = root / CSV_NAME
    if not path.is_file():
        rows = csv_rows(root)
        if csv_fallback_dir is not None:
            path = write_csv(rows, Path(csv_fallback_dir) / CSV_NAME)
            log(f"{root / CSV_NAME} not found: generated {path} ({len(rows)} videos)")
    else:
        rows = read_csv(path)
    frames_dir = root / FRAMES_DIR
    videos = []
    for name, first, count in rows:
        frames = [frames_dir / name / f"{first + i:05d}.jpg" for i in range(count)]
        for frame in (frames[0], frames[-1]):
            if not frame.is_file():
                raise VOSDataError(frame, f"frame listed in {path} does not exist")
        videos.append(frames)
    return videos
