"""YouTube-VOS 2018 / 2019 reader (evaluation.md 1.3).

``<root>/<split>/JPEGImages/<vid>/<frame>.jpg`` (every 5th frame, names step by 5),
``<root>/<split>/Annotations/<vid>/<frame>.png`` (indexed; train: every frame, valid/test:
only where an object first appears) and ``<root>/<split>/meta.json``. With ``all_frames``
the frames come from ``<root>/<split>_all_frames/JPEGImages/<vid>/`` (every 30 fps frame)
while annotations keep their names, so they map to the frame of the same name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vos_common.datasets.base import (
    SequenceDataset,
    VideoSequence,
    annotations_by_frame,
    files_by_stem,
    indexed_mask_loader,
    require_dir,
    select_names,
    sequence_frames,
)
from vos_common.errors import VOSDataError

SPARSE_SPLITS = ("valid", "test")


def read_ytvos_meta(path: str | os.PathLike) -> dict[str, dict[int, dict]]:
    """Parse ``meta.json`` to ``{video: {object id: {"category": str | None, "frames": [...]}}}``.

    Object ids become ints (they need not be contiguous); malformed content raises
    :class:`VOSDataError` naming ``meta.json`` and the video.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VOSDataError(path, "meta.json does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VOSDataError(path, f"not valid JSON ({err})") from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise VOSDataError(path, 'expected {"videos": {<video id>: {"objects": {...}}}}')
    parsed: dict[str, dict[int, dict]] = {}
    for video, info in videos.items():
        objects = info.get("objects") if isinstance(info, dict) else None
        if not isinstance(objects, dict):
            raise VOSDataError(path, f"video {video!r} has no 'objects' mapping")
        parsed[video] = {}
        for key, obj in objects.items():
            if not key.isdigit() or int(key) == 0:
                raise VOSDataError(path, f"video {video!r}: object id {key!r} is not a "
                                         "positive integer")
            frames = obj.get("frames") if isinstance(obj, dict) else None
            if (not isinstance(frames, list) or not frames
                    or not all(isinstance(f, str) for f in frames)):
                raise VOSDataError(path, f"video {video!r} object {key}: 'frames' must be a "
                                         "non-empty list of frame names")
            parsed[video][int(key)] = {"category": obj.get("category"), "frames": frames}
    return parsed


class YouTubeVOS(SequenceDataset):
    """YouTube-VOS split ``train``, ``valid`` or ``test`` under ``root``.

    Per video: ``object_ids`` from meta (sorted, possibly with gaps), ``first_appearance`` =
    index of the first frame of each object's meta ``frames`` list, and, for valid/test,
    ``required_frames`` = frame index -> ids whose ``frames`` list contains that frame (the
    frames the server expects). ``meta["categories"]`` maps id -> category.

    Args:
        all_frames: take frames from ``<split>_all_frames`` (30 fps) instead of every 5th.
        gt_root: a folder with ``Annotations/<vid>/<frame>.png`` for every meta-listed frame
            (local ground truth, e.g. a held-out part of train). Its files become
            ``annotation_paths``; the split's own sparse masks stay in
            ``meta["given_annotation_paths"]``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "valid", all_frames: bool = False,
                 gt_root: str | os.PathLike | None = None, sequences: list[str] | None = None):
        root = require_dir(root, "YouTube-VOS root folder")
        split_dir = require_dir(root / split, "YouTube-VOS split folder")
        meta_path = split_dir / "meta.json"
        videos = read_ytvos_meta(meta_path)
        frames_dir = require_dir(root / f"{split}_all_frames" / "JPEGImages", "all-frames folder") \
            if all_frames else split_dir / "JPEGImages"
        gt_dir = (None if gt_root is None
                  else require_dir(Path(gt_root) / "Annotations", "ground-truth folder"))
        built = []
        for video in select_names(sorted(videos), sequences, meta_path):
            objects = videos[video]
            frames = sequence_frames(frames_dir / video, (".jpg", ".jpeg", ".png"))
            frame_names = list(frames)
            index = {name: i for i, name in enumerate(frame_names)}
            for obj, info in objects.items():
                for frame in info["frames"]:
                    if frame not in index:
                        raise VOSDataError(meta_path, f"video {video!r} object {obj} lists frame "
                                                      f"{frame!r}, which does not exist in "
                                                      f"{frames_dir / video}")
            masks = files_by_stem(split_dir / "Annotations" / video, (".png",), "annotation folder")
            given = annotations_by_frame(masks, frame_names, video)
            first_appearance = {obj: min(index[f] for f in info["frames"])
                                for obj, info in sorted(objects.items())}
            for obj, first in sorted(first_appearance.items()):
                if first not in given:
                    missing = split_dir / "Annotations" / video / f"{frame_names[first]}.png"
                    raise VOSDataError(missing,
                                       f"first-appearance mask of object {obj} does not exist")
            required = None
            if split in SPARSE_SPLITS or gt_dir is not None:
                required = {}
                for obj, info in sorted(objects.items()):
                    for frame in info["frames"]:
                        required.setdefault(index[frame], []).append(obj)
                required = dict(sorted(required.items()))
            annotations = given
            if gt_dir is not None:
                gt_masks = files_by_stem(gt_dir / video, (".png",), "ground-truth folder")
                for frame_index in required:
                    if frame_names[frame_index] not in gt_masks:
                        raise VOSDataError(gt_dir / video / f"{frame_names[frame_index]}.png",
                                           "ground truth of a meta-listed frame does not exist")
                annotations = {i: gt_masks[frame_names[i]] for i in required}
            built.append(VideoSequence(
                name=video,
                frame_paths=list(frames.values()),
                annotation_paths=annotations,
                mask_loader=indexed_mask_loader,
                object_ids=sorted(objects),
                first_appearance=dict(sorted(first_appearance.items())),
                required_frames=required,
                meta={"dataset": "ytvos", "split": split, "all_frames": all_frames,
                      "categories": {obj: objects[obj]["category"] for obj in sorted(objects)},
                      "object_frames": {obj: list(objects[obj]["frames"])
                                        for obj in sorted(objects)},
                      "given_annotation_paths": given},
            ))
        super().__init__(root, built, {"dataset": "ytvos", "split": split, "all_frames": all_frames,
                                       "meta_file": meta_path, "gt_root": gt_root})
