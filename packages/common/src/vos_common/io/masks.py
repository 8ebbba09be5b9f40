"""Mask PNGs: indexed (palette) label maps as DAVIS / YouTube-VOS store them, and binary masks.

Label maps are always read as raw palette indices (never through RGB): pixel value = object id,
0 = background, 255 = void in ``Annotations_unsupervised``. Binary masks (0/255, 0/1, grey with
a stray alpha channel, 3-channel SegTrackv2 masks) follow the DAVIS 2016 rule: channel 0, any
non-zero value is foreground.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_path

VOID_LABEL = 255


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL-VOC bit-interleaving colour map, ``(n, 3)`` uint8 (what the DAVIS tools write)."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        code, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((code >> 0) & 1) << (7 - bit)
            g |= ((code >> 1) & 1) << (7 - bit)
            b |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        palette[index] = (r, g, b)
    return palette


def davis_palette() -> np.ndarray:
    """The palette stored in the DAVIS dataset PNGs, ``(256, 3)`` uint8.

    VOC colours for ids 0..21 with every 192 written as 191, then a grey ramp (i, i, i) for
    ids 22..255.
    """
    palette = voc_palette(256)
    palette[palette == 192] = 191
    ramp = np.arange(22, 256, dtype=np.uint8)
    palette[22:] = np.stack([ramp, ramp, ramp], axis=1)
    return palette


DAVIS_PALETTE = davis_palette()


def open_mask_image(path: str | os.PathLike) -> Image.Image:
    """Open and decode a mask image as stored (any mode); errors name the file."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise VOSDataError(path, "mask file does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise VOSDataError(path, f"cannot decode image ({err})") from None
    return image


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read an indexed annotation PNG as raw object ids, ``(H, W)`` uint8.

    Accepts palette ("P") and single-channel 8-bit ("L") images; 16-bit single-channel
    images are accepted when every value fits in uint8. Colour images are refused because
    their object ids cannot be recovered without guessing a palette.
    """
    image = open_mask_image(path)
    if image.mode in ("P", "L"):
        return np.asarray(image, dtype=np.uint8).copy()
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise VOSDataError(path, "16-bit label map has ids outside 0..255")
        return values.astype(np.uint8)
    raise VOSDataError(
        path, f"expected an indexed (palette) PNG of object ids, found a {image.mode} image"
    )


def read_binary_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask with the DAVIS 2016 rule (channel 0, non-zero = foreground), ``(H, W)`` bool.

    Palette images are judged by their indices, not their colours.
    """
    image = open_mask_image(path)
    if image.mode == "P" or image.mode == "L":
        values = np.asarray(image)
    else:
        values = np.asarray(image)
        if values.ndim == 3:
            values = values[..., 0]
    return values != 0


def read_mask(path: str | os.PathLike, binary: bool = False) -> np.ndarray:
    """Object-id map ``(H, W)`` uint8: raw indices, or 0/1 with the DAVIS 2016 rule if ``binary``."""
    if binary:
        return read_binary_mask(path).astype(np.uint8)
    return read_label_map(path)


def label_map_to_image(ids: np.ndarray, palette: np.ndarray = DAVIS_PALETTE) -> Image.Image:
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"label map must be 2-D (H, W), got shape {ids.shape}")
    if ids.dtype != np.uint8:
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise ValueError("label map ids must lie in 0..255")
        ids = ids.astype(np.uint8)
    height, width = ids.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(ids).tobytes())
    image.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    return image


def write_label_map(
    path: str | os.PathLike, ids: np.ndarray, palette: np.ndarray = DAVIS_PALETTE
) -> None:
    """Write ``ids`` ``(H, W)`` as an indexed PNG with the DAVIS palette, atomically."""
    image = label_map_to_image(ids, palette)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def write_binary_mask(path: str | os.PathLike, mask: np.ndarray, value: int = 255,
                      channels: int = 1) -> None:
    """Write a binary mask as 8-bit grey (``channels=1``) or 3-channel (SegTrackv2) image.

    The format follows the extension (``.png``, ``.bmp``, ``.pgm``, ...).
    """
    plane = np.where(np.asarray(mask) != 0, np.uint8(value), np.uint8(0)).astype(np.uint8)
    if channels == 3:
        plane = np.repeat(plane[..., None], 3, axis=2)
    image = Image.fromarray(plane)
    with atomic_path(path) as tmp:
        image.save(tmp, format=_pil_format(Path(path)))


def _pil_format(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".png": "PNG", ".bmp": "BMP", ".jpg": "JPEG", ".jpeg": "JPEG",
            ".pgm": "PPM", ".ppm": "PPM", ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix, "PNG")


def check_mask_size(mask: np.ndarray, frame_size: tuple[int, int], path: str | os.PathLike) -> None:
    """Raise if a mask's ``(H, W)`` differs from its frame's."""
    if tuple(mask.shape[:2]) != tuple(frame_size):
        raise VOSDataError(
            path,
            f"mask is {mask.shape[1]}x{mask.shape[0]} but its frame is "
            f"{frame_size[1]}x{frame_size[0]} (WxH)",
        )
