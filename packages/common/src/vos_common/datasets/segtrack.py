"""SegTrackv2 reader (evaluation.md 1.5); RCF's resized copy is read by :class:`~.fbms.RCFResized`.

``JPEGImages/<seq>/`` (PNG or BMP), ``GroundTruth/<seq>/<frame>.<ext>`` for one object or
``GroundTruth/<seq>/<k>/<frame>.<ext>`` per object (masks matched to frames by stem, since
their extension may differ), ``ImageSets/all.txt`` (names with a leading ``*``) and
``ImageSets/<seq>.txt`` (a path-prefix line, then frame names without extension).

Masks are 3-channel, 255 = object, with a few intermediate values at the edges: a pixel is
foreground when channel 0 is ``>= mask_threshold`` (default 128, RCF's evaluator rule
``value / 255 > 0.5``; pass 1 for the non-zero rule).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vos_common.datasets.base import (
    SequenceDataset,
    ThresholdMaskLoader,
    VideoSequence,
    annotations_by_frame,
    files_by_stem,
    natural_key,
    pick_frames,
    read_list_file,
    require_dir,
    select_names,
    sequence_frames,
)
from vos_common.errors import VOSDataError
from vos_common.io.frames import FRAME_EXTENSIONS


class SegTrackObjectsLoader:
    """Combines the per-object binary masks of one frame into an id map ``(H, W)`` uint8.

    ``annotation_paths`` holds one file per frame (the first object's); this loader knows
    the other objects' files of that frame. Where objects overlap, the higher id wins;
    with ``merge`` every object becomes id 1 (the union, UVOS protocol).
    """

    def __init__(self, files_per_frame: dict[Path, list[tuple[int, Path]]], threshold: int,
                 merge: bool):
        self.files_per_frame = files_per_frame
        self.binarise = ThresholdMaskLoader(threshold)
        self.merge = merge

    def __call__(self, path: Path) -> np.ndarray:
        ids = None
        for obj, object_path in self.files_per_frame[Path(path)]:
            mask = self.binarise(object_path)
            if ids is None:
                ids = np.zeros(mask.shape, dtype=np.uint8)
            elif mask.shape != ids.shape:
                raise VOSDataError(object_path, f"object mask is {mask.shape[1]}x{mask.shape[0]}, "
                                                f"the first object's is "
                                                f"{ids.shape[1]}x{ids.shape[0]} (WxH)")
            ids[mask != 0] = 1 if self.merge else obj
        return ids


class SegTrackV2(SequenceDataset):
    """SegTrackv2 at ``root``: instance ids 1..K from the object folders, or one merged object.

    Args:
        merge_objects: union of all objects as id 1 (UVOS evaluation).
        mask_threshold: channel-0 foreground threshold (module doc).
    Without an ``ImageSets`` folder, every folder of ``JPEGImages`` and all its frames are
    read; with one, ``all.txt`` and each ``<seq>.txt`` are required.
    """

    def __init__(self, root: str | os.PathLike, merge_objects: bool = False,
                 mask_threshold: int = 128, sequences: list[str] | None = None):
        root = require_dir(root, "SegTrackv2 root folder")
        image_root = require_dir(root / "JPEGImages", "JPEGImages folder")
        list_dir = root / "ImageSets"
        if list_dir.is_dir():
            source = list_dir / "all.txt"
            names = [line.lstrip("*").strip().rstrip("/")
                     for line in read_list_file(source, "sequence list")]
        else:
            source = image_root
            names = sorted((p.name for p in image_root.iterdir() if p.is_dir()), key=natural_key)
        built = [self._sequence(root, name, merge_objects, mask_threshold, list_dir.is_dir())
                 for name in select_names(names, sequences, source)]
        super().__init__(root, built, {"dataset": "segtrackv2", "merge_objects": merge_objects,
                                       "mask_threshold": mask_threshold})

    @staticmethod
    def _sequence(root: Path, name: str, merge: bool, threshold: int,
                  use_lists: bool) -> VideoSequence:
        folder = root / "JPEGImages" / name
        available = sequence_frames(folder)
        path_prefix = None
        if use_lists:
            list_path = root / "ImageSets" / f"{name}.txt"
            path_prefix, *listed = read_list_file(list_path, "frame list")
            if not listed:
                raise VOSDataError(list_path, "no frame named after the path-prefix line")
            frame_paths = pick_frames(available, listed, list_path, folder)
        else:
            frame_paths = list(available.values())
        frame_names = [p.stem for p in frame_paths]
        gt_dir = require_dir(root / "GroundTruth" / name, "GroundTruth folder")
        object_dirs = sorted((p for p in gt_dir.iterdir() if p.is_dir()),
                             key=lambda p: natural_key(p.name))
        meta = {"dataset": "segtrackv2", "path_prefix": path_prefix, "merge_objects": merge,
                "mask_threshold": threshold}
        if not object_dirs:
            masks = files_by_stem(gt_dir, FRAME_EXTENSIONS, "GroundTruth folder")
            annotations = annotations_by_frame(masks, frame_names, name, extra_allowed=available)
            return VideoSequence(
                name=name, frame_paths=frame_paths, annotation_paths=annotations,
                mask_loader=ThresholdMaskLoader(threshold), object_ids=[1],
                first_appearance={1: min(annotations)} if annotations else {}, meta=meta)
        per_object = [annotations_by_frame(files_by_stem(d, FRAME_EXTENSIONS, "object folder"),
                                           frame_names, name, extra_allowed=available)
                      for d in object_dirs]
        annotated = sorted(set().union(*per_object))
        files_per_frame: dict[Path, list[tuple[int, Path]]] = {}
        annotations = {}
        for index in annotated:
            for obj_dir, table in zip(object_dirs, per_object, strict=True):
                if index not in table:
                    raise VOSDataError(obj_dir / frame_names[index],
                                       "object mask missing for a frame the other objects annotate")
            key = per_object[0][index]
            annotations[index] = key
            files_per_frame[key] = [(obj + 1, table[index]) for obj, table in enumerate(per_object)]
        meta["object_folders"] = [d.name for d in object_dirs]
        return VideoSequence(
            name=name, frame_paths=frame_paths, annotation_paths=annotations,
            mask_loader=SegTrackObjectsLoader(files_per_frame, threshold, merge),
            object_ids=[1] if merge else list(range(1, len(object_dirs) + 1)),
            first_appearance={1: annotated[0]} if merge and annotated else None, meta=meta)
