"""Three-frame training samples from annotated videos (BL30K, YouTube-VOS, DAVIS).

For each sample: three frames with :func:`vos_common.stm.sample_three_frames` (max jump from
the skip curriculum, divided by ``jump_divisor``: 5 for YouTube-VOS), then the reference's
augmentations: shared by the three frames a horizontal flip and a RandomResizedCrop to
``crop`` (scale 0.36-1, 0.25-1 for BL30K; bicubic image, nearest mask) and ColorJitter(0.1,
0.03, 0.03) + RandomGrayscale(0.05); per frame RandomAffine(15 deg, shear 10; bicubic image
filled with the mean colour, nearest mask) and ColorJitter(0.01, 0.01, 0.01). Objects come from
the first sampled frame after augmentation (:func:`vos_common.stm.choose_objects`, with the
BL30K size filter), redrawn up to 5 times when there is none.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.transforms import functional as TF
from vos_common.datasets.base import (
    VideoSequence,
    annotations_by_frame,
    files_by_stem,
    require_dir,
    sequence_frames,
)
from vos_common.errors import VOSDataError
from vos_common.stm import bl30k_object_filter, choose_objects, sample_three_frames

from mivos_prop.data.augment import (
    BICUBIC,
    IM_MEAN,
    NEAREST,
    Jitter,
    affine_params,
    apply_affine,
    seed_python_from_numpy,
    to_normalised_tensor,
)

__all__ = ["VideoTriplets", "folder_sequences"]


def folder_sequences(
    image_root: str | os.PathLike,
    mask_root: str | os.PathLike,
    subset: list[str] | None = None,
    min_frames: int = 3,
) -> list[VideoSequence]:
    """Videos of ``<image_root>/<video>/*.jpg`` with masks ``<mask_root>/<video>/*.png`` (by name).

    Frames without a mask are dropped (YouTube-VOS train is annotated every 5th frame and
    ``train_480p`` keeps only those); videos with fewer than ``min_frames`` are skipped.
    """
    image_root = require_dir(image_root, "training frame folder")
    mask_root = require_dir(mask_root, "training annotation folder")
    names = sorted(p.name for p in image_root.iterdir() if p.is_dir())
    if subset is not None:
        keep = set(subset)
        names = [n for n in names if n in keep]
    videos = []
    for name in names:
        frames = sequence_frames(image_root / name)
        masks = files_by_stem(mask_root / name, (".png",), "annotation folder")
        paired = [stem for stem in frames if stem in masks]
        if len(paired) < min_frames:
            continue
        videos.append(
            VideoSequence(
                name=name,
                frame_paths=[frames[s] for s in paired],
                annotation_paths=annotations_by_frame({s: masks[s] for s in paired}, paired, name),
            )
        )
    if not videos:
        raise VOSDataError(image_root, f"no video with at least {min_frames} annotated frames")
    return videos


class VideoTriplets(Dataset):
    """Samples ``{rgb (3,3,S,S), gt/sec_gt (3,1,S,S), cls_gt (3,S,S), selector (2,), info}``."""

    def __init__(
        self,
        videos: list[VideoSequence],
        crop: int | tuple[int, int] | list[int] = 384,
        is_bl: bool = False,
        jump_divisor: int = 1,
        max_skip: int = 5,
    ):
        self.videos = videos
        self.crop = crop
        # an int is the reference's square crop; (height, width) a rectangular one, whose
        # aspect-ratio range is the reference's (3/4, 4/3) times width / height
        self.size = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
        aspect = self.size[1] / self.size[0]
        self.ratio = (3 / 4 * aspect, 4 / 3 * aspect)
        self.is_bl = is_bl
        self.jump_divisor = jump_divisor
        self.scale = (0.25, 1.0) if is_bl else (0.36, 1.0)
        self.max_skip = max_skip

    def set_max_skip(self, value: int) -> None:
        self.max_skip = value

    @property
    def max_jump(self) -> int:
        return max(1, self.max_skip // self.jump_divisor)

    def __len__(self) -> int:
        return len(self.videos)

    def _load(self, video: VideoSequence, indices: list[int]):
        seed_python_from_numpy()
        flip = random.random() < 0.5
        jitter = Jitter(0.1, 0.03, 0.03, 0, grayscale=0.05)
        first = Image.fromarray(video.read_frame(indices[0]))
        crop = T.RandomResizedCrop.get_params(first, self.scale, self.ratio)
        images, masks = [], []
        for index in indices:
            img = Image.fromarray(video.read_frame(index))
            mask = Image.fromarray(video.read_mask(index))
            if flip:
                img, mask = TF.hflip(img), TF.hflip(mask)
            img = TF.resized_crop(img, *crop, list(self.size), interpolation=BICUBIC)
            mask = TF.resized_crop(mask, *crop, list(self.size), interpolation=NEAREST)
            img = jitter(img)
            params = affine_params(img, 15, shear=10)
            img = apply_affine(img, params, BICUBIC, IM_MEAN)
            mask = apply_affine(mask, params, NEAREST, 0)
            img = Jitter(0.01, 0.01, 0.01, 0)(img)
            images.append(to_normalised_tensor(img))
            masks.append(np.asarray(mask, dtype=np.uint8))
        return torch.stack(images), masks

    def __getitem__(self, idx: int) -> dict:
        video = self.videos[idx]
        target = second = None
        for _ in range(5):
            indices = sample_three_frames(len(video), self.max_jump)
            images, masks = self._load(video, indices)
            target, second = choose_objects(masks, keep=bl30k_object_filter if self.is_bl else None)
            if target is not None:
                break
        stack = np.stack(masks)
        tar = (
            (stack == target).astype(np.float32)[:, None]
            if target is not None
            else np.zeros((3, 1, *self.size), np.float32)
        )
        sec = (
            (stack == second).astype(np.float32)[:, None]
            if second is not None
            else np.zeros_like(tar)
        )
        cls_gt = np.zeros((3, *self.size), dtype=np.int64)
        cls_gt[tar[:, 0] > 0.5] = 1
        cls_gt[sec[:, 0] > 0.5] = 2
        return {
            "rgb": images,
            "gt": torch.from_numpy(tar),
            "sec_gt": torch.from_numpy(sec),
            "cls_gt": torch.from_numpy(cls_gt),
            "selector": torch.tensor([1.0, 1.0 if second is not None else 0.0]),
            "index": torch.tensor(indices),
        }
