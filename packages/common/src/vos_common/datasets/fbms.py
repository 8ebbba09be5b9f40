"""FBMS-59 (original release, evaluation.md 1.4) and RCF's 854x480 "resized" copies.

Original: ``<root>/{Trainingset,Testset}/<seq>/<seq>_<n>.jpg`` (sorted numerically) and
``<seq>/GroundTruth/`` with sparse PGM / PPM masks described by a ``*Def.dat`` file.

Resized (RCF, also used for SegTrackv2): ``JPEGImages/<seq>/00000.jpg``,
``Annotations/<seq>/<frame>.png`` (0/255), ``Flows_NewCT/<seq>/<frame>.npy`` and
``BackwardFlows_NewCT/<seq>/`` (named after the later frame), optional list files with one
line per sequence: ``JPEGImages/<seq>/ 00000.jpg 00001.jpg ...``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vos_common.datasets.base import (
    SequenceDataset,
    ThresholdMaskLoader,
    VideoSequence,
    annotations_by_frame,
    files_by_stem,
    later_frame_flow_paths,
    natural_key,
    pick_frames,
    read_list_file,
    require_dir,
    select_names,
    sequence_frames,
)
from vos_common.errors import VOSDataError
from vos_common.io.masks import open_mask_image

FBMS_SPLITS = {
    "train": ("Trainingset",),
    "test": ("Testset",),
    "val": ("Testset",),  # RCF calls the 30 test sequences "val"
    "trainval": ("Trainingset", "Testset"),
}
FBMS_FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class FBMSDefinition:
    """Content of an FBMS ``*Def.dat`` ground-truth definition file.

    ``region_codes[r]`` is region r's colour code (grey value for PGM, R*65536+G*256+B for
    PPM); ``labelled`` lists ``(frame number, GT file name, input file name)``.
    """

    path: Path
    header: str
    region_codes: list[int]
    penalty: list[list[float]]
    total_frames: int
    labelled: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def background_region(self) -> int:
        """Index of the background region: the one coded 0 if any, else the first listed."""
        return self.region_codes.index(0) if 0 in self.region_codes else 0


class _DefinitionTokens:
    """Walks the lines of a ``Def.dat``, skipping descriptive text between the values.

    A value line is either all numbers or a single file name (one token with an extension);
    any other line (words, e.g. "Total number of frames") is a description and skipped.
    """

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.lines = lines
        self.position = 0
        self.pending: list[str] = []

    def _next_line(self, wanted: str) -> list[str]:
        while self.position < len(self.lines):
            tokens = self.lines[self.position].split()
            self.position += 1
            if tokens and (all(_NUMBER.match(t) for t in tokens) or _is_file_name(tokens)):
                return tokens
        raise VOSDataError(self.path, f"definition file ends before its {wanted}")

    def numbers(self, count: int, wanted: str) -> list[float]:
        values: list[float] = []
        while len(values) < count:
            if not self.pending:
                self.pending = self._next_line(wanted)
                if _is_file_name(self.pending):
                    raise VOSDataError(self.path,
                                       f"expected {wanted}, found file name {self.pending[0]!r}")
            values.append(float(self.pending.pop(0)))
        return values

    def integer(self, wanted: str) -> int:
        value = self.numbers(1, wanted)[0]
        if value != int(value) or value < 0:
            raise VOSDataError(self.path, f"{wanted} must be a non-negative integer, found {value}")
        return int(value)

    def file_name(self, wanted: str) -> str:
        if self.pending:
            raise VOSDataError(self.path,
                               f"expected {wanted}, found extra number {self.pending[0]!r}")
        tokens = self._next_line(wanted)
        if not _is_file_name(tokens):
            raise VOSDataError(self.path, f"expected {wanted}, found {' '.join(tokens)!r}")
        return tokens[0]


def _is_file_name(tokens: list[str]) -> bool:
    return len(tokens) == 1 and "." in tokens[0] and not _NUMBER.match(tokens[0])


def read_fbms_definition(path: str | os.PathLike) -> FBMSDefinition:
    """Parse a ``*Def.dat``: header line, region count N, N colour codes, N x N penalty
    matrix, total frames, labelled-frame count M, then M times (frame number, GT file,
    input file). Descriptive lines between values are tolerated.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except FileNotFoundError:
        raise VOSDataError(path, "definition file does not exist") from None
    if not lines:
        raise VOSDataError(path, "definition file is empty")
    tokens = _DefinitionTokens(path, lines[1:])
    regions = tokens.integer("number of regions")
    if regions < 1:
        raise VOSDataError(path, "definition file declares no region")
    codes = [int(code) for code in tokens.numbers(regions, f"{regions} region colour codes")]
    if len(set(codes)) != len(codes):
        raise VOSDataError(path, f"region colour codes repeat: {codes}")
    flat = tokens.numbers(regions * regions, f"{regions}x{regions} confusion-penalty matrix")
    penalty = [flat[row * regions:(row + 1) * regions] for row in range(regions)]
    total = tokens.integer("total number of frames")
    count = tokens.integer("number of labelled frames")
    labelled = []
    for _ in range(count):
        number = tokens.integer("labelled frame number")
        gt_name = tokens.file_name("ground-truth file name")
        labelled.append((number, gt_name, tokens.file_name("input file name")))
    return FBMSDefinition(path, lines[0].strip(), codes, penalty, total, labelled)


