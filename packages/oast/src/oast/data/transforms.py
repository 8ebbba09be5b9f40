"""OAST's per-sample pre-processing on PIL pictures (spec §4, "Augmentation").

Training (labeled and unlabeled modes), at the original resolution and with the same geometry
for image, flow picture and mask:

1. centred crop, width uniform in [W−60, W−1] and height in [H−60, H−1] (NumPy RNG);
2. horizontal flip with p = 0.5 (Python ``random.randint(0, 1)``; flow colours not re-mapped);
3. with p = 0.5 (``random.random() > 0.5``) a rotation by an integer angle in [−10, 9] degrees
   (NumPy), bicubic for image and flow, nearest for the mask, no expansion, black fill;
4. image only: Brightness, Contrast, Color, Sharpness (PIL ImageEnhance, in that order, factors
   drawn with Python's ``random.choice``);
5. resize to the network size: image bilinear, flow and mask nearest; to tensors; the image is
   normalised with ``mean``/``std``, the flow picture and the mask are not (flow in [0, 1],
   mask in {0, 1}).

Test mode is step 5 only (the aspect ratio is not preserved); its optional colour copy (phase C's
``aug_image2``) applies step 4 to the image before step 5.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageEnhance

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BRIGHTNESS",
    "CONTRAST",
    "COLOR",
    "SHARPNESS",
    "random_crop_box",
    "colour_jitter",
    "augment",
    "to_network",
    "image_to_tensor",
    "picture_to_tensor",
    "mask_to_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_MARGIN = 60
BRIGHTNESS = tuple(round(0.5 + 0.1 * i, 1) for i in range(11))  # 0.5 … 1.5
CONTRAST = BRIGHTNESS
COLOR = tuple(round(0.1 * i, 1) for i in range(21))  # 0.0 … 2.0
SHARPNESS = tuple(round(0.1 * i, 1) for i in range(31))  # 0.0 … 3.0


def random_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Centred crop box (left, top, right, bottom) of a random size (step 1)."""
    cw = int(np.random.randint(max(1, width - CROP_MARGIN), max(2, width)))
    ch = int(np.random.randint(max(1, height - CROP_MARGIN), max(2, height)))
    cw, ch = min(cw, width), min(ch, height)
    left = int(round((width - cw) / 2.0))
    top = int(round((height - ch) / 2.0))
    return left, top, left + cw, top + ch


def colour_jitter(image: Image.Image) -> Image.Image:
    """Step 4: brightness, contrast, colour (saturation), sharpness with random factors."""
    image = ImageEnhance.Brightness(image).enhance(random.choice(BRIGHTNESS))
    image = ImageEnhance.Contrast(image).enhance(random.choice(CONTRAST))
    image = ImageEnhance.Color(image).enhance(random.choice(COLOR))
    return ImageEnhance.Sharpness(image).enhance(random.choice(SHARPNESS))


def augment(
    image: Image.Image, flow: Image.Image, mask: Image.Image | None
) -> tuple[Image.Image, Image.Image, Image.Image | None]:
    """Steps 1-4 on PIL pictures of the same size (``mask`` may be None: unlabeled mode)."""
    box = random_crop_box(*image.size)
    image, flow = image.crop(box), flow.crop(box)
    mask = mask.crop(box) if mask is not None else None
    if random.randint(0, 1):
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        flow = flow.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mask is not None else None
    if random.random() > 0.5:
        angle = int(np.random.randint(-10, 10))
        image = image.rotate(angle, Image.Resampling.BICUBIC, expand=False, fillcolor=0)
        flow = flow.rotate(angle, Image.Resampling.BICUBIC, expand=False, fillcolor=0)
        if mask is not None:
            mask = mask.rotate(angle, Image.Resampling.NEAREST, expand=False, fillcolor=0)
    return colour_jitter(image), flow, mask


def _hwc_to_tensor(array: np.ndarray) -> torch.Tensor:
    return (
        torch.from_numpy(np.array(array, dtype=np.uint8, copy=True))
        .permute(2, 0, 1)
        .float()
        .div(255)
    )


def image_to_tensor(
    image: Image.Image, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """3×H×W float tensor of an RGB picture, /255 then normalised."""
    t = _hwc_to_tensor(np.asarray(image.convert("RGB")))
    mean_t = torch.tensor(mean, dtype=t.dtype).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=t.dtype).view(3, 1, 1)
    return (t - mean_t) / std_t


def picture_to_tensor(picture: Image.Image) -> torch.Tensor:
    """3×H×W float tensor in [0, 1] of a flow picture (not normalised)."""
    return _hwc_to_tensor(np.asarray(picture.convert("RGB")))


def mask_to_tensor(mask: Image.Image) -> torch.Tensor:
    """1×H×W float tensor in {0, 1} of a 0/255 grey mask."""
    return torch.from_numpy(np.asarray(mask, dtype=np.uint8) > 127).float().unsqueeze(0)


def to_network(
    image: Image.Image,
    flow: Image.Image,
    mask: Image.Image | None,
    size: tuple[int, int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> dict[str, torch.Tensor]:
    """Step 5: resize to ``size`` = (H, W) (image bilinear, flow and mask nearest) and convert."""
    wh = (size[1], size[0])
    out = {
        "image": image_to_tensor(image.resize(wh, Image.Resampling.BILINEAR), mean, std),
        "flow": picture_to_tensor(flow.resize(wh, Image.Resampling.NEAREST)),
    }
    if mask is not None:
        out["mask"] = mask_to_tensor(mask.resize(wh, Image.Resampling.NEAREST))
    return out
