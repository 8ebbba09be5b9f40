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
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vos_common.errors import VOSDataError
from vos_common.io.flow import read_flow
from vos_common.io.frames import frame_size, read_frame
from vos_common.io.masks import open_mask_image
from vos_common.io.masks import check_mask_size, read_binary_mask, read_label_map

MaskLoader = Callable[[Path], np.ndarray]
FlowLoader = Callable[[Path], np.ndarray]


def indexed_mask_loader(path: Path) -> np.ndarray:
    """Object ids from an indexed PNG (DAVIS 2017, YouTube-VOS)."""
    return read_label_map(path)


def binary_mask_loader(path: Path) -> np.ndarray:
    """Object id 1 wherever a binary mask is non-zero (DAVIS 2016 rule)."""
    return read_binary_mask(path).astype(np.uint8)


class ThresholdMaskLoader:
    """Object id 1 where channel 0 of a grey or colour mask is ``>= threshold``, ``(H, W)`` uint8.

    For masks with soft edges (SegTrackv2, RCF's resized copies): 128 matches RCF's
    evaluator (``value / 255 > 0.5``); 1 is the DAVIS-2016 non-zero rule. A class rather
    than a closure so that sequences stay picklable (data-loader workers).
    """

    def __init__(self, threshold: int = 128):
        self.threshold = threshold

    def __call__(self, path: Path) -> np.ndarray:
        values = np.asarray(open_mask_image(path))
        if values.ndim == 3:
            values = values[..., 0]
        return (values >= self.threshold).astype(np.uint8)

    def __repr__(self) -> str:
        return f"ThresholdMaskLoader(threshold={self.threshold})"


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


# --------------------------------------------------------------------------- reader helpers
FLOW_EXTENSIONS = (".flo", ".npy", ".png")
_GAP_FOLDER = re.compile(r"^(forward|backward)_gap(\d+)$")


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a folder, else :class:`VOSDataError` "<what> does not exist"."""
    path = Path(path)
    if not path.is_dir():
        raise VOSDataError(path, f"{what} does not exist")
    return path


def files_by_stem(folder: str | os.PathLike, extensions: tuple[str, ...],
                  what: str = "folder") -> dict[str, Path]:
    """One listing of ``folder``: file stem -> file, for files with one of ``extensions``.

    Matching by stem lets a mask ``00003.bmp`` pair with a frame ``00003.png``. Two files
    sharing a stem (``a.png`` and ``a.bmp``) are ambiguous and raise.
    """
    folder = require_dir(folder, what)
    extensions = tuple(e.lower() for e in extensions)
    found: dict[str, Path] = {}
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if not entry.is_file() or path.suffix.lower() not in extensions:
            continue
        if path.stem in found:
            raise VOSDataError(
                path, f"two files named {path.stem!r} ({found[path.stem].name}, {path.name})")
        found[path.stem] = path
    return found


def sequence_frames(folder: str | os.PathLike,
                    extensions: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Frames of a sequence folder, stem -> file, in natural order; missing or empty raises."""
    from vos_common.io.frames import FRAME_EXTENSIONS

    frames = files_by_stem(folder, extensions or FRAME_EXTENSIONS, "sequence frame folder")
    if not frames:
        raise VOSDataError(folder, "sequence folder has no frames")
    return {stem: frames[stem] for stem in sorted(frames, key=natural_key)}


def pick_frames(available: dict[str, Path], names: Iterable[str], listed_in: str | os.PathLike,
                folder: str | os.PathLike) -> list[Path]:
    """The files of the frames named in a list file (names with or without extension).

    The error names the missing frame and the list file that asked for it.
    """
    picked = []
    for name in names:
        path = available.get(name) or available.get(Path(name).stem)
        if path is None:
            raise VOSDataError(Path(folder) / name, f"frame listed in {listed_in} does not exist")
        picked.append(path)
    return picked


def annotations_by_frame(masks: dict[str, Path], frame_names: list[str], sequence: str,
                         extra_allowed: Iterable[str] = ()) -> dict[int, Path]:
    """Map annotation files (stem -> file) to frame indices by name.

    A mask whose stem is not a frame of the sequence raises, unless listed in
    ``extra_allowed`` (frames that exist on disk but were left out by a list file).
    """
    index = {name: i for i, name in enumerate(frame_names)}
    skipped = set(extra_allowed)
    table: dict[int, Path] = {}
    for stem, path in masks.items():
        if stem in index:
            table[index[stem]] = path
        elif stem not in skipped:
            raise VOSDataError(path, f"annotation has no matching frame in sequence {sequence!r}")
    return dict(sorted(table.items()))


