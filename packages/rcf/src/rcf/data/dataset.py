"""RCF's datasets in the original layout: split files, frame pairs with flows, pseudo-labels.

A split file (``<data_path>/<split>``, e.g. ``trainval.txt``) has one line per sequence:
``JPEGImages/480p/bear/ 00000.jpg 00001.jpg ...``; lines are sorted. Frames, annotations and
the sequence structure are read through :mod:`vos_common.datasets` (``RCFResized`` reads this
list format for DAVIS, SegTrackv2 and FBMS-59 alike). Flows follow the original path rule:
``JPEGImages`` -> ``Flows<suffix>`` / ``BackwardFlows<suffix>``, ``.jpg`` -> ``.npy``, named
after the later frame of the pair (spec §4.3). Every file a run will need is checked when the
dataset is built, so a missing or mis-sized flow stops the run at once with one line.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from vos_common.datasets import RCFResized
from vos_common.errors import VOSDataError
from vos_common.io import frame_size, read_flow_npy, read_frame

from rcf.config import DatasetKwargs, TransformConfig
from rcf.data.transforms import TrainTransform, eval_image


@dataclass
class FrameRef:
    sequence: str
    index: int
    path: Path
    annotation: Path | None


def pl_file_name(sequence: str, frame_stem: str, step: int = 0) -> str:
    return f"pred_seg_{sequence}_{frame_stem}_{step:07d}.png"


def _npy_shape(path: Path) -> tuple:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).shape
    except FileNotFoundError:
        raise VOSDataError(path, "flow file does not exist") from None
    except (ValueError, OSError, EOFError) as err:
        raise VOSDataError(path, f"cannot read .npy flow ({err})") from None


class SplitSequences:
    """The sequences of one split file, in the original's sorted order."""

    def __init__(self, root: str | os.PathLike, split: str):
        self.root = Path(root)
        if not self.root.is_dir():
            raise VOSDataError(self.root, "data_path does not exist")
        list_file = self.root / split
        if not list_file.is_file():
            raise VOSDataError(list_file, "split file does not exist")
        self.list_file = list_file
        dataset = RCFResized(self.root, list_file=list_file, dataset="rcf")
        self.sequences = list(dataset)
        self.folders = {}
        for line in sorted(t for t in list_file.read_text().splitlines() if t.strip()):
            folder = line.split()[0]
            self.folders[[p for p in folder.split("/") if p][-1]] = folder

    def flow_path(self, sequence, later_index: int, direction: str, suffix: str) -> Path:
        top = ("Flows" if direction == "forward" else "BackwardFlows") + suffix
        frame = sequence.frame_paths[later_index]
        relative = frame.relative_to(self.root)
        parts = list(relative.parts)
        parts = [top if p == "JPEGImages" else p for p in parts]
        return self.root.joinpath(*parts).with_suffix(".npy")


