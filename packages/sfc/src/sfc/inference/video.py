"""Propagate a first-frame label through a whole video: the library call behind every CLI.

    >>> from sfc.inference import build_extractor, PropagationConfig, segment_video
    >>> extractor = build_extractor("fine-grained", "mocov1", checkpoint_dir="checkpoints")
    >>> for result in segment_video(frames, first_ids, extractor, PropagationConfig(topk=15)):
    ...     result.ids  # (H, W) uint8 object ids of frame result.index

``frames`` is any iterable of RGB uint8 frames (a list, a generator reading files one by one,
a video decoder); frame 0 comes first. With ``mode="stream"`` (default) each frame's features
are computed when it arrives and dropped once no later frame can use them, so memory is
bounded by the context (frame 0, the last ``videoLen`` frames); ``mode="whole"`` first computes
and holds every frame's features, like the original. Both run the same per-frame code and give
bit-identical results.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from sfc.inference.features import FeatureExtractor, normalize_frames
from sfc.inference.labels import class_map, downsample_onehot, grid_size, onehot_from_ids
from sfc.inference.propagation import LabelPropagator, PropagationConfig
from sfc.model.encoder import FEATURE_STRIDE, make_encoder

Mode = Literal["stream", "whole"]


def build_extractor(
    fc_model: str | None,
    semantic_model: str | None = None,
    *,
    lambd: float = 1.75,
    checkpoint_dir: str | os.PathLike = "./checkpoints",
    fc_checkpoint: str | os.PathLike | None = None,
    semantic_checkpoint: str | os.PathLike | None = None,
    refresh_bn: bool = True,
    device: str | torch.device = "cpu",
    seed: int | None = 777,
) -> FeatureExtractor:
    """Load the FC and/or semantic encoder from the official files under ``checkpoint_dir``."""
    if not fc_model and not semantic_model:
        raise ValueError("give --fc-model, --semantic-model, or both")
    fc = sem = None
    if fc_model:
        fc = make_encoder(
            fc_model, checkpoint_dir, fc_checkpoint, refresh_bn=refresh_bn, device=device, seed=seed
        )
    if semantic_model:
        sem = make_encoder(
            semantic_model,
            checkpoint_dir,
            semantic_checkpoint,
            refresh_bn=refresh_bn,
            device=device,
            seed=seed,
        )
    return FeatureExtractor(fc, sem, lambd, device=device)


def frame_features(extractor: FeatureExtractor, frame: np.ndarray) -> torch.Tensor:
    """Fused unit vectors ``(C, h, w)`` of one RGB uint8 frame (on the CPU)."""
    return extractor(normalize_frames(frame))[0].cpu()


def propagate_soft(
    frames: Iterable[np.ndarray],
    first_soft: np.ndarray | torch.Tensor,
    extractor: FeatureExtractor,
    config: PropagationConfig,
    *,
    mode: Mode = "stream",
    num_frames: int | None = None,
    features: Iterable[torch.Tensor] | None = None,
) -> Iterator[torch.Tensor]:
    """Yield the soft label ``(h, w, K)`` of every frame, frame 0 first.

    ``first_soft``: frame 0's one-hot at feature resolution (:func:`first_frame_soft_label`).
    ``features``: precomputed fused features per frame instead of running ``extractor``.
    """
    if mode not in ("stream", "whole"):
        raise ValueError(f"mode must be 'stream' or 'whole', got {mode!r}")
    if features is None:
        features = (frame_features(extractor, frame) for frame in frames)
    if mode == "whole":
        features = list(features)  # the original's procedure: every frame's features in memory
        num_frames = len(features)
    propagator = LabelPropagator(config, num_frames)
    iterator = iter(features)
    try:
        first = next(iterator)
    except StopIteration:
        return
    yield propagator.start(first, torch.as_tensor(first_soft))
    for feats in iterator:
        yield propagator.step(feats)


def first_frame_soft_label(
    first_ids: np.ndarray, classes: np.ndarray, stride: int = FEATURE_STRIDE
) -> np.ndarray:
    """Frame 0's one-hot over ``classes`` at ``ceil(H/8) × ceil(W/8)``, OpenCV bilinear."""
    return downsample_onehot(
        onehot_from_ids(first_ids, classes), grid_size(first_ids.shape, stride)
    )


@dataclass
class FrameResult:
    """One frame's output: soft labels at feature resolution, class indices and object ids."""

    index: int
    soft: np.ndarray  # (h, w, K) float32 class probabilities (classes in ``classes`` order)
    classes: np.ndarray  # (H, W) int64 class index after upsampling + argmax
    ids: np.ndarray  # (H, W) uint8 object ids


def segment_video(
    frames: Iterable[np.ndarray],
    first_ids: np.ndarray,
    extractor: FeatureExtractor,
    config: PropagationConfig,
    *,
    mode: Mode = "stream",
    classes: np.ndarray | None = None,
    num_frames: int | None = None,
) -> Iterator[FrameResult]:
    """Propagate the object-id map ``first_ids`` ``(H, W)`` of frame 0 through ``frames``.

    ``classes``: the class order (object ids, background first); by default the sorted ids
    present in ``first_ids`` (for DAVIS ids 0–7 the same order as the original's BGR colours).
    """
    first_ids = np.asarray(first_ids)
    classes = np.unique(first_ids) if classes is None else np.asarray(classes)
    size = first_ids.shape[:2]
    soft0 = first_frame_soft_label(first_ids, classes)
    lookup = classes.astype(np.uint8)
    for t, soft in enumerate(
        propagate_soft(frames, soft0, extractor, config, mode=mode, num_frames=num_frames)
    ):
        soft_np = soft.cpu().numpy()
        index = class_map(soft_np, size)
        yield FrameResult(t, soft_np, index, lookup[index])
