"""YouTube-VOS: the submission zip the server expects, and local J/F where GT exists.

Submission (evaluation.md 1.3): a zip whose top level is ``Annotations/``, holding
``<video>/<frame>.png`` for every frame in the union of that video's meta.json ``frames``
lists, as single-channel indexed PNGs at the annotation size carrying the ORIGINAL object
ids. :func:`pack_submission` refuses an incomplete set and lists every missing frame.

Local scores (evaluation.md 2.8): the server's GT for valid/test is withheld, so local J/F
needs data with full annotations (a held-out part of train, or the synthetic benchmark).
Per object, the frames of its meta ``frames`` list after the first one (the given mask) are
scored with the DAVIS definitions of J and F (no void); values are averaged per object;
with categories and a set of seen categories the server-style J-seen, J-unseen, F-seen,
F-unseen and Overall (their mean) are reported. The server's exact averaging is not
published; this per-object reading is an assumption, stated in the report.
"""

from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from vos_common.datasets import read_ytvos_meta as read_meta
from vos_common.errors import VOSDataError
from vos_common.io import atomic_path

from vos_eval.inputs import check_same_size, frame_error, read_labels
from vos_eval.metrics import BOUND_TH, boundary_radius
from vos_eval.parallel import run_tasks
from vos_eval.results import EvaluationResult, ObjectResult
from vos_eval.scoring import FrameMasks, score_pair


class SubmissionIncomplete(VOSDataError):
    """Required frames are missing; ``missing`` maps video -> missing frame names."""

    def __init__(self, path, missing: dict[str, list[str]], required: int):
        self.missing = missing
        count = sum(len(frames) for frames in missing.values())
        super().__init__(
            path,
            f"{count} of {required} required frames are missing in {len(missing)} "
            "video(s); nothing was written",
        )

    def details(self) -> list[str]:
        """One line per incomplete video: ``<video>: <frame> <frame> ...``."""
        return [f"  {video}: {' '.join(frames)}" for video, frames in sorted(self.missing.items())]


def required_frames(meta: dict[str, dict[int, dict]]) -> dict[str, list[str]]:
    """Video -> sorted union of its objects' frame lists (the frames the server expects)."""
    return {
        video: sorted({frame for obj in objects.values() for frame in obj["frames"]})
        for video, objects in meta.items()
    }


def _prediction_root(predictions: Path) -> Path:
    """Accept both ``<dir>/<video>/`` and ``<dir>/Annotations/<video>/``."""
    nested = predictions / "Annotations"
    return nested if nested.is_dir() else predictions


def _annotation_size(annotations: Path | None, video: str) -> tuple[int, int] | None:
    if annotations is None:
        return None
    folder = annotations / video
    if not folder.is_dir():
        raise VOSDataError(folder, f"video {video!r}: annotation folder does not exist")
    first = min(
        (p for p in folder.iterdir() if p.suffix == ".png"), default=None, key=lambda p: p.name
    )
    if first is None:
        raise VOSDataError(folder, f"video {video!r}: annotation folder has no PNG")
    with Image.open(first) as image:
        return image.size[1], image.size[0]


def _check_png(
    path: Path, video: str, frame: str, ids: set[int], size: tuple[int, int] | None
) -> None:
    labels = read_labels(path, video, frame, "prediction")
    if size is not None:
        check_same_size(labels, size, path, video, frame, "prediction", "annotation")
    found = set(np.flatnonzero(np.bincount(labels.ravel(), minlength=256)).tolist()) - {0}
    unknown = sorted(found - ids)
    if unknown:
        raise frame_error(
            path,
            video,
            frame,
            f"ids {unknown} are not objects of this video (meta.json has {sorted(ids)}); "
            "the server needs the ORIGINAL object ids",
        )


@dataclass
class PackReport:
    """What :func:`pack_submission` wrote."""

    output: Path
    videos: int
    frames: int
    extra_frames: int