class PairDataset(torch.utils.data.Dataset):
    """Training samples: frame pairs ``(t, t+1)`` with forward/backward flow (and pseudo-labels).

    Index ``i`` enumerates every listed frame; the last frame of a sequence is shifted back by
    one, so each sequence's last pair is drawn twice per epoch (as the original does).
    Items: ``imgs [2, 3, h, w]``, ``gt_fw_flows`` / ``gt_bw_flows [1, 2, h, w]``,
    ``pl_masks [2, h, w]`` (stage 2.2), after :class:`TrainTransform`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        kwargs: DatasetKwargs,
        transform_cfg: TransformConfig,
        validate: bool = True,
    ):
        if kwargs.frame_num != 2:
            raise VOSDataError(
                None, "train_dataset_kwargs.frame_num: only frame pairs (2) are supported"
            )
        if kwargs.load_pl != transform_cfg.has_pl:
            raise VOSDataError(
                None, "train_dataset_kwargs.load_pl must match train_transform_kwargs.has_pl"
            )
        self.split = SplitSequences(root, kwargs.split)
        self.kwargs = kwargs
        self.transform = TrainTransform(transform_cfg)
        self.sequences = self.split.sequences
        self.lengths = [len(s) for s in self.sequences]
        self.cumulative = np.cumsum([0] + self.lengths).tolist()
        if kwargs.load_pl:
            if not kwargs.pl_root:
                raise VOSDataError(
                    None, "train_dataset_kwargs.pl_root must be set when load_pl is true"
                )
            self.pl_root = Path(kwargs.pl_root)
            if not self.pl_root.is_dir():
                raise VOSDataError(self.pl_root, "pseudo-label folder (pl_root) does not exist")
        for seq in self.sequences:
            if len(seq) < 2:
                raise VOSDataError(
                    seq.frame_paths[0], f"sequence {seq.name!r} has a single frame: no pair"
                )
        if validate:
            self.validate()

    def __len__(self) -> int:
        return self.cumulative[-1]

    def locate(self, index: int) -> tuple[int, int]:
        seq = bisect_right(self.cumulative, index) - 1
        frame = index - self.cumulative[seq]
        if frame >= self.lengths[seq] - 1:
            frame -= 1
        return seq, frame

    def paths(self, seq_index: int, frame: int) -> dict:
        seq = self.sequences[seq_index]
        suffix = self.kwargs.flow_suffix
        out = {"frames": [seq.frame_paths[frame], seq.frame_paths[frame + 1]]}
        if self.kwargs.load_flow:
            out["fw"] = self.split.flow_path(seq, frame + 1, "forward", suffix)
            out["bw"] = self.split.flow_path(seq, frame + 1, "backward", suffix)
        if self.kwargs.load_pl:
            out["pl"] = [
                self.pl_root / pl_file_name(seq.name, seq.frame_paths[f].stem)
                for f in (frame, frame + 1)
            ]
        return out

    def validate(self) -> None:
        """Check every flow (exists, ``(H, W, 2)`` matching its frame) and pseudo-label file."""
        for s, seq in enumerate(self.sequences):
            height, width = frame_size(seq.frame_paths[0])
            for frame in range(len(seq) - 1):
                paths = self.paths(s, frame)
                for key in ("fw", "bw") if self.kwargs.load_flow else ():
                    shape = _npy_shape(paths[key])
                    if len(shape) != 3 or shape[2] != 2:
                        raise VOSDataError(
                            paths[key], f"expected an (H, W, 2) flow array, found shape {shape}"
                        )
                    if shape[:2] != (height, width):
                        raise VOSDataError(
                            paths[key],
                            f"flow is {shape[1]}x{shape[0]} but its frames are {width}x{height}",
                        )
                for path in paths.get("pl", []):
                    if not path.is_file():
                        raise VOSDataError(path, "pseudo-label file does not exist")

    def __getitem__(self, index: int) -> dict:
        seq_index, frame = self.locate(index)
        paths = self.paths(seq_index, frame)
        images = [read_frame(p) for p in paths["frames"]]
        flows = {}
        if self.kwargs.load_flow:
            flows = {
                "gt_fw_flows": [read_flow_npy(paths["fw"])],
                "gt_bw_flows": [read_flow_npy(paths["bw"])],
            }
        pls = None
        if "pl" in paths:
            pls = []
            for path in paths["pl"]:
                try:
                    with Image.open(path) as image:
                        pls.append(np.asarray(image.convert("L")))
                except (OSError, ValueError) as err:
                    raise VOSDataError(path, f"cannot read pseudo-label ({err})") from None
        sample = self.transform(images, flows, pls)
        sample["index"] = torch.tensor(index)
        return sample


class FrameDataset(torch.utils.data.Dataset):
    """Evaluation / export frames of a split, one frame each, in listed order.

    ``subsample`` keeps every n-th frame (the per-epoch validation uses 10; ``-1`` keeps the
    first frame only). Annotations are required unless ``zero_ann`` (as the original's loader).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        kwargs: DatasetKwargs,
        transform_cfg: TransformConfig,
        subsample: int | None = None,
        require_annotations: bool = True,
    ):
        self.split = SplitSequences(root, kwargs.split)
        self.transform_cfg = transform_cfg
        self.zero_ann = kwargs.zero_ann
        self.items: list[FrameRef] = []
        for seq in self.split.sequences:
            indices = list(range(len(seq)))
            if subsample == -1:
                indices = indices[:1]
            elif subsample:
                indices = indices[::subsample]
            for index in indices:
                annotation = seq.annotation_paths.get(index)
                if annotation is None and require_annotations and not kwargs.zero_ann:
                    expected = Path(
                        str(seq.frame_paths[index]).replace("JPEGImages", "Annotations")
                    ).with_suffix(".png")
                    raise VOSDataError(
                        expected,
                        "annotation does not exist (set test_dataset_kwargs.zero_ann "
                        "true to export frames without ground truth)",
                    )
                self.items.append(FrameRef(seq.name, index, seq.frame_paths[index], annotation))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        ref = self.items[index]
        image = read_frame(ref.path)
        sample = {"image": eval_image(image, self.transform_cfg), "index": torch.tensor(index)}
        if ref.annotation is not None and not self.zero_ann:
            with Image.open(ref.annotation) as ann:
                sample["ann"] = torch.from_numpy(np.asarray(ann.convert("RGB"))[..., 0].copy())
        return sample
