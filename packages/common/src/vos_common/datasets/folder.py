"""Ad-hoc inputs: a plain folder of frames, or a video file, with an optional first-frame mask."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vos_common.datasets.base import VideoSequence, list_frames, require_dir
from vos_common.errors import VOSDataError
from vos_common.io.frames import frame_size, write_frame
from vos_common.io.masks import open_mask_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def first_mask_loader(path: Path) -> np.ndarray:
    """A user's first-frame mask as object ids ``(H, W)`` uint8.

    Palette PNGs, and grey images holding values other than exactly {0, 255}, are id maps
    (raw values); a 0/255 grey mask or any colour image is binary: non-zero channel 0 -> id 1.
    """
    image = open_mask_image(path)
    values = np.asarray(image)
    if image.mode == "P":
        return values.astype(np.uint8)
    if image.mode == "L" and not set(np.unique(values).tolist()) <= {0, 255}:
        return values.astype(np.uint8)
    if values.ndim == 3:
        values = values[..., 0]
    return (values != 0).astype(np.uint8)


def _first_mask_fields(first_mask: str | os.PathLike | None) -> dict:
    if first_mask is None:
        return {}
    path = Path(first_mask)
    if not path.is_file():
        raise VOSDataError(path, "first-frame mask does not exist")
    return {"annotation_paths": {0: path}, "mask_loader": first_mask_loader}


def read_frame_folder(path: str | os.PathLike, first_mask: str | os.PathLike | None = None,
                      name: str | None = None) -> VideoSequence:
    """Every image of a folder (jpg/png/bmp/...) in natural order as one sequence.

    ``first_mask`` (optional) becomes the annotation of frame 0 (see :func:`first_mask_loader`);
    if it lies inside the folder it is not taken as a frame. Objects are found by reading it.
    """
    folder = require_dir(path, "frame folder")
    mask = None if first_mask is None else Path(first_mask).resolve()
    frames = [p for p in list_frames(folder) if p.resolve() != mask]
    if not frames:
        raise VOSDataError(folder, "folder has no frames (jpg, png, bmp, ...)")
    return VideoSequence(name=name or folder.resolve().name, frame_paths=frames,
                         meta={"dataset": "frames", "source": folder},
                         **_first_mask_fields(first_mask))


@dataclass
class VideoFileSequence(VideoSequence):
    """A sequence decoded lazily from a video file with OpenCV.

    ``frame_paths`` are placeholders ``<video>/<index:05d>`` naming the frames; frames are
    read sequentially from a kept-open capture (reopened to go backwards), which is exact
    where seeking by frame number is not for many codecs. A lock serialises readers (the
    capture has one position), e.g. the thread pool of ``iter_samples``.
    """

    video_path: Path = field(default=Path())

    def __post_init__(self) -> None:
        super().__post_init__()
        self._capture = None
        self._position = 0
        self._lock = threading.Lock()

    def read_frame(self, index: int) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` of frame ``index`` (negative indices count from the end)."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: frame {index} out of range (video has {len(self)})")
        with self._lock:
            try:
                return self._decode(index)
            except VOSDataError:
                self.close()  # the capture's position is unknown after a failed read
                raise

    def _decode(self, index: int) -> np.ndarray:
        if self._capture is None or index < self._position:
            self.close()
            self._capture = _open_video(self.video_path)
            self._position = 0
        while self._position < index:
            if not self._capture.grab():
                raise VOSDataError(self.video_path, f"cannot decode frame {self._position}")
            self._position += 1
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            raise VOSDataError(self.video_path, f"cannot decode frame {index}")
        self._position += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    @property
    def original_size(self) -> tuple[int, int]:
        if self.size is None:
            self.size = self.read_frame(0).shape[:2]
        return self.size

    def validate(self, check_masks: bool = True) -> None:
        """Decode every frame once (a truncated video fails here), then check the masks."""
        for index in range(len(self)):
            self.read_frame(index)
        for index, path in self.annotation_paths.items():
            if not path.is_file():
                raise VOSDataError(path, f"missing annotation of sequence {self.name!r}")
            if check_masks:
                self.read_mask(index)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_lock"]
        state["_capture"], state["_position"] = None, 0
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _open_video(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(os.fspath(path))
    if not capture.isOpened():
        capture.release()
        raise VOSDataError(path, "cannot open video (missing codec, or not a video file)")
    return capture


def _count_frames(path: Path) -> tuple[int, tuple[int, int], float]:
    """Decode the whole video once: ``(frame count, (H, W), fps)``; no frame -> VOSDataError."""
    capture = _open_video(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        ok, first = capture.read()
        if not ok or first is None:
            raise VOSDataError(path, "cannot decode any frame (corrupt or empty video)")
        count = 1
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count, first.shape[:2], fps


def read_video(path: str | os.PathLike, first_mask: str | os.PathLike | None = None,
               cache_dir: str | os.PathLike | None = None,
               name: str | None = None) -> VideoSequence:
    """A video file (mp4, avi, ...) as one sequence of RGB frames named ``00000``, ``00001``...

    Without ``cache_dir`` frames are decoded lazily (:class:`VideoFileSequence`). With it,
    every frame is decoded once to ``<cache_dir>/<index:05d>.png`` (reused while the video's
    size and modification time match ``source.json`` there) and a plain frame sequence is
    returned. The video is decoded once up front to count its frames, since container
    frame counts are unreliable; a file that cannot be opened or decoded raises.
    """
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, "video file does not exist")
    name = name or path.stem
    mask_fields = _first_mask_fields(first_mask)
    if cache_dir is not None:
        return _cached_video(path, Path(cache_dir), name, mask_fields)
    count, size, fps = _count_frames(path)
    return VideoFileSequence(
        name=name, frame_paths=[path / f"{i:05d}" for i in range(count)], size=size,
        meta={"dataset": "video", "source": path, "fps": fps}, video_path=path, **mask_fields)


def _cached_video(path: Path, cache_dir: Path, name: str, mask_fields: dict) -> VideoSequence:
    stat = path.stat()
    stamp = {"source": os.fspath(path.resolve()), "bytes": stat.st_size,
             "mtime_ns": stat.st_mtime_ns}
    stamp_path = cache_dir / "source.json"
    frames = [cache_dir / f"{i:05d}.png" for i in range(_cached_count(stamp_path, stamp))]
    if not frames or not all(p.is_file() for p in frames):
        cache_dir.mkdir(parents=True, exist_ok=True)
        capture = _open_video(path)
        frames = []
        try:
            while True:
                ok, bgr = capture.read()
                if not ok or bgr is None:
                    break
                frames.append(cache_dir / f"{len(frames):05d}.png")
                write_frame(frames[-1], cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            capture.release()
        if not frames:
            raise VOSDataError(path, "cannot decode any frame (corrupt or empty video)")
        stamp_path.write_text(json.dumps({**stamp, "frames": len(frames)}), encoding="utf-8")
    return VideoSequence(name=name, frame_paths=frames, size=frame_size(frames[0]),
                         meta={"dataset": "video", "source": path, "cache_dir": cache_dir},
                         **mask_fields)


def _cached_count(stamp_path: Path, stamp: dict) -> int:
    """Frames recorded by a previous decode of the same file, or 0."""
    try:
        recorded = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in stamp.items()):
        return 0
    frames = recorded.get("frames")
    return frames if isinstance(frames, int) and frames > 0 else 0


def discover_sequences(path: str | os.PathLike) -> list[VideoSequence]:
    """Sequences under ``path``: one video file, one folder of frames, or a folder of those.

    A folder holding images directly is one sequence named after the folder; otherwise each
    sub-folder holding images and each video file inside is a sequence (natural name order).
    """
    from vos_common.datasets.base import natural_key

    path = Path(path)
    if not path.exists():
        raise VOSDataError(path, "frames path does not exist")
    if path.is_file():
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return [read_video(path)]
        raise VOSDataError(path, f"not a folder and not a video file ({', '.join(VIDEO_EXTENSIONS)})")
    if list_frames(path):
        return [read_frame_folder(path)]
    sequences: list[VideoSequence] = []
    for child in sorted(path.iterdir(), key=lambda p: natural_key(p.name)):
        if child.name.startswith("."):
            continue
        if child.is_dir() and list_frames(child):
            sequences.append(read_frame_folder(child))
        elif child.is_file() and child.suffix.lower() in VIDEO_EXTENSIONS:
            sequences.append(read_video(child))
    if not sequences:
        raise VOSDataError(path, "no frames found: neither images in the folder nor sequence folders/videos in it")
    return sequences