class FBMSRegionLoader:
    """Turns an FBMS PGM/PPM ground truth into region ids ``(H, W)`` uint8.

    Non-background regions get ids 1..N-1 in definition-file order (the background region
    is 0); colours not listed in the definition file are background (reported for
    ``cats04``). With ``binary`` every non-background region becomes 1 (UVOS protocol).
    """

    def __init__(self, definition: FBMSDefinition, binary: bool = False):
        background = definition.background_region
        foreground = [code for r, code in enumerate(definition.region_codes) if r != background]
        self.code_to_id = {code: (1 if binary else i + 1) for i, code in enumerate(foreground)}

    def __call__(self, path: Path) -> np.ndarray:
        image = open_mask_image(path)
        if image.mode == "1":
            image = image.convert("L")
        if image.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L"):  # PGM: grey value = code
            values = np.asarray(image)
            codes = (values[..., 0] if values.ndim == 3 else values).astype(np.int64)
        else:  # PPM (or any colour image): R*65536 + G*256 + B
            rgb = np.asarray(image.convert("RGB")).astype(np.int64)
            codes = rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]
        ids = np.zeros(codes.shape, dtype=np.uint8)
        for code, region in self.code_to_id.items():
            ids[codes == code] = region
        return ids


def _definition_file(gt_dir: Path) -> Path:
    """The one ``*.dat`` of a GroundTruth folder (``*Def.dat`` preferred)."""
    candidates = sorted(p for p in gt_dir.iterdir() if p.is_file() and p.suffix.lower() == ".dat")
    preferred = [p for p in candidates if p.stem.lower().endswith("def")]
    chosen = preferred or candidates
    if len(chosen) != 1:
        problem = "has no *Def.dat definition file" if not chosen else \
            f"has several definition files ({', '.join(p.name for p in chosen)})"
        raise VOSDataError(gt_dir, problem)
    return chosen[0]


class FBMS59(SequenceDataset):
    """Original FBMS-59: sparse annotations mapped through each sequence's ``Def.dat``.

    Args:
        split: ``train`` (Trainingset), ``test`` / ``val`` (Testset) or ``trainval`` (both).
        binary: merge all non-background regions into object 1 (UVOS evaluation);
            otherwise ``object_ids`` are the regions 1..N-1.
    Labelled frames are located by their input file name from ``Def.dat``; the frame
    number, header and penalty matrix stay in ``meta``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "test", binary: bool = False,
                 sequences: list[str] | None = None):
        root = require_dir(root, "FBMS-59 root folder")
        if split not in FBMS_SPLITS:
            raise VOSDataError(None, f"unknown FBMS split {split!r} "
                                     f"(expected one of {', '.join(FBMS_SPLITS)})")
        folders: dict[str, Path] = {}
        for part in FBMS_SPLITS[split]:
            split_dir = require_dir(root / part, "FBMS split folder")
            for entry in sorted(split_dir.iterdir(), key=lambda p: natural_key(p.name)):
                if entry.is_dir():
                    folders[entry.name] = entry
        names = select_names(list(folders), sequences, root)
        built = [self._sequence(folders[name], binary, split) for name in names]
        super().__init__(root, built, {"dataset": "fbms59", "split": split, "binary": binary})

    @staticmethod
    def _sequence(folder: Path, binary: bool, split: str) -> VideoSequence:
        frames = sequence_frames(folder, FBMS_FRAME_EXTENSIONS)
        frame_names = list(frames)
        index = {stem: i for i, stem in enumerate(frame_names)}
        gt_dir = require_dir(folder / "GroundTruth", "GroundTruth folder")
        definition = read_fbms_definition(_definition_file(gt_dir))
        gt_files = {p.name: p for p in gt_dir.iterdir() if p.is_file()}
        annotations: dict[int, Path] = {}
        for number, gt_name, input_name in definition.labelled:
            frame = index.get(Path(input_name).stem)
            if frame is None:
                raise VOSDataError(definition.path,
                                   f"labelled frame {number}: input file {input_name!r} "
                                   f"is not a frame of {folder.name}")
            if gt_name not in gt_files:
                raise VOSDataError(gt_dir / gt_name,
                                   f"ground truth listed in {definition.path.name} does not exist")
            annotations[frame] = gt_files[gt_name]
        regions = len(definition.region_codes) - 1
        return VideoSequence(
            name=folder.name,
            frame_paths=list(frames.values()),
            annotation_paths=dict(sorted(annotations.items())),
            mask_loader=FBMSRegionLoader(definition, binary),
            object_ids=[1] if binary else list(range(1, regions + 1)),
            first_appearance={1: min(annotations)} if binary and annotations else None,
            meta={"dataset": "fbms59", "split": split, "binary": binary,
                  "definition_file": definition.path, "header": definition.header,
                  "region_codes": definition.region_codes,
                  "background_code": definition.region_codes[definition.background_region],
                  "penalty": definition.penalty, "total_frames": definition.total_frames,
                  "labelled_frames": definition.labelled},
        )


def read_rcf_list(path: str | os.PathLike) -> list[tuple[str, list[str]]]:
    """RCF split file: ``[(sequence folder, [frame file names])]``, lines sorted as RCF does.

    Each line is ``<folder relative to the root>/ <frame> <frame> ...``.
    """
    entries = []
    for line in sorted(read_list_file(path, "RCF list")):
        folder, *frames = line.split()
        if not frames:
            raise VOSDataError(path, f"line for {folder!r} lists no frames")
        entries.append((folder, frames))
    return entries


def _swap_top_folder(relative: str, top: str) -> Path:
    """``JPEGImages/<...>`` -> ``<top>/<...>``: RCF's rule for annotation and flow paths."""
    parts = [part for part in relative.split("/") if part]
    if parts and parts[0] == "JPEGImages":
        parts[0] = top
    return Path(*parts)


