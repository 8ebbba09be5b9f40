"""Training data of MiVOS propagation: video triplets (BL30K, YouTube-VOS, DAVIS) and static-image
pseudo-videos, with the reference's augmentations."""

from mivos_prop.data.static import StaticPseudoVideos, static_pairs
from mivos_prop.data.video import VideoTriplets, folder_sequences

__all__ = ["StaticPseudoVideos", "VideoTriplets", "folder_sequences", "static_pairs"]
