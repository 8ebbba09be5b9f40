"""OAST's training and test samples over its ``<Dataset>/<split>/{images,flows,labels}`` layout.

The layout, frame lists and mask binarisation come from :mod:`vos_common.datasets` (``open_dataset
("oast", ...)``): masks of any format are binarised with the non-zero rule, so palette and RGB
masks give {0, 1} targets (the original turns palette PNGs into 0.004). This module adds what is
OAST's own: which datasets and splits each mode reads, YouTube-VOS's frame stride, the PIL
augmentation and the tensors of one sample.

Modes: ``labeled`` (augmented image, flow, mask), ``unlabeled`` (augmented image and flow),
``test`` (resized image, flow, mask when labelled, and optionally a colour-jittered copy
``image_c`` for phase C). Every sample also carries ``dataset``, ``video``, ``stem`` and the
original ``height``/``width``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from vos_common.datasets import open_dataset
from vos_common.datasets.oast import OASTSequence
from vos_common.errors import VOSDataError
from vos_common.io.frames import read_frame

from oast.data.transforms import IMAGENET_MEAN, IMAGENET_STD, augment, colour_jitter, to_network

__all__ = ["MODES", "YOUTUBE_VOS", "FrameRef", "OASTFrames", "default_split"]

MODES = ("labeled", "unlabeled", "test")
YOUTUBE_VOS = "YouTubeVOS-2018"


def default_split(mode: str) -> str:
    """``train`` for labeled mode, ``val`` for unlabeled (Youtube-objects) and test mode."""
    return "train" if mode == "labeled" else "val"


@dataclass(frozen=True)
class FrameRef:
    dataset: str
    sequence: OASTSequence
    index: int


class OASTFrames(Dataset):
    """Frames of several datasets under ``data_dir`` in one mode (see the module doc).

    Args:
        data_dir: folder holding ``<Dataset>/<split>/...``.
        datasets: dataset folder names (e.g. ``["YouTubeVOS-2018", "DAVIS-2016"]``).
        mode: ``labeled``, ``unlabeled`` or ``test``.
        size: network input (H, W).
        youtube_stride: every n-th listed frame of ``YouTubeVOS-2018`` in labeled mode.
        frame_rule: ``oast`` (frames that have a flow picture; label stems when labels are
            sparse) or ``all`` (every image; a missing flow picture is an error). Default
            ``oast``.
        colour_copy: test mode: add ``image_c``, an independently colour-jittered copy.
        max_frames: keep only the first n samples (smoke runs).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        datasets: Sequence[str],
        mode: str,
        size: Sequence[int] = (384, 640),
        *,
        split: str | None = None,
        youtube_stride: int = 10,
        frame_rule: str = "oast",
        colour_copy: bool = False,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        max_frames: int | None = None,
        sequences: Sequence[str] | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        if not datasets:
            raise VOSDataError(data_dir, f"no dataset given for {mode} mode")
        self.mode, self.size = mode, (int(size[0]), int(size[1]))
        self.mean, self.std = tuple(mean), tuple(std)
        self.colour_copy = colour_copy
        self.split = split or default_split(mode)
        self.frames: list[FrameRef] = []
        for name in datasets:
            root = Path(data_dir) / name
            if not root.is_dir():
                raise VOSDataError(
                    root,
                    "dataset folder not found (expected "
                    f"<data_dir>/{name}/{self.split}/images, flows, labels)",
                )
            ds = open_dataset(
                "oast",
                root,
                split=self.split,
                frame_rule=frame_rule,
                sequences=list(sequences) if sequences else None,
            )
            if mode == "labeled" and not ds.meta.get("labelled"):
                raise VOSDataError(
                    root / self.split / "labels", "labeled mode needs a labels folder"
                )
            for seq in ds:
                indices = list(range(len(seq)))
                if mode == "labeled" and name == YOUTUBE_VOS:
                    indices = indices[::youtube_stride]
                for i in indices:
                    if not seq.has_flow_picture(i):
                        expected = seq.frame_paths[i].parent.parent.parent / "flows" / seq.name
                        raise VOSDataError(
                            expected / f"{seq.frame_paths[i].stem}.jpg",
                            "flow picture missing (compute one for every frame: "
                            "python -m vos_common.flow --layout oast)",
                        )
                    if mode == "labeled" and not seq.has_mask(i):
                        raise VOSDataError(seq.frame_paths[i], "frame has no label in labeled mode")
                    self.frames.append(FrameRef(name, seq, i))
        if max_frames is not None:
            self.frames = self.frames[:max_frames]
        if not self.frames:
            raise VOSDataError(
                data_dir, f"no frames found for {mode} mode in {', '.join(datasets)}"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        ref = self.frames[index]
        seq, i = ref.sequence, ref.index
        image = Image.fromarray(read_frame(seq.frame_paths[i]))
        flow = Image.fromarray(seq.read_flow_picture(i))
        if flow.size != image.size:
            raise VOSDataError(
                seq.flow_picture_paths[i],
                f"flow picture is {flow.size[0]}x"
                f"{flow.size[1]}, its frame {image.size[0]}x{image.size[1]}",
            )
        mask = None
        if self.mode != "unlabeled" and seq.has_mask(i):
            mask = Image.fromarray((seq.read_mask(i) > 0).astype(np.uint8) * 255, mode="L")
        width, height = image.size
        if self.mode == "test":
            sample = to_network(image, flow, mask, self.size, self.mean, self.std)
            if self.colour_copy:
                jittered = to_network(
                    colour_jitter(image), flow, None, self.size, self.mean, self.std
                )
                sample["image_c"] = jittered["image"]
        else:
            image, flow, mask = augment(image, flow, mask)
            sample = to_network(image, flow, mask, self.size, self.mean, self.std)
        sample.update(
            dataset=ref.dataset,
            video=seq.name,
            stem=seq.frame_paths[i].stem,
            height=height,
            width=width,
            has_mask=torch.tensor(mask is not None),
        )
        if self.mode == "test" and mask is None:
            sample["mask"] = torch.zeros(1, *self.size)
        return sample