class RCFResized(SequenceDataset):
    """RCF's resized copies of FBMS-59 and SegTrackv2 (``data_fbms59_resized``, ...).

    Args:
        list_file: optional RCF split file (``val.txt``, ``trainval_ann.txt``...), absolute
            or relative to ``root``; without it every folder of ``JPEGImages/`` with all its
            frames is read.
        mask_threshold: channel-0 value from which an annotation pixel is foreground
            (128 = RCF's ``value / 255 > 0.5``).
        dataset: name recorded in ``meta`` (``fbms59-resized``, ``segtrackv2-resized``).
    Flows: ``read_flow(t, 1, "forward")`` is ``Flows_NewCT/<seq>/<frame t+1>.npy`` and
    ``read_flow(t, 1, "backward")`` is ``BackwardFlows_NewCT/<seq>/<frame t>.npy``.
    """

    def __init__(self, root: str | os.PathLike, list_file: str | os.PathLike | None = None,
                 mask_threshold: int = 128, sequences: list[str] | None = None,
                 dataset: str = "rcf-resized"):
        root = require_dir(root, "RCF resized root folder")
        if list_file is None:
            image_root = require_dir(root / "JPEGImages", "JPEGImages folder")
            folders = sorted((p.name for p in image_root.iterdir() if p.is_dir()), key=natural_key)
            entries = [(f"JPEGImages/{folder}/", None) for folder in folders]
            source: Path = image_root
        else:
            source = Path(list_file)
            if not source.is_absolute() and not source.exists():
                source = root / source
            entries = read_rcf_list(source)
        list_used = None if list_file is None else source
        by_name = {Path(folder).name: (folder, frames) for folder, frames in entries}
        if len(by_name) != len(entries):
            raise VOSDataError(source, "a sequence is listed twice")
        loader = ThresholdMaskLoader(mask_threshold)
        built = []
        for name in select_names(list(by_name), sequences, source):
            folder, listed = by_name[name]
            available = sequence_frames(root / folder)
            frame_paths = list(available.values()) if listed is None else \
                pick_frames(available, listed, source, root / folder)
            frame_names = [p.stem for p in frame_paths]
            annotation_dir = root / _swap_top_folder(folder, "Annotations")
            annotations = {}
            if annotation_dir.is_dir():
                masks = files_by_stem(annotation_dir, (".png",), "annotation folder")
                annotations = annotations_by_frame(masks, frame_names, name,
                                                   extra_allowed=available)
            flows = later_frame_flow_paths(root / _swap_top_folder(folder, "Flows_NewCT"),
                                           root / _swap_top_folder(folder, "BackwardFlows_NewCT"),
                                           frame_names, list(available))
            built.append(VideoSequence(
                name=name, frame_paths=frame_paths, annotation_paths=annotations,
                mask_loader=loader, object_ids=[1] if annotations else [],
                first_appearance={1: min(annotations)} if annotations else {},
                flow_paths=flows, meta={"dataset": dataset, "list_file": list_used},
            ))
        super().__init__(root, built, {"dataset": dataset, "list_file": list_used,
                                       "mask_threshold": mask_threshold})
