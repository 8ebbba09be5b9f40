"""Frames for flow computation: any :class:`VideoSequence`, frame files, or RGB arrays in memory."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vos_common.datasets.base import VideoSequence
from vos_common.errors import VOSDataError
from vos_common.io.frames import read_frame


class FrameReader:
    """Frames of one sequence by index, keeping the last ``cache_size`` decoded ones.

    Flow for gaps up to ``g`` reads each frame about ``2 * len(directions)`` times in a
    sliding window; the small cache avoids re-decoding. ``frames`` is a ``VideoSequence``
    (frame folders, video files, any dataset), a list of frame files (named by their stems),
    or RGB uint8 arrays ``(T, H, W, 3)`` (named ``00000, 00001, ...`` unless
    ``frame_names`` are given).
    """

    def __init__(self, frames: VideoSequence | Sequence[np.ndarray] | np.ndarray,
                 name: str = "sequence", frame_names: Sequence[str] | None = None,
                 cache_size: int = 8):
        if isinstance(frames, FrameReader):
            name, frame_names, frames = frames.name, frames.frame_names, frames.frames
        if (not isinstance(frames, VideoSequence) and len(frames)
                and isinstance(frames[0], (str, os.PathLike))):
            frames = VideoSequence(name=name, frame_paths=[Path(p) for p in frames])
        self.frames = frames
        if isinstance(frames, VideoSequence):
            self.name = frames.name
            self.frame_names = frames.frame_names
        else:
            self.name = name
            self.frame_names = (list(frame_names) if frame_names is not None
                                else [f"{i:05d}" for i in range(len(frames))])
            if len(self.frame_names) != len(frames):
                raise ValueError(f"{len(self.frame_names)} frame names for {len(frames)} frames")
        if not self.frame_names:
            raise VOSDataError(None, f"sequence {self.name!r} has no frames")
        self.cache_size = max(2, cache_size)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.frame_names)

    def read(self, index: int) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` of frame ``index``."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if isinstance(self.frames, VideoSequence):
            frame = self.frames.read_frame(index)
        else:
            frame = np.asarray(self.frames[index])
        self._cache[index] = frame
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return frame

    def describe(self, index: int) -> str:
        """Where frame ``index`` comes from, for error messages."""
        if isinstance(self.frames, VideoSequence):
            return str(self.frames.frame_paths[index])
        return f"{self.name}/{self.frame_names[index]}"
