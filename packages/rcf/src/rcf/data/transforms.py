"""RCF's augmentations, reproducing the original pipeline op for op without mmcv.

Training (spec §3.4): keep-ratio resize so the short side is ``int(400 r)``, ``r ~ U(0.96, 1)``
(OpenCV bilinear for frames, nearest for flows and pseudo-labels, **flow values not scaled**),
one random 384x384 crop for everything, horizontal flip with p 0.5 (**u not negated**), then a
photometric distortion shared by both frames. Evaluation: short side ``int(400 x 0.98) = 392``.
Random numbers come from NumPy's global generator in the original's order; the training loop
seeds it per sample, so a sample's augmentation is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from rcf.config import TransformConfig

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def rescale_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's keep-ratio rule: ``min(long_max / long, short_max / short)``, sizes rounded half up.

    Returns ``(new_height, new_width)``.
    """
    long_max, short_max = max(scale), min(scale)
    factor = min(long_max / max(height, width), short_max / min(height, width))
    return int(height * float(factor) + 0.5), int(width * float(factor) + 0.5)


def rescale(
    array: np.ndarray, scale: tuple[int, int], interpolation: str = "bilinear"
) -> np.ndarray:
    """Keep-ratio resize of an ``(H, W[, C])`` array with OpenCV (any dtype OpenCV accepts)."""
    new_h, new_w = rescale_size(array.shape[0], array.shape[1], scale)
    if (new_h, new_w) == array.shape[:2]:
        return array
    out = cv2.resize(array, (new_w, new_h), interpolation=INTERPOLATION[interpolation])
    if array.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of size 1
        out = out[..., None]
    return out


def eval_scale(cfg: TransformConfig) -> tuple[int, int]:
    """The evaluation resize target: ``img_scale x ratio`` with the (fixed) eval ratio."""
    low, high = cfg.ratio_range or (0.98, 0.98)
    ratio = low  # the original draws U(low, high) with low == high
    if low != high:
        raise ValueError("the evaluation ratio_range must be a single value (low == high)")
    return int(cfg.img_scale[0] * ratio), int(cfg.img_scale[1] * ratio)


def normalise(image: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(H, W, 3)`` -> ``[3, H, W]`` float32 ``(x / 255 - mean) / std``."""
    tensor = torch.from_numpy(
        np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32) / 255.0
    )
    mean = torch.from_numpy(IMAGENET_MEAN)[:, None, None]
    std = torch.from_numpy(IMAGENET_STD)[:, None, None]
    return tensor.sub_(mean).div_(std)


def _convert(image: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(image.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def photometric_distortion(
    images: list[np.ndarray],
    brightness_delta: float = 32,
    contrast_range=(0.5, 1.5),
    saturation_range=(0.5, 1.5),
    hue_delta: float = 18,
) -> list[np.ndarray]:
    """One random brightness / contrast / saturation / hue change for every frame (uint8 RGB)."""
    rng = np.random
    if rng.randint(2):
        beta = rng.uniform(-brightness_delta, brightness_delta)
        images = [_convert(im, beta=beta) for im in images]
    mode = rng.randint(2)
    if mode == 1 and rng.randint(2):
        alpha = rng.uniform(*contrast_range)
        images = [_convert(im, alpha=alpha) for im in images]
    if rng.randint(2):
        alpha = rng.uniform(*saturation_range)
        out = []
        for im in images:
            hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV)
            hsv[:, :, 1] = _convert(hsv[:, :, 1], alpha=alpha)
            out.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
        images = out
    if rng.randint(2):
        delta = rng.uniform(-hue_delta, hue_delta)
        out = []
        for im in images:
            hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV)
            hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + delta) % 180  # float -> uint8 truncates
            out.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
        images = out
    if mode == 0 and rng.randint(2):
        alpha = rng.uniform(*contrast_range)
        images = [_convert(im, alpha=alpha) for im in images]
    return images


class TrainTransform:
    """Frames (uint8 RGB), flows ``(H, W, 2)`` and pseudo-labels ``(H, W)`` uint8 of one pair."""

    def __init__(self, cfg: TransformConfig):
        self.cfg = cfg
        self.ratio_range = tuple(cfg.ratio_range or (0.96, 1.0))
        self.crop = tuple(cfg.crop_size)

    def __call__(
        self,
        images: list[np.ndarray],
        flows: dict[str, list[np.ndarray]],
        pls: list[np.ndarray] | None = None,
    ) -> dict:
        rng = np.random
        low, high = self.ratio_range
        ratio = rng.random_sample() * (high - low) + low
        scale = (int(self.cfg.img_scale[0] * ratio), int(self.cfg.img_scale[1] * ratio))
        height, width = images[0].shape[:2]
        images = [rescale(im, scale, "bilinear") for im in images]
        new_h, new_w = images[0].shape[:2]
        scale_factor = np.array([new_w / width, new_h / height], dtype=np.float32)
        flows = {key: [rescale(f, scale, "nearest") for f in value] for key, value in flows.items()}
        pls = None if pls is None else [rescale(p, scale, "nearest") for p in pls]
        # random crop (a frame shorter than the crop is first rescaled to the crop height)
        crop_h, crop_w = self.crop
        if images[0].shape[0] < crop_h:
            images = [rescale(im, (2000, crop_h), "bilinear") for im in images]
        flows = {
            k: [rescale(f, (2000, crop_h), "bilinear") if f.shape[0] < crop_h else f for f in v]
            for k, v in flows.items()
        }
        if pls is not None:
            pls = [
                rescale(p, (2000, crop_h), "bilinear") if p.shape[0] < crop_h else p for p in pls
            ]
        margin_h = max(images[0].shape[0] - crop_h, 0)
        margin_w = max(images[0].shape[1] - crop_w, 0)
        top = rng.randint(0, margin_h + 1)
        left = rng.randint(0, margin_w + 1)
        box = (slice(top, top + crop_h), slice(left, left + crop_w))
        images = [im[box] for im in images]
        flows = {k: [f[box] for f in v] for k, v in flows.items()}
        pls = None if pls is None else [p[box] for p in pls]
        if self.cfg.strong_aug:
            if rng.rand() < 0.5:
                images = [im[:, ::-1].copy() for im in images]
                flows = {k: [f[:, ::-1].copy() for f in v] for k, v in flows.items()}
                if self.cfg.negate_flipped_flow_u:  # [vos-suite] fix, off by default
                    for value in flows.values():
                        for f in value:
                            f[..., 0] *= -1
                pls = None if pls is None else [p[:, ::-1].copy() for p in pls]
            images = photometric_distortion(images)
        out = {"imgs": torch.stack([normalise(im) for im in images])}
        for key, value in flows.items():
            tensors = []
            for f in value:
                f = np.array(f, dtype=np.float32, copy=True)
                if self.cfg.scale_flow:
                    f *= scale_factor
                tensors.append(torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))))
            out[key] = torch.stack(tensors)
        if pls is not None:
            out["pl_masks"] = torch.stack(
                [torch.from_numpy(np.ascontiguousarray(p)).float() / 255.0 for p in pls]
            )
        return out


def eval_image(image: np.ndarray, cfg: TransformConfig) -> torch.Tensor:
    """The evaluation input of one uint8 RGB frame: keep-ratio OpenCV bilinear resize (short side
    392 by default) on the uint8 array, then ``/255`` and ImageNet normalisation."""
    return normalise(rescale(image, eval_scale(cfg), "bilinear"))
