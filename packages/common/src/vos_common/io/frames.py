"""RGB frames: decoding with clear errors, writing, and resizing with the 480p conventions."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_path

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff")


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB uint8 ``(H, W, 3)`` (JPEG, PNG, BMP, PPM, TIFF).

    Truncated or corrupt files raise :class:`VOSDataError` naming the file (PIL is strict
    about truncated JPEGs, where OpenCV silently returns a partly grey image).
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode != "RGB":
                image = image.convert("RGB")
            return np.asarray(image)
    except FileNotFoundError:
        raise VOSDataError(path, "frame does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise VOSDataError(path, f"cannot decode frame ({err})") from None


def frame_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file, read from its header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise VOSDataError(path, "frame does not exist") from None
    except (UnidentifiedImageError, OSError) as err:
        raise VOSDataError(path, f"cannot decode frame ({err})") from None
    return height, width


def write_frame(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB uint8 ``(H, W, 3)`` frame; codec from the extension; atomic."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
    suffix = Path(path).suffix.lower()
    image = Image.fromarray(rgb)
    with atomic_path(path) as tmp:
        if suffix in (".jpg", ".jpeg"):
            image.save(tmp, format="JPEG", quality=quality)
        elif suffix == ".bmp":
            image.save(tmp, format="BMP")
        elif suffix in (".ppm",):
            image.save(tmp, format="PPM")
        else:
            image.save(tmp, format="PNG")


def size_for_height(size: tuple[int, int], height: int = 480) -> tuple[int, int]:
    """``(H, W)`` with the given height and the width from the aspect ratio (the 480p rule).

    DAVIS "480p" frames are 480 high; their width is usually but not always 854
    (``bike-packing`` is 910, ``shooting`` 1152), so it is derived, never assumed.
    """
    h, w = size
    return height, max(1, int(round(w * height / h)))


def resize_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image to ``(H, W)``: area filter when shrinking, bilinear when enlarging."""
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = h * w < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_mask(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a label map to ``(H, W)`` with nearest-neighbour sampling (ids stay ids)."""
    h, w = size
    if ids.shape[:2] == (h, w):
        return ids
    return cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)


def resize_flow(flow: np.ndarray, size: tuple[int, int], rescale: bool = True) -> np.ndarray:
    """Resize an ``(H, W, 2)`` flow bilinearly; with ``rescale`` the vectors scale with the image.

    RCF deliberately keeps pixel units of the original resolution (``rescale=False``).
    """
    h, w = size
    src_h, src_w = flow.shape[:2]
    out = cv2.resize(flow.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    if rescale:
        out[..., 0] *= w / src_w
        out[..., 1] *= h / src_h
    return out
