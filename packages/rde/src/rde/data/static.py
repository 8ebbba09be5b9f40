"""Stage-0 pseudo-videos from static image/mask pairs (single object, 3 frames).

Per sample (the original ``dataset/static_dataset.py``): one shared transform for the three
frames (affine scale 0.8–1.5 + flip, jitter (0.1, 0.05, 0.05, 0.05), 5 % grayscale), then per
frame an affine (±20°, scale 0.9–1.1, shear 10; bicubic for image *and* mask), resize of the
shorter side to the crop size, a random crop (padded if needed), jitter (0.1, 0.05, 0.05, 0)
and, with probability 0.33, a thin-plate-spline warp (``vos_common.stm.pseudo_video``). Only
frame 0's mask is perturbed. Folders: FSS-1000 style (``class/1.jpg``, ``class/1.png``) or flat
``name.jpg`` / ``name.png`` pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from vos_common.errors import VOSDataError

from rde.data.clips import IM_MEAN, NORMALISE, reseed
from rde.data.perturb import iou_targets, perturb_mask


def static_pairs(root, per_class_folders: bool = False) -> list[Path]:
    """The ``.jpg`` images of a static dataset folder (masks: same stem, ``.png``)."""
    root = Path(root)
    if not root.is_dir():
        raise VOSDataError(root, "static image folder does not exist")
    if per_class_folders:
        images = [p for c in sorted(root.iterdir()) if c.is_dir()
                  for p in sorted(c.iterdir()) if p.suffix.lower() == ".jpg"]
    else:
        images = sorted(p for p in root.iterdir() if p.suffix.lower() == ".jpg")
    return images


class StaticPseudoVideos(Dataset):
    def __init__(self, images: list[Path], crop: int = 384, perturb_min: float = 0.85,
                 perturb_max: float = 1.0, tps_probability: float = 0.33):
        self.images = list(images)
        self.perturb = (perturb_min, perturb_max)
        self.tps_probability = tps_probability
        bicubic, nearest = InterpolationMode.BICUBIC, InterpolationMode.NEAREST
        self.pair_im_lone = transforms.ColorJitter(0.1, 0.05, 0.05, 0)
        self.pair_im_dual = transforms.Compose([
            transforms.RandomAffine(degrees=20, scale=(0.9, 1.1), shear=10, interpolation=bicubic,
                                    fill=IM_MEAN),
            transforms.Resize(crop, bicubic),
            transforms.RandomCrop((crop, crop), pad_if_needed=True, fill=IM_MEAN)])
        self.pair_gt_dual = transforms.Compose([
            transforms.RandomAffine(degrees=20, scale=(0.9, 1.1), shear=10, interpolation=bicubic,
                                    fill=0),
            transforms.Resize(crop, nearest),
            transforms.RandomCrop((crop, crop), pad_if_needed=True, fill=0)])
        self.all_im_lone = transforms.Compose([transforms.ColorJitter(0.1, 0.05, 0.05, 0.05),
                                               transforms.RandomGrayscale(0.05)])
        self.all_im_dual = transforms.Compose([
            transforms.RandomAffine(degrees=0, scale=(0.8, 1.5), fill=IM_MEAN),
            transforms.RandomHorizontalFlip()])
        self.all_gt_dual = transforms.Compose([
            transforms.RandomAffine(degrees=0, scale=(0.8, 1.5), fill=0),
            transforms.RandomHorizontalFlip()])
        self.final_im = transforms.Compose([transforms.ToTensor(), NORMALISE])
        self.final_gt = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int) -> dict:
        target = iou_targets(*self.perturb)[0]
        path = self.images[idx]
        mask_path = path.with_suffix(".png")
        if not mask_path.is_file():
            raise VOSDataError(mask_path, "mask of a static training image does not exist")
        with Image.open(path) as img:
            im = img.convert("RGB")
        with Image.open(mask_path) as png:
            gt = png.convert("L")
        sequence_seed = np.random.randint(2147483647)
        images, masks = [], []
        for _ in range(3):
            reseed(sequence_seed)
            this_im = self.all_im_lone(self.all_im_dual(im))
            reseed(sequence_seed)
            this_gt = self.all_gt_dual(gt)
            pairwise_seed = np.random.randint(2147483647)
            reseed(pairwise_seed)
            this_im = self.pair_im_lone(self.pair_im_dual(this_im))
            reseed(pairwise_seed)
            this_gt = self.pair_gt_dual(this_gt)
            if np.random.rand() < self.tps_probability:
                from vos_common.stm.pseudo_video import random_tps_warp

                warped, warped_gt = random_tps_warp(np.asarray(this_im), np.asarray(this_gt),
                                                    scale=0.02, rng=np.random.default_rng(
                                                        np.random.randint(2 ** 31)))
                this_im, this_gt = Image.fromarray(warped), Image.fromarray(warped_gt)
            images.append(self.final_im(this_im))
            masks.append(self.final_gt(this_gt))
        images = torch.stack(images, 0)
        masks = torch.stack(masks, 0)
        masks[masks > 1] = 1
        pmask = masks.clone()
        cls_gt = np.zeros((3, *masks.shape[-2:]), dtype=np.int64)
        cls_gt[masks[:, 0].numpy() > 0.5] = 1
        if masks[0, 0].max() == 1:
            pmask[0, 0] = torch.from_numpy(perturb_mask(255 * pmask[0, 0].numpy(), target) / 255)
        return {"rgb": images, "gt": masks, "pgt": pmask, "cls_gt": torch.from_numpy(cls_gt)}
