"""Optical-flow files: Middlebury ``.flo``, KITTI 16-bit PNG, RCF's ``.npy``, and the colour wheel.

All readers return float32 ``(H, W, 2)`` arrays with channel 0 = u (+x, right) and
channel 1 = v (+y, down), in pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_open, atomic_path

FLO_MAGIC = 202021.25  # the bytes "PIEH" read as little-endian float32
UNKNOWN_FLOW_THRESHOLD = 1e9


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file; the header's size is checked against the file's."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise VOSDataError(path, "flow file does not exist") from None
    if len(data) < 12:
        raise VOSDataError(path, f"truncated .flo file ({len(data)} bytes, header needs 12)")
    magic = np.frombuffer(data, dtype="<f4", count=1)[0]
    if magic != np.float32(FLO_MAGIC):
        raise VOSDataError(path, f"not a .flo file (magic {magic!r}, expected {FLO_MAGIC})")
    width, height = (int(x) for x in np.frombuffer(data, dtype="<i4", count=2, offset=4))
    if width <= 0 or height <= 0 or width > 100_000 or height > 100_000:
        raise VOSDataError(path, f"implausible .flo size {width}x{height}")
    expected = 12 + 8 * width * height
    if len(data) != expected:
        raise VOSDataError(
            path,
            f"truncated or oversized .flo file: {len(data)} bytes, header says {width}x{height} "
            f"= {expected} bytes",
        )
    flow = np.frombuffer(data, dtype="<f4", offset=12).reshape(height, width, 2)
    return flow.astype(np.float32)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    flow = _check_flow(flow)
    height, width = flow.shape[:2]
    with atomic_open(path, "wb") as handle:
        handle.write(np.array([FLO_MAGIC], dtype="<f4").tobytes())
        handle.write(np.array([width, height], dtype="<i4").tobytes())
        handle.write(flow.astype("<f4").tobytes())


def read_kitti_flow(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit PNG flow; returns ``(flow (H, W, 2) float32, valid (H, W) bool)``."""
    if not Path(path).exists():
        raise VOSDataError(path, "flow file does not exist")
    raw = cv2.imread(os.fspath(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if raw is None:
        raise VOSDataError(path, "cannot decode KITTI flow PNG")
    if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] != 3:
        raise VOSDataError(path, f"KITTI flow must be a 3-channel 16-bit PNG, found {raw.dtype}")
    bgr = raw.astype(np.float32)
    flow = np.stack([(bgr[..., 2] - 32768.0) / 64.0, (bgr[..., 1] - 32768.0) / 64.0], axis=-1)
    valid = raw[..., 0] > 0
    return flow, valid


def write_kitti_flow(path: str | os.PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    flow = _check_flow(flow)
    if valid is None:
        valid = np.ones(flow.shape[:2], dtype=bool)
    encoded = np.clip(np.round(flow * 64.0 + 32768.0), 0, 65535).astype(np.uint16)
    bgr = np.stack([valid.astype(np.uint16), encoded[..., 1], encoded[..., 0]], axis=-1)
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(os.fspath(tmp), bgr):
            raise OSError(f"{path}: OpenCV could not write the KITTI flow PNG")


def read_flow_npy(path: str | os.PathLike) -> np.ndarray:
    """Read RCF's ``.npy`` flow, shape ``(H, W, 2)`` = (dx, dy)."""
    try:
        flow = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VOSDataError(path, "flow file does not exist") from None
    except (ValueError, OSError, EOFError) as err:
        raise VOSDataError(path, f"cannot read .npy flow ({err})") from None
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise VOSDataError(path, f"expected an (H, W, 2) flow array, found shape {flow.shape}")
    return flow.astype(np.float32, copy=False)


def write_flow_npy(path: str | os.PathLike, flow: np.ndarray) -> None:
    flow = _check_flow(flow)
    with atomic_open(path, "wb") as handle:
        np.save(handle, flow.astype(np.float32))


def read_flow(path: str | os.PathLike) -> np.ndarray:
    """Read a flow file by extension: ``.flo``, ``.npy`` or KITTI ``.png``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        return read_flo(path)
    if suffix == ".npy":
        return read_flow_npy(path)
    if suffix == ".png":
        return read_kitti_flow(path)[0]
    raise VOSDataError(path, "unknown flow file extension (expected .flo, .npy or KITTI .png)")


def write_flow(path: str | os.PathLike, flow: np.ndarray) -> None:
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        write_flo(path, flow)
    elif suffix == ".npy":
        write_flow_npy(path, flow)
    elif suffix == ".png":
        write_kitti_flow(path, flow)
    else:
        raise ValueError(f"{path}: unknown flow file extension (expected .flo, .npy or .png)")


def _check_flow(flow: np.ndarray) -> np.ndarray:
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    return flow


def _colour_wheel() -> np.ndarray:
    """The Middlebury wheel: 55 hues from six ramps, ``(55, 3)`` float RGB in 0..255."""
    ramps = [  # (length, channel that rises or falls, direction, channel held at 255)
        (15, 1, +1, 0),  # red -> yellow
        (6, 0, -1, 1),  # yellow -> green
        (4, 2, +1, 1),  # green -> cyan
        (11, 1, -1, 2),  # cyan -> blue
        (13, 0, +1, 2),  # blue -> magenta
        (6, 2, -1, 0),  # magenta -> red
    ]
    rows = []
    for length, moving, direction, held in ramps:
        block = np.zeros((length, 3))
        block[:, held] = 255
        step = np.floor(255 * np.arange(length) / length)
        block[:, moving] = step if direction > 0 else 255 - step
        rows.append(block)
    return np.concatenate(rows, axis=0)


COLOUR_WHEEL = _colour_wheel()


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None, eps: float = 1e-5) -> np.ndarray:
    """Render flow with the Middlebury colour wheel, RGB uint8 ``(H, W, 3)``.

    Hue from the angle of (-u, -v); saturation from the magnitude divided by
    ``max_magnitude`` (default: the largest in this flow, plus ``eps``, as RAFT's visualiser
    does); magnitudes above 1 are darkened to 75 %. Zero flow is white. Unknown values
    (NaN, or above 1e9) render black.
    """
    flow = _check_flow(flow).astype(np.float64)
    u, v = flow[..., 0].copy(), flow[..., 1].copy()
    unknown = ~np.isfinite(u) | ~np.isfinite(v) | (np.abs(u) > UNKNOWN_FLOW_THRESHOLD) | (
        np.abs(v) > UNKNOWN_FLOW_THRESHOLD)
    u[unknown] = 0
    v[unknown] = 0
    magnitude = np.sqrt(u * u + v * v)
    scale = (magnitude.max() if magnitude.size else 0.0) if max_magnitude is None else max_magnitude
    u = u / (scale + eps)
    v = v / (scale + eps)
    radius = np.sqrt(u * u + v * v)
    angle = np.arctan2(-v, -u) / np.pi
    n_hues = COLOUR_WHEEL.shape[0]
    position = (angle + 1) / 2 * (n_hues - 1)
    k0 = np.floor(position).astype(np.int64)
    k1 = (k0 + 1) % n_hues
    frac = (position - k0)[..., None]
    colour = ((1 - frac) * COLOUR_WHEEL[k0] + frac * COLOUR_WHEEL[k1]) / 255.0
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    rgb = np.floor(255 * colour).astype(np.uint8)
    rgb[unknown] = 0
    return rgb
