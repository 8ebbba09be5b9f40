"""OAST's layout (also used for Youtube-Objects): images, colour-coded flow pictures, labels.

``<root>/<split>/images/<video>/<stem>.jpg``, ``flows/<video>/<stem>.jpg`` (RAFT colour
wheel pictures, RGB: not flow vectors, so they are exposed through
:meth:`OASTSequence.read_flow_picture`, never through ``read_flow``) and
``labels/<video>/<stem>.png`` (0/255 grey, one object; absent for Youtube-Objects).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vos_common.datasets.base import (
    SequenceDataset,
    VideoSequence,
    binary_mask_loader,
    files_by_stem,
    natural_key,
    require_dir,
    select_names,
)
from vos_common.errors import VOSDataError
from vos_common.io.frames import read_frame

FRAME_RULES = ("oast", "all")
_PICTURE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass
class OASTSequence(VideoSequence):
    """A video of the OAST layout; ``flow_picture_paths`` maps frame index -> flow picture."""

    flow_picture_paths: dict[int, Path] = field(default_factory=dict)

    def has_flow_picture(self, index: int) -> bool:
        return index in self.flow_picture_paths

    def read_flow_picture(self, index: int) -> np.ndarray:
        """The colour-coded flow picture of frame ``index``, RGB uint8 ``(H, W, 3)``."""
        if index not in self.flow_picture_paths:
            name = self.frame_paths[index].name
            raise KeyError(f"{self.name}: frame {index} ({name}) has no flow picture")
        return read_frame(self.flow_picture_paths[index])


def _video_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


class OASTDataset(SequenceDataset):
    """One split (``train`` / ``val``) of a dataset in OAST's layout under ``root``.

    Args:
        frame_rule: ``oast`` = OAST's rule: the sorted flow-picture stems, replaced by the
            label stems when a video has fewer labels than flow pictures (sparse GT), each
            listed stem required in images, flows and (if labelled) labels; ``all`` = every
            image, with flow pictures and labels attached where they exist.
    The video folders under ``images`` and ``flows`` must be the same set. Frames are in
    natural order (the same as OAST's plain sort for zero-padded names).
    """

    def __init__(self, root: str | os.PathLike, split: str = "val", frame_rule: str = "oast",
                 sequences: list[str] | None = None):
        root = require_dir(root, "OAST dataset folder")
        if frame_rule not in FRAME_RULES:
            raise VOSDataError(None, f"unknown frame rule {frame_rule!r} "
                                     f"(expected one of {', '.join(FRAME_RULES)})")
        split_dir = require_dir(root / split, "split folder")
        image_root = require_dir(split_dir / "images", "images folder")
        flow_root = require_dir(split_dir / "flows", "flows folder")
        label_root = split_dir / "labels"
        videos, flow_videos = _video_folders(image_root), _video_folders(flow_root)
        if set(videos) != set(flow_videos):
            only_images = sorted(set(videos) - set(flow_videos))
            only_flows = sorted(set(flow_videos) - set(videos))
            raise VOSDataError(split_dir, "video folders differ between images/ and flows/: "
                                          f"only in images {only_images}, "
                                          f"only in flows {only_flows}")
        labelled = label_root.is_dir()
        built = []
        for video in select_names(videos, sequences, image_root):
            built.append(self._sequence(split_dir, video, frame_rule, labelled))
        super().__init__(root, built, {"dataset": "oast", "split": split, "frame_rule": frame_rule,
                                       "labelled": labelled})

    @staticmethod
    def _sequence(split_dir: Path, video: str, frame_rule: str, labelled: bool) -> OASTSequence:
        images = files_by_stem(split_dir / "images" / video, _PICTURE_EXTENSIONS, "image folder")
        flows = files_by_stem(split_dir / "flows" / video, _PICTURE_EXTENSIONS,
                              "flow-picture folder")
        labels = (files_by_stem(split_dir / "labels" / video, (".png",), "label folder")
                  if labelled else {})
        if frame_rule == "oast":
            source = labels if labelled and len(labels) < len(flows) else flows
            stems = sorted(source, key=natural_key)
            required = [("image", images, "images"), ("flow picture", flows, "flows")]
            if labelled:
                required.append(("label", labels, "labels"))
            for stem in stems:
                for kind, table, folder in required:
                    if stem not in table:
                        raise VOSDataError(split_dir / folder / video / stem,
                                           f"{kind} of a listed frame does not exist")
        else:
            stems = sorted(images, key=natural_key)
        if not stems:
            raise VOSDataError(split_dir / "images" / video, "video has no frames")
        annotations = {i: labels[s] for i, s in enumerate(stems) if s in labels}
        return OASTSequence(
            name=video,
            frame_paths=[images[s] for s in stems],
            annotation_paths=annotations,
            mask_loader=binary_mask_loader,
            object_ids=[1] if annotations else [],
            first_appearance={1: min(annotations)} if annotations else {},
            flow_picture_paths={i: flows[s] for i, s in enumerate(stems) if s in flows},
            meta={"dataset": "oast", "split": split_dir.name, "frame_rule": frame_rule},
        )
