"""OAST's own data code: sample modes, augmentation, tensors (the layout is vos_common's)."""

from oast.data.datasets import MODES, OASTFrames, default_split
from oast.data.transforms import IMAGENET_MEAN, IMAGENET_STD, augment, colour_jitter, to_network

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODES",
    "OASTFrames",
    "augment",
    "colour_jitter",
    "default_split",
    "to_network",
]
