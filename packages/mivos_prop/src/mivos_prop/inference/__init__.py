"""Inference: the streaming propagation core and pre/post-processing."""

from mivos_prop.inference.core import InferenceCore
from mivos_prop.inference.postprocess import (
    normalise_frame,
    probabilities_to_labels,
    resize_mask_short_side,
    resize_short_side,
)

__all__ = [
    "InferenceCore",
    "normalise_frame",
    "probabilities_to_labels",
    "resize_mask_short_side",
    "resize_short_side",
]
