"""RCF's protocols, by name: what RCF's published numbers mean (evaluation.md 2.9, 3.2, 3.3).

* ``rcf-davis2016`` (RCF's ``tools/davis2016-evaluation`` run as task unsupervised, year
  2016): original DAVIS 2016 ground truth, ALL frames scored (first and last included),
  predictions resized bilinearly to the GT size, channel 0, foreground = value > 0.35 * 256;
  the headline J-FrameMean = sum over sequences of (J-Mean x frames) / all frames, i.e. the
  per-frame IoU averaged over every frame. Not the DAVIS 2016 J-Mean.
* ``rcf-segtrackv2`` / ``rcf-fbms59`` (RCF's ``eval_tool.py``): binary IoU per frame against
  ground truth at ORIGINAL resolution (GT = channel 0 / 255 > 0.5; prediction resized to
  the GT size with PIL's default filter, channel 0 / 255 > 0.35); a frame whose union is
  empty is NaN and skipped; FBMS frames without GT are skipped; the score is the nan-mean
  over all scored frames of all sequences (frame-weighted).

Predictions are RCF's flat files ``pred_seg_<seq>_<frame>_<step:07d>.png`` (DAVIS: frame
name; SegTrackv2 / FBMS: 5-digit index in the sequence's full frame list) or, with
``pred_layout="folders"``, ``<results>/<seq>/<frame>.png``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from vos_common.errors import VOSDataError

from vos_eval.davis import select_sequences
from vos_eval.davis2016 import (
    GT_SOURCE_WORDS,
    BinaryJob,
    check_binary_predictions,
    davis2016_sequences,
    detect_gt_source,
    evaluate_binary_sequence,
    find_rcf_prediction,
    sorted_pngs,
)
from vos_eval.metrics import BOUND_TH
from vos_eval.parallel import run_tasks
from vos_eval.results import EvaluationResult, davis_global_scores

PRED_LAYOUTS = ("auto", "rcf", "folders")
RCF_IOU_DATASETS = ("segtrackv2", "fbms59")
RCF_LIST_FILES = {"segtrackv2": "trainval.txt", "fbms59": "val_all.txt"}


def _layout(results_root: Path, names: list[str], pred_layout: str) -> str:
    if pred_layout not in PRED_LAYOUTS:
        raise VOSDataError(None, f"prediction layout must be one of {', '.join(PRED_LAYOUTS)}")
    if pred_layout != "auto":
        return pred_layout
    return "folders" if any((results_root / name).is_dir() for name in names) else "rcf"


# -------------------------------------------------------------------------- DAVIS 2016
def evaluate_rcf_davis2016(
    davis_path: str | os.PathLike,
    results_path: str | os.PathLike,
    subset: str = "val",
    step: int = 0,
    resolution: str = "480p",
    pred_layout: str = "auto",
    gt_source: str = "auto",
    sequences: list[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    bound_th: float = BOUND_TH,
) -> EvaluationResult:
    """RCF's DAVIS 2016 protocol (all frames, frame-weighted J-FrameMean); see module doc."""
    start = time.perf_counter()
    davis_root, results_root = Path(davis_path), Path(results_path)
    if not davis_root.is_dir():
        raise VOSDataError(davis_root, "DAVIS root does not exist")
    if not results_root.is_dir():
        raise VOSDataError(results_root, "results folder does not exist")
    source = detect_gt_source(davis_root, subset, resolution, gt_source)
    names = select_sequences(
        davis2016_sequences(davis_root, subset, resolution, source), sequences, davis_root
    )
    layout = _layout(results_root, names, pred_layout)
    jobs = []
    for name in names:
        paths = sorted_pngs(davis_root / "Annotations" / resolution / name, name)
        frames = tuple(p.stem for p in paths)
        if layout == "rcf":
            preds = tuple(find_rcf_prediction(results_root, name, frame, step) for frame in frames)
        else:
            preds = tuple(results_root / name / f"{frame}.png" for frame in frames)
        jobs.append(
            BinaryJob(
                name,
                frames,
                tuple(paths),
                preds,
                gt_rule="nonzero" if source == "original" else "labels2017",
                pred_rule="rcf-davis",
                bound_th=bound_th,
            )
        )
    check_binary_predictions(jobs, results_root)
    objects = run_tasks(
        evaluate_binary_sequence,
        jobs,
        workers,
        progress,
        "RCF DAVIS 2016",
        sizes=[job.object_frames for job in jobs],
    )
    scores = davis_global_scores(objects)
    weighted, total = 0.0, 0
    for obj in objects:  # RCF's order of accumulation, for identical rounding
        weighted += obj.j_stats.mean * obj.n_frames
        total += obj.n_frames
    frame_mean = weighted / total if total else float("nan")
    global_scores = {
        "J&F-Mean": scores["J&F-Mean"],
        "J-Mean": scores["J-Mean"],
        "J-FrameMean": frame_mean,
        **{key: scores[key] for key in ("J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")},
    }
    description = (
        "RCF's DAVIS 2016 protocol (RCF tools/davis2016-evaluation, task unsupervised, year "
        "2016): ALL "
        "frames scored, first and last included; predictions resized bilinearly to the "
        "ground-truth "
        "size, channel 0, foreground = value > 0.35 x 256; headline J-FrameMean = per-frame IoU "
        "averaged over all frames of all sequences (frame-weighted); J-Mean, Recall, Decay and F-* "
        "are per-sequence statistics over all frames, averaged over sequences. This is not the "
        "DAVIS 2016 J-Mean (which drops the first and last frame); " + GT_SOURCE_WORDS[source] + "."
    )
    return EvaluationResult(
        protocol="rcf-davis2016",
        description=description,
        objects=objects,
        global_scores=global_scores,
        settings={
            "davis_path": str(davis_path),
            "results_path": str(results_path),
            "set": subset,
            "step": step,
            "resolution": resolution,
            "gt_source": source,
            "prediction_layout": layout,
            "bound_th": bound_th,
            "sequences": names,
            "workers": workers,
            "object_frames": total,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )


# -------------------------------------------------------------------- SegTrackv2 / FBMS
def _rcf_list_jobs(
    dataset: str, data_root: Path, list_file: Path, results_root: Path, layout: str, step: int
) -> list[BinaryJob]:
    """Jobs from RCF's list-file layout: ``JPEGImages/<seq>/ f1 f2 ...`` per line."""
    jobs = []
    for line in list_file.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        folder, frames = parts[0], parts[1:]
        name = [p for p in folder.split("/") if p][-1]
        gt_folder = data_root / folder.replace("JPEGImages", "Annotations")
        scored, gts, preds = [], [], []
        for index, frame in enumerate(frames):
            gt_path = gt_folder / (frame.replace(".jpg", ".png") if dataset == "fbms59" else frame)
            if not gt_path.is_file():
                if dataset == "fbms59":
                    continue  # sparse FBMS annotation: frames without GT are not scored
                raise VOSDataError(
                    gt_path,
                    f"sequence {name!r}, frame {Path(frame).stem}: ground truth "
                    f"listed in {list_file.name} does not exist",
                )
            scored.append(Path(frame).stem)
            gts.append(gt_path)
            preds.append(
                results_root / f"pred_seg_{name}_{index:05d}_{step:07d}.png"
                if layout == "rcf"
                else results_root / name / f"{Path(frame).stem}.png"
            )
        jobs.append(
            BinaryJob(
                name,
                tuple(scored),
                tuple(gts),
                tuple(preds),
                gt_rule="half",
                pred_rule="rcf-stv2",
                with_boundary=False,
                empty_union_nan=True,
            )
        )
    if not jobs:
        raise VOSDataError(list_file, "list file names no sequence")
    return jobs


def _reader_jobs(
    dataset: str,
    data_root: Path,
    split: str | None,
    results_root: Path,
    pred_layout: str,
    step: int,
) -> list[BinaryJob]:
    """Jobs from the original releases, read with vos_common's dataset readers."""
    from vos_common.datasets import open_dataset

    if dataset == "segtrackv2":
        sequences = open_dataset("segtrackv2", data_root, merge_objects=True, mask_threshold=128)
    else:
        sequences = open_dataset("fbms59", data_root, split=split or "test", binary=True)
    layout = _layout(results_root, [seq.name for seq in sequences], pred_layout)
    jobs = []
    for seq in sequences:
        indices = seq.annotated_frames
        frames = tuple(seq.frame_paths[i].stem for i in indices)
        preds = tuple(
            results_root / f"pred_seg_{seq.name}_{i:05d}_{step:07d}.png"
            if layout == "rcf"
            else results_root / seq.name / f"{seq.frame_paths[i].stem}.png"
            for i in indices
        )
        jobs.append(
            BinaryJob(
                seq.name,
                frames,
                tuple(seq.annotation_paths[i] for i in indices),
                preds,
                gt_rule="reader",
                pred_rule="rcf-stv2",
                with_boundary=False,
                empty_union_nan=True,
                gt_reader=seq.mask_loader,
            )
        )
    return jobs


def evaluate_rcf_iou(
    dataset: str,
    data_path: str | os.PathLike,
    results_path: str | os.PathLike,
    step: int = 0,
    list_file: str | os.PathLike | None = None,
    split: str | None = None,
    pred_layout: str = "auto",
    sequences: list[str] | None = None,
    workers: int = 1,
    progress: bool = False,
) -> EvaluationResult:
    """RCF's SegTrackv2 / FBMS-59 frame-weighted IoU at original resolution; see module doc.

    ``data_path`` is RCF's data folder (``data_SegTrackv2`` / ``data_fbms59`` with a list
    file, default ``trainval.txt`` / ``val_all.txt``) or, when no list file is there, the
    original release (SegTrackv2 ``GroundTruth/``, FBMS-59 ``Trainingset/`` / ``Testset/``;
    ``split`` picks FBMS' part).
    """
    start = time.perf_counter()
    if dataset not in RCF_IOU_DATASETS:
        raise VOSDataError(
            None, f"dataset must be one of {', '.join(RCF_IOU_DATASETS)}, got {dataset!r}"
        )
    data_root, results_root = Path(data_path), Path(results_path)
    if not data_root.is_dir():
        raise VOSDataError(data_root, "dataset root does not exist")
    if not results_root.is_dir():
        raise VOSDataError(results_root, "results folder does not exist")
    list_path = Path(list_file) if list_file is not None else data_root / RCF_LIST_FILES[dataset]
    if list_file is not None and not list_path.is_file():
        raise VOSDataError(list_path, "list file does not exist")
    if list_path.is_file():
        names = [
            [p for p in line.split()[0].split("/") if p][-1]
            for line in list_path.read_text().splitlines()
            if line.split()
        ]
        layout = _layout(results_root, names, pred_layout)
        jobs = _rcf_list_jobs(dataset, data_root, list_path, results_root, layout, step)
        source = f"RCF list file {list_path.name}"
    else:
        jobs = _reader_jobs(dataset, data_root, split, results_root, pred_layout, step)
        source = "original release"
    if sequences:
        keep = select_sequences([job.name for job in jobs], sequences, data_root)
        jobs = [job for job in jobs if job.name in keep]
    check_binary_predictions(jobs, results_root)
    objects = run_tasks(
        evaluate_binary_sequence,
        jobs,
        workers,
        progress,
        f"RCF {dataset}",
        sizes=[job.object_frames for job in jobs],
    )
    all_frames = np.concatenate([obj.j for obj in objects]) if objects else np.zeros(0)
    finite = all_frames[~np.isnan(all_frames)]
    miou = float(np.nanmean(all_frames)) if finite.size else float("nan")
    rows = [
        (obj.name[:-2], (float(np.nanmean(obj.j)) if (~np.isnan(obj.j)).any() else float("nan"),))
        for obj in objects
    ]
    label = {"segtrackv2": "SegTrackv2", "fbms59": "FBMS-59"}[dataset]
    description = (
        f"RCF's {label} protocol (RCF tools/STv2-FBMS59-evaluation): binary IoU per frame at the "
        "ground truth's original resolution; GT = channel 0 / 255 > 0.5, prediction resized to "
        "the GT "
        "size (PIL default filter), channel 0 / 255 > 0.35; all objects merged into one "
        "foreground; "
        "frames with an empty union are skipped (NaN)"
        + ("; frames without ground truth are skipped" if dataset == "fbms59" else "")
        + "; mIoU = mean over all scored frames of all sequences (frame-weighted). "
        f"Ground truth: {source}."
    )
    return EvaluationResult(
        protocol=f"rcf-{dataset}",
        description=description,
        objects=objects,
        global_scores={"mIoU": miou},
        per_sequence_columns=("mIoU",),
        per_sequence_rows=rows,
        settings={
            "data_path": str(data_path),
            "results_path": str(results_path),
            "dataset": dataset,
            "step": step,
            "gt_source": source,
            "sequences": [job.name for job in jobs],
            "frames": int(all_frames.size),
            "frames_with_nonempty_union": int(finite.size),
            "workers": workers,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
