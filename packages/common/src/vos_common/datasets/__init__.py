"""Dataset readers: every layout read into :class:`~vos_common.datasets.base.VideoSequence`.

:func:`open_dataset` is the one entry point for CLIs (``--dataset KIND --root DIR``); it
always returns a :class:`SequenceDataset` (the ``frames`` and ``video`` kinds hold one
sequence).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from vos_common.datasets.base import (
    SequenceDataset,
    ThresholdMaskLoader,
    VideoSequence,
    binary_mask_loader,
    indexed_mask_loader,
    list_frames,
    natural_key,
    read_list_file,
)
from vos_common.datasets.davis import DAVIS2016, DAVIS2017, DAVISSequence, binarised_label_loader
from vos_common.datasets.fbms import (
    FBMS59,
    FBMSDefinition,
    FBMSRegionLoader,
    RCFResized,
    read_fbms_definition,
    read_rcf_list,
)
from vos_common.datasets.folder import (
    VideoFileSequence,
    first_mask_loader,
    read_frame_folder,
    read_video,
)
from vos_common.datasets.oast import OASTDataset, OASTSequence
from vos_common.datasets.segtrack import SegTrackObjectsLoader, SegTrackV2
from vos_common.datasets.ytvos import YouTubeVOS, read_ytvos_meta
from vos_common.errors import VOSDataError


def _single(reader: Callable[..., VideoSequence]) -> Callable[..., SequenceDataset]:
    def open_single(root, **options) -> SequenceDataset:
        sequence = reader(root, **options)
        return SequenceDataset(root, [sequence], dict(sequence.meta))
    return open_single


def _rcf_resized(dataset: str) -> Callable[..., SequenceDataset]:
    def open_resized(root, **options) -> SequenceDataset:
        return RCFResized(root, dataset=dataset, **options)
    return open_resized


DATASET_READERS: dict[str, Callable[..., SequenceDataset]] = {
    "davis2017": DAVIS2017,  # split, task, resolution, sequences, flow_root
    "davis2016": DAVIS2016,  # split, resolution, gt_source, sequences, flow_root
    "ytvos": YouTubeVOS,  # split, all_frames, gt_root, sequences
    "fbms59": FBMS59,  # split, binary, sequences
    "fbms59-resized": _rcf_resized("fbms59-resized"),  # list_file, mask_threshold, sequences
    "segtrackv2": SegTrackV2,  # merge_objects, mask_threshold, sequences
    "segtrackv2-resized": _rcf_resized("segtrackv2-resized"),  # (same as fbms59-resized)
    "oast": OASTDataset,  # split, frame_rule, sequences
    "frames": _single(read_frame_folder),  # first_mask, name
    "video": _single(read_video),  # first_mask, cache_dir, name
}
DATASET_KINDS = tuple(DATASET_READERS)


def open_dataset(kind: str, root: str | os.PathLike, **options) -> SequenceDataset:
    """Open a dataset of ``kind`` (one of :data:`DATASET_KINDS`) at ``root``.

    ``options`` go to the reader (see the comments in :data:`DATASET_READERS`); options set
    to ``None`` are dropped so that CLIs can pass unset flags through.
    """
    reader = DATASET_READERS.get(kind)
    if reader is None:
        raise VOSDataError(None, f"unknown dataset kind {kind!r} "
                                 f"(expected one of {', '.join(DATASET_KINDS)})")
    return reader(root, **{key: value for key, value in options.items() if value is not None})


__all__ = [
    "DATASET_KINDS", "DATASET_READERS", "DAVIS2016", "DAVIS2017", "DAVISSequence", "FBMS59",
    "FBMSDefinition", "FBMSRegionLoader", "OASTDataset", "OASTSequence", "RCFResized",
    "SegTrackObjectsLoader", "SegTrackV2", "SequenceDataset", "ThresholdMaskLoader",
    "VideoFileSequence", "VideoSequence", "YouTubeVOS", "binarised_label_loader",
    "binary_mask_loader", "first_mask_loader", "indexed_mask_loader", "list_frames",
    "natural_key", "open_dataset", "read_fbms_definition", "read_frame_folder", "read_list_file",
    "read_rcf_list", "read_video", "read_ytvos_meta",
]