def pack_submission(
    meta_path: str | os.PathLike,
    predictions: str | os.PathLike,
    output: str | os.PathLike,
    annotations: str | os.PathLike | None = None,
    keep_extra_frames: bool = False,
    check_pixels: bool = True,
) -> PackReport:
    """Write the server's zip (``Annotations/<video>/<frame>.png``) after checking every frame.

    Args:
        meta_path: the split's meta.json (defines the required frames and object ids).
        predictions: ``<dir>/<video>/<frame>.png`` (or with an ``Annotations/`` level).
        annotations: the split's ``Annotations`` folder, to check each PNG's size.
        keep_extra_frames: also pack PNGs that are not required (the server tolerates them).
        check_pixels: decode every PNG to check it is indexed, sized right, with original ids.

    Raises :class:`SubmissionIncomplete` (with the full list) if any required frame is
    missing, and a one-line error for the first malformed PNG; the zip appears only on success.
    """
    meta = read_meta(meta_path)
    root = _prediction_root(Path(predictions))
    if not root.is_dir():
        raise VOSDataError(root, "predictions folder does not exist")
    annotations_root = Path(annotations) if annotations is not None else None
    needed = required_frames(meta)
    missing: dict[str, list[str]] = {}
    for video, frames in needed.items():
        absent = [frame for frame in frames if not (root / video / f"{frame}.png").is_file()]
        if absent:
            missing[video] = absent
    if missing:
        raise SubmissionIncomplete(root, missing, sum(len(frames) for frames in needed.values()))
    entries: list[tuple[Path, str]] = []
    extra = 0
    for video in sorted(needed):
        size = _annotation_size(annotations_root, video) if check_pixels else None
        ids = set(meta[video])
        names = list(needed[video])
        if keep_extra_frames:
            others = sorted(
                p.stem
                for p in (root / video).iterdir()
                if p.suffix == ".png" and p.stem not in set(names)
            )
            extra += len(others)
            names = sorted(set(names) | set(others))
        for frame in names:
            path = root / video / f"{frame}.png"
            if check_pixels:
                _check_png(path, video, frame, ids, size)
            entries.append((path, f"Annotations/{video}/{frame}.png"))
    output = Path(output)
    with atomic_path(output) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for path, name in entries:
            archive.write(path, name)
    return PackReport(output, len(needed), len(entries), extra)


def check_submission(meta_path: str | os.PathLike, submission: str | os.PathLike) -> int:
    """Check a zip (or folder) against meta.json; returns the number of required frames.

    Raises :class:`SubmissionIncomplete` listing missing frames, or a one-line error if the
    zip's top level is not ``Annotations/``.
    """
    meta = read_meta(meta_path)
    needed = required_frames(meta)
    submission = Path(submission)
    if submission.is_dir():
        root = _prediction_root(submission)
        present = {str(p.relative_to(root)).replace(os.sep, "/") for p in root.glob("*/*.png")}
    else:
        try:
            with zipfile.ZipFile(submission) as archive:
                names = archive.namelist()
        except (FileNotFoundError, zipfile.BadZipFile) as err:
            raise VOSDataError(submission, f"not a readable zip ({err})") from None
        tops = {name.split("/", 1)[0] for name in names}
        if tops != {"Annotations"}:
            raise VOSDataError(
                submission,
                f"top level must be the single folder 'Annotations/', found {sorted(tops)[:5]}",
            )
        present = {name[len("Annotations/") :] for name in names if name.endswith(".png")}
    missing: dict[str, list[str]] = {}
    for video, frames in needed.items():
        absent = [frame for frame in frames if f"{video}/{frame}.png" not in present]
        if absent:
            missing[video] = absent
    total = sum(len(frames) for frames in needed.values())
    if missing:
        raise SubmissionIncomplete(submission, missing, total)
    return total


# ------------------------------------------------------------------------ local scoring
@dataclass(frozen=True)
class VideoJob:
    """One video to score locally (picklable)."""

    name: str
    objects: tuple[tuple[int, tuple[str, ...], str | None], ...]  # (id, scored frames, category)
    gt_dir: Path
    pred_dir: Path
    bound_th: float = BOUND_TH

    @property
    def object_frames(self) -> int:
        return sum(len(frames) for _, frames, _ in self.objects)


