"""Paired image/mask augmentations with shared parameters (the reference replays one seed for the
image and its mask; here the parameters are drawn once and applied to both)."""

from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

IM_MEAN = (124, 116, 104)  # fill colour of image warps (the ImageNet mean in 0..255)
BICUBIC, NEAREST = InterpolationMode.BICUBIC, InterpolationMode.NEAREST


def affine_params(img: Image.Image, degrees: float, scale=None, shear: float | None = None):
    return T.RandomAffine.get_params(
        (-degrees, degrees), None, scale, None if shear is None else (-shear, shear), list(img.size)
    )


def apply_affine(img: Image.Image, params, interpolation, fill) -> Image.Image:
    angle, translate, scale, shear = params
    return TF.affine(
        img, angle, list(translate), scale, list(shear), interpolation=interpolation, fill=fill
    )


class Jitter:
    """ColorJitter (+ optional RandomGrayscale) whose parameters are drawn once and reused."""

    def __init__(self, brightness, contrast, saturation, hue, grayscale: float = 0.0):
        jitter = T.ColorJitter(brightness, contrast, saturation, hue)
        self.params = T.ColorJitter.get_params(
            jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue
        )
        self.gray = random.random() < grayscale

    def __call__(self, img: Image.Image) -> Image.Image:
        order, b, c, s, h = self.params
        for i in order.tolist():
            if i == 0 and b is not None:
                img = TF.adjust_brightness(img, b)
            elif i == 1 and c is not None:
                img = TF.adjust_contrast(img, c)
            elif i == 2 and s is not None:
                img = TF.adjust_saturation(img, s)
            elif i == 3 and h is not None:
                img = TF.adjust_hue(img, h)
        if self.gray:
            img = TF.rgb_to_grayscale(img, num_output_channels=3)
        return img


def to_normalised_tensor(img: Image.Image) -> torch.Tensor:
    x = TF.to_tensor(img)
    return TF.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def seed_python_from_numpy() -> None:
    """torchvision's ``get_params`` draw from torch / Python RNGs; derive them from NumPy's."""
    seed = int(np.random.randint(2**31 - 1))
    random.seed(seed)
    torch.manual_seed(seed)
