"""DAVIS readers: 2017 (semi-supervised and unsupervised) and 2016 (original or derived from 2017).

Layouts follow evaluation.md 1.1 / 1.2: ``JPEGImages/<res>/<seq>/00000.jpg``,
``Annotations[_unsupervised]/<res>/<seq>/00000.png`` (indexed PNGs, raw ids),
``ImageSets/<year>/<split>.txt``. Optional pre-computed flows are picked up from RCF's
``Flows_NewCT/<res>/<seq>/`` and ``BackwardFlows_NewCT/<res>/<seq>/`` (named after the later
frame) and from a user ``flow_root`` with ``{forward,backward}_gap<g>/<seq>/<frame>.flo``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vos_common.datasets.base import (
    SequenceDataset,
    VideoSequence,
    annotations_by_frame,
    binary_mask_loader,
    files_by_stem,
    gap_flow_paths,
    indexed_mask_loader,
    later_frame_flow_paths,
    read_list_file,
    require_dir,
    select_names,
    sequence_frames,
)
from vos_common.errors import VOSDataError
from vos_common.io.masks import VOID_LABEL, read_label_map

DAVIS2017_TASKS = ("semi-supervised", "unsupervised")
DAVIS2016_GT_SOURCES = ("davis2016-original", "davis2017-binarised")
OBJECT_RULE = "ids 1..K, K = largest id of the first annotated frame (void 255 removed)"
_TEST_SPLITS = ("test-dev", "test-challenge")


@dataclass
class DAVISSequence(VideoSequence):
    """A DAVIS 2017 sequence whose object set follows the official evaluator.

    Objects are ``1..K`` with ``K`` the largest id in the first annotated frame once void
    (255) is removed: an id ``<= K`` absent from that frame still counts, a later id ``> K``
    is ignored. Every object is taken as given on that first annotated frame.
    """

    def _scan_objects(self) -> None:
        if not self.annotation_paths:
            count, first_index = 0, 0
        else:
            first_index = self.annotated_frames[0]
            ids = self.read_mask(first_index, check_size=False)
            ids = ids[ids != VOID_LABEL]
            count = int(ids.max()) if ids.size else 0
        if self.object_ids is None:
            self.object_ids = list(range(1, count + 1))
        if self.first_appearance is None:
            self.first_appearance = {obj: first_index for obj in self.object_ids}


def binarised_label_loader(path: Path) -> np.ndarray:
    """DAVIS-2016 foreground from a 2017 indexed annotation: id 1 wherever label > 0."""
    return (read_label_map(path) > 0).astype(np.uint8)


def _flow_tables(root: Path, resolution: str, name: str, frame_names: list[str],
                 folder_order: list[str], flow_root: str | os.PathLike | None) -> dict:
    """RCF ``.npy`` flows (later-frame naming) plus any gap folders under ``flow_root``."""
    tables = later_frame_flow_paths(root / "Flows_NewCT" / resolution / name,
                                    root / "BackwardFlows_NewCT" / resolution / name,
                                    frame_names, folder_order)
    tables.update(gap_flow_paths(flow_root, name, frame_names))
    return tables


def _folder_sequence(root: Path, name: str, resolution: str, annotation_dir: str | None,
                     mask_loader, flow_root, sequence_type=VideoSequence,
                     **fields) -> VideoSequence:
    """A sequence made of every frame of ``JPEGImages/<res>/<name>`` and its annotation folder.

    ``annotation_dir=None`` means the annotations are withheld (no folder expected).
    """
    frames = sequence_frames(root / "JPEGImages" / resolution / name)
    frame_names = list(frames)
    annotations: dict[int, Path] = {}
    if annotation_dir is not None:
        masks = files_by_stem(root / annotation_dir / resolution / name, (".png",),
                              "annotation folder")
        annotations = annotations_by_frame(masks, frame_names, name)
    return sequence_type(
        name=name,
        frame_paths=list(frames.values()),
        annotation_paths=annotations,
        mask_loader=mask_loader,
        flow_paths=_flow_tables(root, resolution, name, frame_names, frame_names, flow_root),
        **fields,
    )


class DAVIS2017(SequenceDataset):
    """DAVIS 2017 (also 2019 unsupervised) at ``root`` (the folder holding ``JPEGImages/``).

    Args:
        split: ``train``, ``val``, ``test-dev``, ``test-challenge`` (any ``ImageSets`` name works).
        task: ``semi-supervised`` (``Annotations``; test splits ship only ``00000.png``) or
            ``unsupervised`` (``Annotations_unsupervised``, 255 = void; the official reader
            takes the test-dev / test-challenge lists from ``ImageSets/2019``, where no GT is
            shipped, so a missing annotation folder there means "withheld").
        resolution: ``480p`` or ``Full-Resolution`` (frame widths vary, never assumed).
        sequences: optional subset of names.
        flow_root: optional folder of ``{forward,backward}_gap<g>/<seq>/<frame>.flo``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", task: str = "semi-supervised",
                 resolution: str = "480p", sequences: list[str] | None = None,
                 flow_root: str | os.PathLike | None = None):
        root = require_dir(root, "DAVIS root folder")
        if task not in DAVIS2017_TASKS:
            raise VOSDataError(None, f"unknown DAVIS task {task!r} "
                                     f"(expected one of {', '.join(DAVIS2017_TASKS)})")
        unsupervised = task == "unsupervised"
        year = "2019" if unsupervised and split in _TEST_SPLITS else "2017"
        list_path = root / "ImageSets" / year / f"{split}.txt"
        names = select_names(read_list_file(list_path, "ImageSets sequence list"), sequences,
                             list_path)
        annotation_dir = "Annotations_unsupervised" if unsupervised else "Annotations"
        withheld = unsupervised and split in _TEST_SPLITS
        built = []
        for name in names:
            has_annotations = not withheld or (root / annotation_dir / resolution / name).is_dir()
            sequence = _folder_sequence(
                root, name, resolution, annotation_dir if has_annotations else None,
                indexed_mask_loader, flow_root, sequence_type=DAVISSequence,
                void_label=VOID_LABEL if unsupervised else None,
                meta={"dataset": "davis2017", "split": split, "task": task,
                      "resolution": resolution, "object_rule": OBJECT_RULE},
            )
            if not unsupervised and 0 not in sequence.annotation_paths:
                missing = (root / annotation_dir / resolution / name
                           / f"{sequence.frame_names[0]}.png")
                raise VOSDataError(missing, "first-frame annotation does not exist "
                                            "(semi-supervised needs it)")
            built.append(sequence)
        super().__init__(root, built, {"dataset": "davis2017", "split": split, "task": task,
                                       "resolution": resolution, "list_file": list_path,
                                       "object_rule": OBJECT_RULE})


