"""File formats: masks, frames, optical flow, and atomic writes."""

from vos_common.io.atomic import atomic_open, atomic_path, atomic_save, atomic_write_bytes, atomic_write_text
from vos_common.io.flow import (
    flow_to_color,
    read_flo,
    read_flow,
    read_flow_npy,
    read_kitti_flow,
    write_flo,
    write_flow,
    write_flow_npy,
    write_kitti_flow,
)
from vos_common.io.frames import (
    FRAME_EXTENSIONS,
    frame_size,
    read_frame,
    resize_flow,
    resize_frame,
    resize_mask,
    size_for_height,
    write_frame,
)
from vos_common.io.masks import (
    DAVIS_PALETTE,
    VOID_LABEL,
    check_mask_size,
    davis_palette,
    read_binary_mask,
    read_label_map,
    read_mask,
    voc_palette,
    write_binary_mask,
    write_label_map,
)

__all__ = [
    "DAVIS_PALETTE", "FRAME_EXTENSIONS", "VOID_LABEL", "atomic_open", "atomic_path", "atomic_save",
    "atomic_write_bytes", "atomic_write_text", "check_mask_size", "davis_palette", "flow_to_color",
    "frame_size", "read_binary_mask", "read_flo", "read_flow", "read_flow_npy", "read_frame",
    "read_kitti_flow", "read_label_map", "read_mask", "resize_flow", "resize_frame", "resize_mask",
    "size_for_height", "voc_palette", "write_binary_mask", "write_flo", "write_flow",
    "write_flow_npy", "write_frame", "write_kitti_flow", "write_label_map",
]
