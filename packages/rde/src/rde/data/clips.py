"""Five-frame training clips (stages 1-3: BL30K, DAVIS 2017 + YouTube-VOS 2019).

Per sample (the original ``dataset/vos_dataset.py``):

* frame indices for a video of ``n`` frames and ``s = min(n, max_skip)``: a start drawn from
  ``[0, max(max_skip // 2 + 1, n - 5 s + 1))``, then four increments of ``1..s+1``, the j-th new
  index clipped to ``min(n - 1, n - s // j)`` (j = 1..4); reversed with probability ½. (A start
  beyond the last frame, which the original's sampler can draw for short videos and then
  retries, is redrawn up to three times and then clipped.)
* per clip: horizontal flip + RandomResizedCrop (scale 0.36–1, BL30K 0.25–1; bicubic images,
  nearest masks), colour jitter (0.1, 0.03, 0.03, 0), 5 % grayscale; per frame: affine (±15°,
  shear 10; fill = mean colour / 0) and jitter (0.01, 0.01, 0.01, 0);
* a target object from frame 0's labels and a second one if present (selector (1, 1), else
  (1, 0) and an empty mask); frame 0 without labels → resample (up to 5 times); BL30K keeps
  only large enough objects (``vos_common.stm.bl30k_object_filter``);
* the frame-0 masks of both objects are perturbed (``perturb_min``..``perturb_max`` IoU).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from vos_common.datasets.base import list_frames
from vos_common.errors import VOSDataError
from vos_common.stm import bl30k_object_filter, choose_objects

from rde.data.perturb import iou_targets, perturb_mask

IM_MEAN = (124, 116, 104)
NORMALISE = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
NUM_FRAMES = 5


def reseed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def sample_five_frames(n: int, max_skip: int) -> list[int]:
    """Five frame indices of an ``n``-frame video (module doc); NumPy's global generator."""
    s = min(n, max_skip)
    for _ in range(3):
        start = np.random.randint(max(max_skip // 2 + 1, n - NUM_FRAMES * s + 1))
        if start < n:
            break
    start = min(start, n - 1)
    indices = [start]
    for j in range(1, NUM_FRAMES):
        nxt = indices[-1] + np.random.randint(s + 1) + 1
        indices.append(min(nxt, n - s // j, n - 1))
    if np.random.rand() < 0.5:
        indices = indices[::-1]
    return indices


class VideoClips(Dataset):
    """5-frame, up-to-two-object clips from ``image_root/<video>/`` + ``mask_root/<video>/``."""

    def __init__(self, image_root, mask_root, max_skip: int = 5, is_bl: bool = False,
                 subset: list[str] | None = None,
                 crop: int | tuple[int, int] | list[int] = 384, perturb_min: float = 0.85,
                 perturb_max: float = 1.0, perturb_group: int = 1, skip_divisor: int = 1,
                 frame_affine: bool = True):
        self.image_root, self.mask_root = Path(image_root), Path(mask_root)
        if not self.image_root.is_dir():
            raise VOSDataError(self.image_root, "training frame folder does not exist")
        self.is_bl = is_bl
        self.skip_divisor = skip_divisor
        self.max_skip = max_skip // skip_divisor
        self.perturb = (perturb_min, perturb_max, perturb_group)
        self.videos, self.frames = [], {}
        for video in sorted(p.name for p in self.image_root.iterdir() if p.is_dir()):
            if subset is not None and video not in subset:
                continue
            frames = [p.stem for p in list_frames(self.image_root / video)]
            if len(frames) < 3:
                continue
            self.frames[video] = frames
            self.videos.append(video)
        if not self.videos:
            raise VOSDataError(self.image_root, "no training video with at least 3 frames")
        interp_im, interp_gt = InterpolationMode.BICUBIC, InterpolationMode.NEAREST
        scale = (0.25, 1.0) if is_bl else (0.36, 1.0)
        self.pair_im_lone = transforms.ColorJitter(0.01, 0.01, 0.01, 0)
        # per-frame affine (the original's); off only for from-scratch smoke runs
        degrees, shear = (15, 10) if frame_affine else (0, 0)
        self.pair_im_dual = transforms.RandomAffine(degrees=degrees, shear=shear,
                                                    interpolation=interp_im, fill=IM_MEAN)
        self.pair_gt_dual = transforms.RandomAffine(degrees=degrees, shear=shear,
                                                    interpolation=interp_gt, fill=0)
        self.all_im_lone = transforms.Compose([transforms.ColorJitter(0.1, 0.03, 0.03, 0),
                                               transforms.RandomGrayscale(0.05)])
        # an int is the original's square crop; [height, width] a rectangular one (aspect-ratio
        # range the original's 3/4..4/3 times width / height), e.g. the frames' own shape
        size = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
        ratio = (3 / 4 * size[1] / size[0], 4 / 3 * size[1] / size[0])
        self.all_im_dual = transforms.Compose([
            transforms.RandomHorizontalFlip(),
            transforms.RandomResizedCrop(size, scale=scale, ratio=ratio, interpolation=interp_im)])
        self.all_gt_dual = transforms.Compose([
            transforms.RandomHorizontalFlip(),
            transforms.RandomResizedCrop(size, scale=scale, ratio=ratio, interpolation=interp_gt)])
        self.final_im = transforms.Compose([transforms.ToTensor(), NORMALISE])
        self.crop = crop

    def set_max_skip(self, value: int) -> None:
        """Curriculum value (YouTube-VOS divides it by 5: annotations every 5th frame)."""
        self.max_skip = value // self.skip_divisor

    def __len__(self) -> int:
        return len(self.videos)

    def _frame_paths(self, video: str, name: str) -> tuple[Path, Path]:
        image = self.image_root / video / f"{name}.jpg"
        if not image.is_file():
            candidates = list_frames(self.image_root / video)
            image = next(p for p in candidates if p.stem == name)
        return image, self.mask_root / video / f"{name}.png"

    def __getitem__(self, idx: int) -> dict:
        video = self.videos[idx]
        frames = self.frames[video]
        targets = iou_targets(*self.perturb)
        for _ in range(5):
            indices = sample_five_frames(len(frames), self.max_skip)
            sequence_seed = np.random.randint(2147483647)
            images, masks = [], []
            for f in indices:
                image_path, mask_path = self._frame_paths(video, frames[f])
                if not mask_path.is_file():
                    raise VOSDataError(mask_path, "training annotation does not exist")
                reseed(sequence_seed)
                with Image.open(image_path) as img:
                    im = self.all_im_lone(self.all_im_dual(img.convert("RGB")))
                reseed(sequence_seed)
                with Image.open(mask_path) as png:
                    gt = self.all_gt_dual(png.convert("P"))
                pairwise_seed = np.random.randint(2147483647)
                reseed(pairwise_seed)
                im = self.pair_im_lone(self.pair_im_dual(im))
                reseed(pairwise_seed)
                gt = self.pair_gt_dual(gt)
                images.append(self.final_im(im))
                masks.append(np.array(gt))
            keep = bl30k_object_filter if self.is_bl else None
            target, second = choose_objects(masks, keep=keep)
            if target is not None:
                break
        images = torch.stack(images, 0)
        masks = np.stack(masks, 0)
        tar = (masks == (target if target is not None else -1)).astype(np.float32)[:, None]
        first_p = np.stack([perturb_mask(255 * tar[0, 0], u) / 255 for u in targets])[:, None]
        if second is not None:
            sec = (masks == second).astype(np.float32)[:, None]
            sec_p = np.stack([perturb_mask(255 * sec[0, 0], u) / 255 for u in targets])[:, None]
            selector = torch.tensor([1.0, 1.0])
        else:
            sec = np.zeros_like(tar)
            sec_p = np.zeros_like(first_p)
            selector = torch.tensor([1.0, 0.0])
        cls_gt = np.zeros((NUM_FRAMES, *masks.shape[1:]), dtype=np.int64)
        cls_gt[tar[:, 0] > 0.5] = 1
        cls_gt[sec[:, 0] > 0.5] = 2
        return {"rgb": images, "gt": torch.from_numpy(tar), "sec_gt": torch.from_numpy(sec),
                "pgt": torch.from_numpy(first_p.astype(np.float32)),
                "sec_pgt": torch.from_numpy(sec_p.astype(np.float32)),
                "cls_gt": torch.from_numpy(cls_gt), "selector": selector}
