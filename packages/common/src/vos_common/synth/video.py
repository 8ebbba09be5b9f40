"""Rendering a sampled scene into frames, instance masks and exact optical flow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vos_common.synth.config import SynthConfig
from vos_common.synth.scene import Layer, Scene, sample_scene

DIRECTIONS = ("forward", "backward")
FLOW_GAPS = (1, 2)


@dataclass
class SynthVideo:
    """One synthetic video with exact ground truth.

    Attributes:
        name: ``"synth-0007"`` style name (``config.name_prefix`` and the index).
        index: the video's index (with ``config.seed`` it determines everything).
        config: the generating :class:`SynthConfig`.
        frames: ``(T, H, W, 3)`` uint8 RGB.
        masks: ``(T, H, W)`` uint8 instance ids, 0 = background.
        object_ids: sorted ids present anywhere in ``masks``.
        first_appearance: id -> first frame whose visible area reaches
            ``config.min_visible_pixels`` (for an object that never does: its first frame with
            any pixel). A thin sliver of an entering object can precede it in ``masks``.
        categories: id -> category name (the object's shape kind).
        depth_order: object ids from back to front (an object occludes those before it).
        gain: ``(T,)`` float32 global brightness factor applied to each frame.
    """

    name: str
    index: int
    config: SynthConfig
    frames: np.ndarray
    masks: np.ndarray
    object_ids: list[int]
    first_appearance: dict[int, int]
    categories: dict[int, str]
    depth_order: list[int]
    gain: np.ndarray
    scene: Scene = field(repr=False)
    _flow_cache: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.frames.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.frames.shape[1], self.frames.shape[2]

    def flow(self, direction: str, gap: int) -> np.ndarray:
        """Exact flow of the visible surface, ``(T, H, W, 2)`` float32 (u = +x, v = +y).

        Entry ``t`` maps frame ``t`` to ``t + gap`` (``"forward"``) or ``t - gap``
        (``"backward"``); entries without a target frame are NaN. Any positive gap works;
        results are computed on first use and cached.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        if not isinstance(gap, (int, np.integer)) or gap < 1:
            raise ValueError(f"gap must be a positive integer, got {gap!r}")
        key = (direction, int(gap))
        if key not in self._flow_cache:
            self._flow_cache[key] = _render_flow(self.scene, self.masks, direction, int(gap))
        return self._flow_cache[key]

    @property
    def flows(self) -> dict[tuple[str, int], np.ndarray]:
        """All flows for gaps 1 and 2 in both directions, keyed ``(direction, gap)``."""
        return {(d, g): self.flow(d, g) for d in DIRECTIONS for g in FLOW_GAPS}

    def flow_valid(self, direction: str, gap: int) -> np.ndarray:
        """``(T, H, W)`` bool: the pixel's surface is visible in the target frame.

        True where the target ``x + flow`` rounds to a pixel inside the frame that shows the
        same layer (same mask id); False at occlusions, when leaving the frame, and where
        there is no target frame.
        """
        flow = self.flow(direction, gap)
        frames, height, width = self.masks.shape
        valid = np.zeros((frames, height, width), bool)
        ys, xs = np.mgrid[0:height, 0:width]
        step = gap if direction == "forward" else -gap
        for t in range(frames):
            target = t + step
            if not 0 <= target < frames:
                continue
            tx = np.rint(xs + flow[t, ..., 0]).astype(np.int64)
            ty = np.rint(ys + flow[t, ..., 1]).astype(np.int64)
            inside = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
            landed = self.masks[target][np.clip(ty, 0, height - 1), np.clip(tx, 0, width - 1)]
            valid[t] = inside & (landed == self.masks[t])
        return valid


def _render_frame(scene: Scene, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite the layers of frame ``t`` back to front: RGB float32 ``(H, W, 3)``, ids ``(H, W)``."""
    colour = np.zeros((height, width, 3), np.float32)
    ids = np.zeros((height, width), np.uint8)
    for layer in scene.layers:
        if not layer.exists(t):
            continue
        box = layer.frame_box(t, height, width)
        if box is None:
            continue
        rows, cols = box
        ys, xs = np.mgrid[rows, cols].astype(np.float64)
        px, py = layer.to_canonical(t, xs, ys)
        map_x = (px + layer.texture_origin[0]).astype(np.float32)
        map_y = (py + layer.texture_origin[1]).astype(np.float32)
        sampled = cv2.remap(layer.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if layer.shape is None:
            colour[rows, cols] = sampled
            ids[rows, cols] = layer.object_id
            continue
        inside = layer.shape.inside(px, py)
        np.copyto(colour[rows, cols], sampled, where=inside[..., None])
        ids[rows, cols][inside] = layer.object_id
    return colour, ids


def _render_flow(scene: Scene, masks: np.ndarray, direction: str, gap: int) -> np.ndarray:
    """``(T, H, W, 2)`` float32 flow of the visible layer at every pixel, NaN without a target."""
    frames, height, width = masks.shape
    flow = np.full((frames, height, width, 2), np.nan, np.float32)
    step = gap if direction == "forward" else -gap
    layers: dict[int, Layer] = {layer.object_id: layer for layer in scene.layers}
    for t in range(frames):
        target = t + step
        if not 0 <= target < frames:
            continue
        for object_id in np.unique(masks[t]).tolist():
            layer = layers[object_id]
            if layer.shape is None:  # background: fill everything, objects overwrite below
                ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
                u, v = layer.displacement(t, target, xs, ys)
                flow[t, ..., 0], flow[t, ..., 1] = u, v
                continue
            rows, cols = np.nonzero(masks[t] == object_id)
            u, v = layer.displacement(t, target, cols.astype(np.float64), rows.astype(np.float64))
            flow[t, rows, cols, 0], flow[t, rows, cols, 1] = u, v
    return flow


def video_name(config: SynthConfig, index: int) -> str:
    return f"{config.name_prefix}-{index:04d}"


def generate_video(config: SynthConfig, index: int = 0) -> SynthVideo:
    """Render video ``index`` of the benchmark defined by ``config``.

    Deterministic in ``(config, index)``: the random stream is seeded with
    ``(config.seed, index)`` only, so a video is the same whether generated alone or among others.
    """
    if index < 0:
        raise ValueError(f"video index must be >= 0, got {index}")
    rng = np.random.default_rng(np.random.SeedSequence([int(config.seed), int(index)]))
    scene = sample_scene(config, rng)
    height, width, count = config.height, config.width, config.frames
    frames = np.empty((count, height, width, 3), np.uint8)
    masks = np.empty((count, height, width), np.uint8)
    for t in range(count):
        colour, ids = _render_frame(scene, t, height, width)
        colour *= scene.gain[t]
        frames[t] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
        masks[t] = ids

    layers = {layer.object_id: layer for layer in scene.layers[1:]}
    areas = {i: (masks == i).sum(axis=(1, 2)) for i in layers}
    object_ids = sorted(i for i, area in areas.items() if area.any())
    threshold = config.min_visible_pixels
    first_appearance = {}
    for object_id in object_ids:
        big = np.flatnonzero(areas[object_id] >= threshold)
        first_appearance[object_id] = int(big[0] if big.size else np.flatnonzero(areas[object_id])[0])
    return SynthVideo(
        name=video_name(config, index),
        index=index,
        config=config,
        frames=frames,
        masks=masks,
        object_ids=object_ids,
        first_appearance=first_appearance,
        categories={i: layers[i].category for i in object_ids},
        depth_order=[layer.object_id for layer in scene.layers[1:]],
        gain=scene.gain.copy(),
        scene=scene,
    )


def generate_videos(config: SynthConfig, count: int, start: int = 0) -> list[SynthVideo]:
    """Videos ``start .. start + count - 1`` (each identical to ``generate_video(config, i)``)."""
    return list(LazyVideos(config, count, start))


class LazyVideos(Sequence):
    """Videos ``start .. start + count - 1`` of ``config``, rendered when indexed (not kept).

    For writing long or large benchmarks: ``write_benchmark`` visits each video once, so only
    one video is in memory at a time.
    """

    def __init__(self, config: SynthConfig, count: int, start: int = 0):
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        self.config, self.count, self.start = config, count, start

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(self.count))]
        if not -self.count <= position < self.count:
            raise IndexError(f"video position {position} out of range for {self.count} videos")
        return generate_video(self.config, self.start + position % self.count)
