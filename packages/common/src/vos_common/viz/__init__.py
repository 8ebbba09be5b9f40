"""Visualisation for every method CLI: DAVIS-palette overlays, comparison panels, flow colours,
contact sheets, and atomic GIF / MP4 writers (``--save-overlay``: :func:`save_overlays`).

NumPy, OpenCV and Pillow only.
"""

from vos_common.viz.overlay import label_image, mask_contours, overlay_mask
from vos_common.viz.panels import (
    add_title,
    as_rgb,
    contact_sheet,
    flow_image,
    flow_images,
    hstack,
    side_by_side,
)
from vos_common.viz.save import (
    PREVIEW_FORMATS,
    SavedOverlays,
    add_overlay_arguments,
    overlay_options,
    save_overlays,
)
from vos_common.viz.video import VIDEO_SUFFIXES, write_gif, write_mp4, write_video

__all__ = [
    "PREVIEW_FORMATS",
    "SavedOverlays",
    "VIDEO_SUFFIXES",
    "add_overlay_arguments",
    "add_title",
    "as_rgb",
    "contact_sheet",
    "flow_image",
    "flow_images",
    "hstack",
    "label_image",
    "mask_contours",
    "overlay_mask",
    "overlay_options",
    "save_overlays",
    "side_by_side",
    "write_gif",
    "write_mp4",
    "write_video",
]
