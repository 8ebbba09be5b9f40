"""Dataset readers: every layout read into :class:`~vos_common.datasets.base.VideoSequence`."""

from vos_common.datasets.base import (
    VideoSequence,
    binary_mask_loader,
    indexed_mask_loader,
    list_frames,
    natural_key,
    read_list_file,
)

__all__ = [
    "VideoSequence", "binary_mask_loader", "indexed_mask_loader", "list_frames", "natural_key",
    "read_list_file",
]
