"""FC pre-training samples: two random resized crops of one frame, with their boxes (spec 2.3, 3).

Each view is a random resized crop (area fraction ``U(min_crop, max_crop)``, aspect ratio
log-uniform in [3/4, 4/3], up to 10 attempts, then a central fallback crop; parameters drawn from
Python's ``random``), resized to ``img_size²`` with PIL bilinear, then ``ToTensor`` and the
CIFAR-10 normalisation the original uses for training. No flip, colour jitter or blur. The box of
a ``w × h`` crop at column ``j``, row ``i`` of a ``W × H`` frame is
``(j/(W-1), i/(H-1), (j+w-1)/(W-1), (i+h-1)/(H-1))``.

Sampling per epoch follows the original ``RandomClipSamplerFrame``: every video contributes
``min(frames, clips_per_video)`` clips, drawn without replacement; all draws are shuffled by the
trainer. The dataset reads the epoch from :attr:`FramePairs.epoch_source` (the trainer's sampler)
so that which frames a video contributes changes every epoch and is exactly reproducible on resume.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from vos_common.errors import VOSDataError
from vos_common.training import derive_seed

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


@dataclass(frozen=True)
class Crop:
    """Crop of ``w × h`` pixels whose top-left corner is at row ``i``, column ``j``."""

    i: int
    j: int
    h: int
    w: int

    def box(self, height: int, width: int) -> tuple[float, float, float, float]:
        """Normalised ``(x0, y0, x1, y1)`` of the crop in a ``height × width`` frame."""
        return (
            self.j / (width - 1),
            self.i / (height - 1),
            (self.j + self.w - 1) / (width - 1),
            (self.i + self.h - 1) / (height - 1),
        )


def random_resized_crop(
    height: int,
    width: int,
    scale=(0.0, 1.0),
    ratio=(3 / 4, 4 / 3),
    rng: random.Random | None = None,
) -> Crop:
    """Crop parameters as the classic ``RandomResizedCrop.get_params``, drawn from ``random``."""
    rng = rng or random
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = rng.uniform(*scale) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return Crop(rng.randint(0, height - h), rng.randint(0, width - w), h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return Crop((height - h) // 2, (width - w) // 2, h, w)


def crop_view(image: Image.Image, crop: Crop, size: int) -> torch.Tensor:
    """The crop resized to ``size²`` (PIL bilinear), CIFAR-normalised ``(3, size, size)``."""
    patch = image.crop((crop.j, crop.i, crop.j + crop.w, crop.i + crop.h))
    patch = patch.resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(patch, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(3, 1, 1)
    return (x - mean) / std


def load_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise VOSDataError(path, "frame does not exist") from None
    except OSError as err:
        raise VOSDataError(path, f"cannot decode frame ({err})") from None


class FramePairs(Dataset):
    """Item ``n`` = ``(video, slot)``; returns two views and boxes of the clip drawn for that slot.

    Returns ``{"view1": (T, 3, S, S), "view2": ..., "box1": (T, 4), "box2": ...}`` with
    ``T = clip_len`` frames spaced ``frame_step`` apart.
    """

    def __init__(
        self,
        videos: Sequence[Sequence[Path]],
        img_size: int = 256,
        min_crop: float = 0.0,
        max_crop: float = 1.0,
        clip_len: int = 1,
        frame_step: int = 1,
        clips_per_video: int = 80,
        seed: int = 0,
    ):
        self.videos = [list(v) for v in videos]
        self.img_size, self.scale = img_size, (min_crop, max_crop)
        self.clip_len, self.frame_step = clip_len, frame_step
        self.seed = seed
        span = (clip_len - 1) * frame_step
        self.starts = [max(0, len(v) - span) for v in self.videos]  # clip start positions
        if not any(self.starts):
            raise VOSDataError(None, f"no video has {span + 1} frames for clips of {clip_len}")
        self.items = [
            (v, slot)
            for v, count in enumerate(self.starts)
            for slot in range(min(count, clips_per_video))
        ]
        self.epoch_source = None  # anything with an ``epoch`` attribute (the trainer's sampler)

    def __len__(self) -> int:
        return len(self.items)

    def clip_start(self, video: int, slot: int) -> int:
        """Start frame of ``slot``: a (seed, epoch, video)-seeded permutation of the starts."""
        epoch = 0 if self.epoch_source is None else int(self.epoch_source.epoch)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, video))
        return int(torch.randperm(self.starts[video], generator=generator)[slot])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        video, slot = self.items[index]
        start = self.clip_start(video, slot)
        views, boxes = ([], []), ([], [])
        for t in range(self.clip_len):
            image = load_rgb(self.videos[video][start + t * self.frame_step])
            for k in range(2):
                crop = random_resized_crop(image.height, image.width, self.scale)
                views[k].append(crop_view(image, crop, self.img_size))
                boxes[k].append(
                    torch.tensor(crop.box(image.height, image.width), dtype=torch.float32)
                )
        return {
            "view1": torch.stack(views[0]),
            "view2": torch.stack(views[1]),
            "box1": torch.stack(boxes[0]),
            "box2": torch.stack(boxes[1]),
        }
