"""Stage 0: three-frame pseudo-videos from static image/mask pairs (single object).

Shared by the three frames: RandomAffine(no rotation, scale 0.8-1.5; nearest for image and
mask), a horizontal flip, ColorJitter(0.1, 0.05, 0.05, 0.05) + RandomGrayscale(0.05) on the
image. Per frame: RandomAffine(20 deg, scale 0.9-1.1, shear 10; **bicubic for the mask too**, so
it becomes soft), resize of the shorter side to ``crop`` (bicubic image, nearest mask), a
random ``crop`` x ``crop`` crop padded if needed, ColorJitter(0.1, 0.05, 0.05); then with
probability 0.33 a thin-plate-spline warp (:func:`vos_common.stm.pseudo_video.random_tps_warp`,
black border). The soft mask is the target and the frame-0 memory input; ``cls_gt = mask > 0.5``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.transforms import functional as TF
from vos_common.errors import VOSDataError
from vos_common.io import read_frame
from vos_common.io.masks import open_mask_image
from vos_common.stm.pseudo_video import random_tps_warp

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

__all__ = ["StaticPseudoVideos", "static_pairs"]


def static_pairs(root: str | os.PathLike, per_class_folders: bool) -> list[tuple[Path, Path]]:
    """``(image.jpg, mask.png)`` pairs of a flat folder, or of FSS-1000's folder per class."""
    root = Path(root)
    if not root.is_dir():
        raise VOSDataError(root, "static image folder does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if per_class_folders else [root]
    pairs = []
    for folder in folders:
        for image in sorted(folder.glob("*.jpg")):
            mask = image.with_suffix(".png")
            if not mask.is_file():
                raise VOSDataError(mask, f"mask of {image.name} does not exist")
            pairs.append((image, mask))
    if not pairs:
        raise VOSDataError(root, "no image/mask pair (X.jpg + X.png) found")
    return pairs


class StaticPseudoVideos(Dataset):
    """Samples ``{rgb (3,3,S,S), gt (3,1,S,S) soft, cls_gt (3,S,S)}`` from image/mask pairs."""

    def __init__(
        self, pairs: list[tuple[Path, Path]], crop: int = 384, tps_probability: float = 0.33
    ):
        self.pairs = pairs
        self.crop = crop
        self.tps_probability = tps_probability

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, idx: int) -> dict:
        image_path, mask_path = self.pairs[idx]
        im = Image.fromarray(read_frame(image_path))
        gt = open_mask_image(mask_path).convert("L")
        if gt.size != im.size:
            raise VOSDataError(
                mask_path,
                f"mask is {gt.size[0]}x{gt.size[1]} but the image is {im.size[0]}x{im.size[1]}",
            )
        seed_python_from_numpy()
        shared = affine_params(im, 0, scale=(0.8, 1.5))
        flip = random.random() < 0.5
        jitter = Jitter(0.1, 0.05, 0.05, 0.05, grayscale=0.05)
        images, masks = [], []
        for _ in range(3):
            img = apply_affine(im, shared, NEAREST, IM_MEAN)
            mask = apply_affine(gt, shared, NEAREST, 0)
            if flip:
                img, mask = TF.hflip(img), TF.hflip(mask)
            img = jitter(img)
            params = affine_params(img, 20, scale=(0.9, 1.1), shear=10)
            img = apply_affine(img, params, BICUBIC, IM_MEAN)
            mask = apply_affine(mask, params, BICUBIC, 0)
            img = TF.resize(img, self.crop, interpolation=BICUBIC)
            mask = TF.resize(mask, self.crop, interpolation=NEAREST)
            img, mask = self._random_crop(img, mask)
            img = Jitter(0.1, 0.05, 0.05, 0)(img)
            img_np, mask_np = np.asarray(img), np.asarray(mask)
            if np.random.rand() < self.tps_probability:
                img_np, mask_np = random_tps_warp(
                    img_np, mask_np, scale=0.02, rng=np.random.default_rng(np.random.randint(2**31))
                )
            images.append(to_normalised_tensor(Image.fromarray(np.ascontiguousarray(img_np))))
            masks.append(torch.from_numpy(mask_np.astype(np.float32) / 255.0)[None])
        gts = torch.stack(masks)
        cls_gt = (gts[:, 0] > 0.5).long()
        return {"rgb": torch.stack(images), "gt": gts, "cls_gt": cls_gt}

    def _random_crop(self, img: Image.Image, mask: Image.Image):
        width, height = img.size
        pad_w, pad_h = max(0, self.crop - width), max(0, self.crop - height)
        if pad_w or pad_h:
            padding = [pad_w, pad_h, pad_w, pad_h]
            img = TF.pad(img, padding, fill=IM_MEAN)
            mask = TF.pad(mask, padding, fill=0)
        top, left, h, w = T.RandomCrop.get_params(img, (self.crop, self.crop))
        return TF.crop(img, top, left, h, w), TF.crop(mask, top, left, h, w)