def evaluate_video(job: VideoJob) -> list[ObjectResult]:
    """J and F of every object of one video over its scored frames."""
    frames = sorted({frame for _, scored, _ in job.objects for frame in scored})
    values: dict[tuple[int, str], tuple[float, float]] = {}
    shape = None
    for frame in frames:
        gt_path = job.gt_dir / f"{frame}.png"
        if not gt_path.is_file():
            raise frame_error(
                gt_path,
                job.name,
                frame,
                "ground truth does not exist (YouTube-VOS valid/test GT is withheld: local "
                "scores need fully annotated data, e.g. a held-out part of train)",
            )
        gt = read_labels(gt_path, job.name, frame, "ground truth")
        shape = gt.shape if shape is None else shape
        check_same_size(
            gt, shape, gt_path, job.name, frame, "ground truth", "video's first ground-truth frame"
        )
        pred_path = job.pred_dir / f"{frame}.png"
        pred = read_labels(pred_path, job.name, frame, "prediction")
        check_same_size(pred, gt.shape, pred_path, job.name, frame)
        radius = boundary_radius(*gt.shape, job.bound_th)
        gt_masks, pred_masks = FrameMasks(gt, radius), FrameMasks(pred, radius)
        for object_id, scored, _ in job.objects:
            if frame in scored:
                values[(object_id, frame)] = score_pair(pred_masks, object_id, gt_masks, object_id)
    results = []
    for object_id, scored, category in job.objects:
        j = [values[(object_id, frame)][0] for frame in scored]
        f = [values[(object_id, frame)][1] for frame in scored]
        results.append(
            ObjectResult(
                job.name,
                f"{job.name}_{object_id}",
                object_id,
                list(scored),
                np.array(j),
                np.array(f),
                category=category,
            )
        )
    return results


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_youtube(
    data_path: str | os.PathLike,
    results_path: str | os.PathLike,
    split: str = "train",
    meta_path: str | os.PathLike | None = None,
    gt_dir: str | os.PathLike | None = None,
    seen_categories: set[str] | None = None,
    include_first_frame: bool = False,
    sequences: list[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    bound_th: float = BOUND_TH,
) -> EvaluationResult:
    """Local J/F on YouTube-VOS-format data with full ground truth.

    ``data_path/<split>/Annotations/<video>/<frame>.png`` (or ``gt_dir``, e.g. the synthetic
    benchmark's ``valid_gt/Annotations``) and ``meta.json`` give GT and the frames per object;
    predictions are ``results_path/<video>/<frame>.png`` (an
    ``Annotations/`` level is accepted). ``seen_categories`` enables the seen / unseen split.
    """
    start = time.perf_counter()
    split_root = Path(data_path) / split
    meta = read_meta(Path(meta_path) if meta_path is not None else split_root / "meta.json")
    gt_root = Path(gt_dir) if gt_dir is not None else split_root / "Annotations"
    if not gt_root.is_dir():
        raise VOSDataError(gt_root, "annotation folder does not exist")
    pred_root = _prediction_root(Path(results_path))
    if not pred_root.is_dir():
        raise VOSDataError(pred_root, "results folder does not exist")
    videos = sorted(meta)
    if sequences:
        unknown = sorted(set(sequences) - set(videos))
        if unknown:
            raise VOSDataError(gt_root, f"video(s) not in meta.json: {', '.join(unknown)}")
        videos = [video for video in videos if video in set(sequences)]
    if not any((pred_root / video).is_dir() for video in videos):
        raise VOSDataError(pred_root, "results folder has no prediction folder for any video")
    jobs = []
    for video in videos:
        objects = tuple(
            (
                object_id,
                tuple(info["frames"] if include_first_frame else info["frames"][1:]),
                info["category"],
            )
            for object_id, info in sorted(meta[video].items())
        )
        job = VideoJob(video, objects, gt_root / video, pred_root / video, bound_th)
        for _, scored, _ in objects:
            for frame in scored:
                path = job.pred_dir / f"{frame}.png"
                if not path.is_file():
                    raise frame_error(path, video, frame, "prediction file does not exist")
        jobs.append(job)
    per_video = run_tasks(
        evaluate_video,
        jobs,
        workers,
        progress,
        "YouTube-VOS",
        sizes=[job.object_frames for job in jobs],
    )
    objects = [obj for video_objects in per_video for obj in video_objects]
    scored_objects = [obj for obj in objects if obj.n_frames > 0]
    if seen_categories is not None:
        unlabelled = [obj.name for obj in scored_objects if obj.category is None]
        if unlabelled:
            raise VOSDataError(
                Path(meta_path) if meta_path is not None else split_root / "meta.json",
                f"{len(unlabelled)} object(s) have no category (e.g. {unlabelled[0]}); "
                "a seen/unseen split needs categories in meta.json",
            )
        seen = [obj for obj in scored_objects if obj.category in seen_categories]
        unseen = [obj for obj in scored_objects if obj.category not in seen_categories]
        parts = {
            "J-seen": _mean([o.j_stats.mean for o in seen]),
            "J-unseen": _mean([o.j_stats.mean for o in unseen]),
            "F-seen": _mean([o.f_stats.mean for o in seen]),
            "F-unseen": _mean([o.f_stats.mean for o in unseen]),
        }
        global_scores = {"Overall": float(np.mean(list(parts.values()))), **parts}
        grouping = (
            f"objects split by category into seen ({len(seen)}) and unseen ({len(unseen)}); "
            "Overall = mean of J-seen, J-unseen, F-seen, F-unseen"
        )
    else:
        j_mean = _mean([o.j_stats.mean for o in scored_objects])
        f_mean = _mean([o.f_stats.mean for o in scored_objects])
        global_scores = {"J&F-Mean": (j_mean + f_mean) / 2, "J-Mean": j_mean, "F-Mean": f_mean}
        grouping = (
            "no seen/unseen split (no seen categories given); J&F-Mean = (J-Mean + F-Mean) / 2"
        )
    description = (
        "YouTube-VOS, local scoring (the server's averaging is unpublished; assumed per object): "
        "per "
        "object, the frames of its meta.json list "
        + ("including" if include_first_frame else "after")
        + " the first (given) frame are scored with DAVIS J (mask IoU) and F (boundary F-measure, "
        "tolerance ceil(0.008 x frame diagonal)), no void; per-object means averaged over objects; "
        + grouping
        + "."
    )
    return EvaluationResult(
        protocol="youtube-vos-local",
        description=description,
        objects=objects,
        global_scores=global_scores,
        settings={
            "data_path": str(data_path),
            "split": split,
            "results_path": str(results_path),
            "include_first_frame": include_first_frame,
            "seen_categories": sorted(seen_categories) if seen_categories is not None else None,
            "videos": videos,
            "workers": workers,
            "object_frames": sum(o.n_frames for o in objects),
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