def later_frame_flow_paths(forward_dir: str | os.PathLike | None,
                           backward_dir: str | os.PathLike | None, frame_names: list[str],
                           folder_order: list[str] | None = None,
                           ) -> dict[tuple[str, int], dict[int, Path]]:
    """Gap-1 flow tables for RCF's naming, where a flow file is named after the LATER frame.

    ``Flows_NewCT/<t+1>.npy`` is the flow ``t -> t+1`` (forward, index ``t``);
    ``BackwardFlows_NewCT/<t+1>.npy`` is ``t+1 -> t`` (backward, index ``t+1``).
    ``folder_order`` is the full sorted frame list of the sequence folder: a file is kept
    only if it and its predecessor there are consecutive in ``frame_names`` (a list file may
    select a subset). Absent folders give no table.
    """
    order = frame_names if folder_order is None else folder_order
    position = {name: i for i, name in enumerate(order)}
    listed = {name: i for i, name in enumerate(frame_names)}
    tables: dict[tuple[str, int], dict[int, Path]] = {}
    for direction, folder in (("forward", forward_dir), ("backward", backward_dir)):
        if folder is None or not Path(folder).is_dir():
            continue
        table: dict[int, Path] = {}
        for stem, path in files_by_stem(folder, (".npy", ".flo")).items():
            later = listed.get(stem)
            if later is None or position[stem] == 0:
                continue
            earlier = listed.get(order[position[stem] - 1])
            if earlier is None or earlier + 1 != later:
                continue
            table[earlier if direction == "forward" else later] = path
        if table:
            tables[(direction, 1)] = dict(sorted(table.items()))
    return tables


def gap_flow_paths(flow_root: str | os.PathLike | None, sequence: str, frame_names: list[str],
                   ) -> dict[tuple[str, int], dict[int, Path]]:
    """Flow tables from ``<flow_root>/{forward,backward}_gap<g>/<sequence>/<frame>.<flo|npy|png>``.

    Files are named after the SOURCE frame ``t`` (forward: ``t -> t+g``, backward:
    ``t -> t-g``); a flow whose target frame is outside the sequence is dropped.
    """
    if flow_root is None:
        return {}
    flow_root = require_dir(flow_root, "flow root")
    index = {name: i for i, name in enumerate(frame_names)}
    tables: dict[tuple[str, int], dict[int, Path]] = {}
    for entry in sorted(os.scandir(flow_root), key=lambda e: e.name):
        match = _GAP_FOLDER.match(entry.name)
        folder = Path(entry.path) / sequence
        if not entry.is_dir() or match is None or not folder.is_dir():
            continue
        direction, gap = match.group(1), int(match.group(2))
        step = gap if direction == "forward" else -gap
        table = {index[stem]: path for stem, path in files_by_stem(folder, FLOW_EXTENSIONS).items()
                 if stem in index and 0 <= index[stem] + step < len(frame_names)}
        if table:
            tables[(direction, gap)] = dict(sorted(table.items()))
    return tables


def select_names(names: list[str], wanted: Iterable[str] | None,
                 source: str | os.PathLike) -> list[str]:
    """Keep only the ``wanted`` sequence names (in ``names`` order); an unknown name raises."""
    if wanted is None:
        return names
    wanted = list(wanted)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise VOSDataError(source, f"unknown sequence(s): {', '.join(unknown)}")
    keep = set(wanted)
    return [name for name in names if name in keep]


class SequenceDataset:
    """An ordered collection of :class:`VideoSequence`, addressable by name or position.

    Every reader returns one. ``meta`` holds dataset-level facts (kind, split, GT source...).
    """

    def __init__(self, root: str | os.PathLike, sequences: Iterable[VideoSequence],
                 meta: dict | None = None):
        self.root = Path(root)
        self.sequences = list(sequences)
        self.meta = dict(meta or {})
        self._by_name = {}
        for sequence in self.sequences:
            if sequence.name in self._by_name:
                raise VOSDataError(self.root, f"sequence {sequence.name!r} appears twice")
            self._by_name[sequence.name] = sequence

    @property
    def names(self) -> list[str]:
        return [sequence.name for sequence in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[VideoSequence]:
        return iter(self.sequences)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, key: str | int) -> VideoSequence:
        """A sequence by name (``"bear"``) or by position (``0``)."""
        if not isinstance(key, str):
            return self.sequences[key]
        try:
            return self._by_name[key]
        except KeyError:
            raise KeyError(f"{self.root}: no sequence named {key!r}") from None

    def validate(self, check_masks: bool = True) -> None:
        """Run :meth:`VideoSequence.validate` on every sequence (decodes every mask)."""
        for sequence in self.sequences:
            sequence.validate(check_masks=check_masks)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, sequences={len(self)})"
