"""Label propagation: frame normalisation, λ fusion, the streaming propagator, label maps."""

from sfc.inference.features import FeatureExtractor, fuse_features, normalize_frames
from sfc.inference.propagation import (
    LabelPropagator,
    PropagationConfig,
    TopK,
    context_indices,
    key_index_bank,
    radius_mask,
)
from sfc.inference.video import (
    FrameResult,
    build_extractor,
    first_frame_soft_label,
    frame_features,
    propagate_soft,
    segment_video,
)

__all__ = [
    "FeatureExtractor",
    "FrameResult",
    "LabelPropagator",
    "PropagationConfig",
    "TopK",
    "build_extractor",
    "context_indices",
    "first_frame_soft_label",
    "frame_features",
    "fuse_features",
    "key_index_bank",
    "normalize_frames",
    "propagate_soft",
    "radius_mask",
    "segment_video",
]