class DAVIS2016(SequenceDataset):
    """DAVIS 2016: one object per sequence, mask = any non-zero pixel, ``object_ids == [1]``.

    Args:
        root: the original 2016 release, or a 2017 trainval root.
        gt_source: ``davis2016-original`` (``ImageSets/<res>/<split>.txt``, one line per FRAME
            ``/JPEGImages/480p/<seq>/<f>.jpg /Annotations/480p/<seq>/<f>.png``; 0/255 grey
            masks, channel 0), ``davis2017-binarised`` (names from ``ImageSets/2016/<split>.txt``
            of a 2017 root, foreground = 2017 label > 0), or ``auto`` (the original list if it
            exists, else the 2017-derived one). Recorded in ``meta["gt_source"]``.
        split: ``train``, ``val`` (``trainval`` in the original release).
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", resolution: str = "480p",
                 gt_source: str = "auto", sequences: list[str] | None = None,
                 flow_root: str | os.PathLike | None = None):
        root = require_dir(root, "DAVIS root folder")
        original_list = root / "ImageSets" / resolution / f"{split}.txt"
        derived_list = root / "ImageSets" / "2016" / f"{split}.txt"
        if gt_source == "auto":
            if original_list.is_file():
                gt_source = "davis2016-original"
            elif derived_list.is_file():
                gt_source = "davis2017-binarised"
            else:
                raise VOSDataError(root, f"no DAVIS-2016 list: neither {original_list} nor "
                                         f"{derived_list} exists")
        if gt_source not in DAVIS2016_GT_SOURCES:
            raise VOSDataError(None, f"unknown gt_source {gt_source!r} (expected auto or one of "
                                     f"{', '.join(DAVIS2016_GT_SOURCES)})")
        meta = {"dataset": "davis2016", "split": split, "resolution": resolution,
                "gt_source": gt_source}
        if gt_source == "davis2016-original":
            list_path = original_list
            built = self._from_frame_list(root, list_path, resolution, sequences, flow_root, meta)
        else:
            list_path = derived_list
            names = select_names(read_list_file(list_path, "ImageSets sequence list"), sequences,
                                 list_path)
            built = []
            for name in names:
                sequence = _folder_sequence(root, name, resolution, "Annotations",
                                            binarised_label_loader, flow_root, object_ids=[1],
                                            meta=dict(meta))
                annotated = sequence.annotated_frames
                sequence.first_appearance = {1: annotated[0]} if annotated else {}
                built.append(sequence)
        super().__init__(root, built, {**meta, "list_file": list_path})

    @staticmethod
    def _from_frame_list(root: Path, list_path: Path, resolution: str, wanted: list[str] | None,
                         flow_root, meta: dict) -> list[VideoSequence]:
        """Group the per-frame lines of an original 2016 ImageSets file into sequences."""
        entries: dict[str, list[tuple[str, str | None]]] = {}
        for line in read_list_file(list_path, "ImageSets frame list"):
            fields = line.split()
            parts = [part for part in fields[0].split("/") if part]
            if len(parts) < 4:
                raise VOSDataError(list_path, f"cannot find the sequence in line {line!r} "
                                              "(expected /JPEGImages/<res>/<seq>/<frame>)")
            mask = fields[1] if len(fields) > 1 else None
            entries.setdefault(parts[2], []).append((fields[0], mask))
        listings: dict[Path, dict[str, Path]] = {}

        def existing(relative: str, what: str) -> Path:
            path = root.joinpath(*[part for part in relative.split("/") if part])
            if path.parent not in listings:
                listings[path.parent] = (files_by_stem(path.parent, (path.suffix.lower(),), what)
                                         if path.parent.is_dir() else {})
            found = listings[path.parent].get(path.stem)
            if found is None or found.name != path.name:
                raise VOSDataError(path, f"{what} listed in {list_path} does not exist")
            return found

        built = []
        for name in select_names(list(entries), wanted, list_path):
            frame_paths = [existing(frame, "frame") for frame, _ in entries[name]]
            annotations = {index: existing(mask, "annotation")
                           for index, (_, mask) in enumerate(entries[name]) if mask is not None}
            frame_names = [path.stem for path in frame_paths]
            folder_order = list(sequence_frames(frame_paths[0].parent))
            built.append(VideoSequence(
                name=name, frame_paths=frame_paths, annotation_paths=annotations,
                mask_loader=binary_mask_loader, object_ids=[1],
                first_appearance={1: min(annotations)} if annotations else {},
                flow_paths=_flow_tables(root, resolution, name, frame_names, folder_order,
                                        flow_root),
                meta=dict(meta),
            ))
        return built
