"""``VideoSequence``: the one description of a video that every reader returns.

A sequence knows its ordered frame files, its (possibly sparse) annotation files, the
objects and where each first appears, optional pre-computed flows by direction and gap,
and its original size. Nothing is decoded until asked for (lazy loading).

Flow convention everywhere in vos-suite: ``read_flow(t, gap=g, direction="forward")`` is
the displacement of every pixel of frame ``t`` to frame ``t + g``; ``"backward"`` is from
frame ``t`` to frame ``t - g``. Readers translate each dataset's own naming to this (RCF
stores the forward flow ``t -> t+1`` under the name of frame ``t + 1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vos_common.errors import VOSDataError
from vos_common.io.flow import read_flow
from vos_common.io.frames import frame_size, read_frame
from vos_common.io.masks import check_mask_size, read_binary_mask, read_label_map

MaskLoader = Callable[[Path], np.ndarray]
FlowLoader = Callable[[Path], np.ndarray]


def indexed_mask_loader(path: Path) -> np.ndarray:
    """Object ids from an indexed PNG (DAVIS 2017, YouTube-VOS)."""
    return read_label_map(path)


def binary_mask_loader(path: Path) -> np.ndarray:
    """Object id 1 wherever a binary mask is non-zero (DAVIS 2016 rule)."""
    return read_binary_mask(path).astype(np.uint8)


@dataclass
class VideoSequence:
    """One video: frames, sparse annotations, objects, flows; everything read lazily.

    Attributes:
        name: sequence / video id.
        frame_paths: ordered frame files, ``T`` of them.
        annotation_paths: frame index -> annotation file, only for annotated frames.
        mask_loader: turns an annotation file into an ``(H, W)`` uint8 id map.
        object_ids: ids of the objects (``None``: found by reading the annotations).
        first_appearance: object id -> index of the first frame where it is annotated.
        flow_paths: ``(direction, gap)`` -> {frame index -> flow file} (see module doc).
        void_label: id meaning "ignore" (255 in unsupervised DAVIS), or ``None``.
        size: original ``(H, W)``; read from the first frame's header when not given.
        required_frames: frame index -> object ids that must be predicted there
            (YouTube-VOS ``meta.json``); ``None`` means every object on every frame.
        meta: anything format-specific (categories, split, source format, ...).
    """

    name: str
    frame_paths: list[Path]
    annotation_paths: dict[int, Path] = field(default_factory=dict)
    mask_loader: MaskLoader = indexed_mask_loader
    object_ids: list[int] | None = None
    first_appearance: dict[int, int] | None = None
    flow_paths: dict[tuple[str, int], dict[int, Path]] = field(default_factory=dict)
    flow_loader: FlowLoader = read_flow
    void_label: int | None = None
    size: tuple[int, int] | None = None
    required_frames: dict[int, list[int]] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frame_paths = [Path(p) for p in self.frame_paths]
        self.annotation_paths = {int(k): Path(v) for k, v in self.annotation_paths.items()}
        if not self.frame_paths:
            raise VOSDataError(None, f"sequence {self.name!r} has no frames")

    # ------------------------------------------------------------------ frames
    def __len__(self) -> int:
        return len(self.frame_paths)

    @property
    def frame_names(self) -> list[str]:
        """Frame stems (``"00000"``, ...), used to name predictions."""
        return [p.stem for p in self.frame_paths]

    @property
    def original_size(self) -> tuple[int, int]:
        if self.size is None:
            self.size = frame_size(self.frame_paths[0])
        return self.size

    def read_frame(self, index: int) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` of frame ``index``."""
        return read_frame(self.frame_paths[index])

    def frames(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self.read_frame(index)

    # ------------------------------------------------------------- annotations
    @property
    def annotated_frames(self) -> list[int]:
        return sorted(self.annotation_paths)

    def has_mask(self, index: int) -> bool:
        return index in self.annotation_paths

    def read_mask(self, index: int, check_size: bool = True) -> np.ndarray:
        """Object-id map ``(H, W)`` uint8 of an annotated frame (void stays ``void_label``)."""
        if index not in self.annotation_paths:
            raise KeyError(f"{self.name}: frame {index} ({self.frame_paths[index].name}) has no annotation")
        path = self.annotation_paths[index]
        mask = self.mask_loader(path)
        if check_size:
            check_mask_size(mask, self.original_size, path)
        return mask

    def masks(self) -> Iterator[tuple[int, np.ndarray]]:
        for index in self.annotated_frames:
            yield index, self.read_mask(index)

    def _scan_objects(self) -> None:
        first: dict[int, int] = {}
        for index in self.annotated_frames:
            ids = np.unique(self.read_mask(index, check_size=False))
            for obj in ids.tolist():
                if obj == 0 or obj == self.void_label:
                    continue
                first.setdefault(int(obj), index)
        self.first_appearance = first if self.first_appearance is None else self.first_appearance
        if self.object_ids is None:
            self.object_ids = sorted(first)

    def objects(self) -> list[int]:
        """Object ids present in the annotations (void and background excluded)."""
        if self.object_ids is None:
            self._scan_objects()
        return list(self.object_ids)

    def first_frames(self) -> dict[int, int]:
        """Object id -> index of the frame where it is first annotated."""
        if self.first_appearance is None:
            self._scan_objects()
        return dict(self.first_appearance)

    # -------------------------------------------------------------------- flow
    def flow_gaps(self, direction: str = "forward") -> list[int]:
        return sorted(gap for (d, gap) in self.flow_paths if d == direction)

    def has_flow(self, index: int, gap: int = 1, direction: str = "forward") -> bool:
        return index in self.flow_paths.get((direction, gap), {})

    def read_flow(self, index: int, gap: int = 1, direction: str = "forward") -> np.ndarray:
        """Flow ``(H, W, 2)`` float32 from frame ``index`` to ``index +/- gap`` (module doc)."""
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        table = self.flow_paths.get((direction, gap))
        if table is None:
            raise KeyError(f"{self.name}: no {direction} flow with gap {gap}")
        if index not in table:
            raise KeyError(f"{self.name}: no {direction} flow (gap {gap}) for frame {index}")
        return self.flow_loader(table[index])

    # -------------------------------------------------------------- validation
    def validate(self, check_masks: bool = True) -> None:
        """Check that every listed file exists and every mask matches its frame size.

        Raises :class:`VOSDataError` naming the first bad file.
        """
        for path in self.frame_paths:
            if not path.is_file():
                raise VOSDataError(path, f"missing frame of sequence {self.name!r}")
        for index, path in self.annotation_paths.items():
            if not path.is_file():
                raise VOSDataError(path, f"missing annotation of sequence {self.name!r}")
            if check_masks:
                self.read_mask(index)
        for table in self.flow_paths.values():
            for path in table.values():
                if not path.is_file():
                    raise VOSDataError(path, f"missing flow file of sequence {self.name!r}")


def list_frames(folder: str | os.PathLike, extensions: tuple[str, ...] | None = None) -> list[Path]:
    """Image files of a folder sorted naturally (``2.jpg`` before ``10.jpg``)."""
    from vos_common.io.frames import FRAME_EXTENSIONS

    folder = Path(folder)
    if not folder.is_dir():
        raise VOSDataError(folder, "frame folder does not exist")
    extensions = tuple(e.lower() for e in (extensions or FRAME_EXTENSIONS))
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions]
    return sorted(files, key=lambda p: natural_key(p.name))


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``cars1_9`` < ``cars1_10``."""
    import re

    parts = re.split(r"(\d+)", name)
    return tuple(int(part) if part.isdigit() else part for part in parts)


def read_list_file(path: str | os.PathLike, what: str = "list") -> list[str]:
    """Non-empty stripped lines of a split/list file; missing or empty files raise."""
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, f"{what} file does not exist")
    lines = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise VOSDataError(path, f"{what} file is empty")
    return lines
