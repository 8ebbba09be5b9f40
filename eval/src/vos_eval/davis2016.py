"""DAVIS 2016 (one binary object per sequence), and the binary-sequence engine RCF reuses.

DAVIS 2016 protocol (evaluation.md 2.7, the 2016 Python and MATLAB toolkits): one object
per sequence, any non-zero pixel is foreground in GT and prediction, frames 1..N-2 scored
(first and last dropped, for either task), J and F without void, Mean / Recall / Decay per
sequence, global = mean over sequences.

Ground-truth source, recorded in every report (evaluation.md 1.2):

* ``original``: the 2016 release (``ImageSets/<res>/<set>.txt`` with one line per frame,
  0/255 masks, channel 0 non-zero = foreground);
* ``2017``: the 2016 names from a 2017 trainval root (``ImageSets/2016/<set>.txt``) with
  the 2017 annotations merged (any object id 1..254 = foreground, 255 = void removed).
  The merged 2017 masks are not guaranteed to equal the 2016 masks.
"""

from __future__ import annotations

import glob
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from vos_common.errors import VOSDataError

from vos_eval.davis import read_sequence_list, select_sequences
from vos_eval.inputs import check_same_size, frame_error, read_foreground, read_labels
from vos_eval.metrics import BOUND_TH, boundary_radius, j_from_counts
from vos_eval.parallel import run_tasks
from vos_eval.pngread import read_label_png
from vos_eval.results import EvaluationResult, ObjectResult, davis_global_scores
from vos_eval.scoring import score_masks

GT_SOURCES = ("auto", "original", "2017")

GT_SOURCE_WORDS = {
    "original": "ground truth from the original DAVIS 2016 release (0/255 masks)",
    "2017": (
        "ground truth derived from the DAVIS 2017 annotations (union of all objects, void "
        "removed); "
        "not guaranteed pixel-identical to the original 2016 masks"
    ),
}


# ----------------------------------------------------------------- binary sequence engine
@dataclass(frozen=True)
class BinaryJob:
    """One binary-object sequence to score (picklable).

    Attributes:
        gt_paths / pred_paths: aligned files of the scored frames; ``frames`` their names.
        gt_rule: ``nonzero`` (channel 0 non-zero), ``labels2017`` (ids 1..254) or
            ``half`` (channel 0 / 255 > 0.5, RCF's SegTrackv2 / FBMS rule), or ``reader``
            (``gt_reader`` gives the mask).
        pred_rule: ``nonzero``, ``rcf-davis`` (bilinear resize to the GT size, channel 0,
            value > 0.35 * 256) or ``rcf-stv2`` (PIL's default resize to the GT size,
            channel 0, value / 255 > 0.35).
        with_boundary: compute F (DAVIS protocols) or only J (RCF's IoU protocols).
        empty_union_nan: J of a frame where both masks are empty is NaN (RCF's IoU tool)
            instead of 1 (DAVIS).
    """

    name: str
    frames: tuple[str, ...]
    gt_paths: tuple[Path, ...]
    pred_paths: tuple[Path, ...]
    gt_rule: str = "nonzero"
    pred_rule: str = "nonzero"
    with_boundary: bool = True
    empty_union_nan: bool = False
    bound_th: float = BOUND_TH
    gt_reader: Callable[[Path], np.ndarray] | None = None

    @property
    def object_frames(self) -> int:
        return len(self.frames)


def _pil_array(path: Path, sequence: str, frame: str, what: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise frame_error(path, sequence, frame, f"{what} file does not exist") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise frame_error(path, sequence, frame, f"cannot decode {what} ({err})") from None
    return image


def _channel0(array: np.ndarray) -> np.ndarray:
    return array[..., 0] if array.ndim == 3 else array


def read_gt_binary(job: BinaryJob, index: int) -> np.ndarray:
    """GT foreground of scored frame ``index`` under ``job.gt_rule``, ``(H, W)`` bool."""
    path, frame = job.gt_paths[index], job.frames[index]
    if job.gt_rule == "nonzero":
        return read_foreground(path, job.name, frame, "ground truth")
    if job.gt_rule == "labels2017":
        labels = read_labels(path, job.name, frame, "ground truth")
        return (labels != 0) & (labels != 255)
    if job.gt_rule == "reader":
        return np.asarray(job.gt_reader(path)) != 0
    values = read_label_png(path) if path.suffix.lower() == ".png" and path.is_file() else None
    if values is None:
        values = _channel0(np.asarray(_pil_array(path, job.name, frame, "ground truth")))
    return values / 255.0 > 0.5


def read_pred_binary(job: BinaryJob, index: int, shape: tuple[int, int]) -> np.ndarray:
    """Prediction foreground of scored frame ``index`` under ``job.pred_rule``, ``(H, W)`` bool."""
    path, frame = job.pred_paths[index], job.frames[index]
    if job.pred_rule == "nonzero":
        mask = read_foreground(path, job.name, frame, "prediction")
        check_same_size(mask, shape, path, job.name, frame)
        return mask
    image = _pil_array(path, job.name, frame, "prediction")
    height, width = shape
    if job.pred_rule == "rcf-davis":
        values = _channel0(np.asarray(image.resize((width, height), resample=Image.BILINEAR)))
        return values > 0.35 * 256
    values = _channel0(np.asarray(image.resize((width, height))))
    return values / 255.0 > 0.35


def evaluate_binary_sequence(job: BinaryJob) -> ObjectResult:
    """Per-frame J (and F) of one binary sequence, as one object named ``<seq>_1``."""
    n_frames = len(job.frames)
    j = np.empty(n_frames)
    f = np.full(n_frames, math.nan)
    shape = None
    for index in range(n_frames):
        gt = read_gt_binary(job, index)
        if shape is None:
            shape = gt.shape
        pred = read_pred_binary(job, index, gt.shape)
        if job.with_boundary:
            check_same_size(
                gt,
                shape,
                job.gt_paths[index],
                job.name,
                job.frames[index],
                "ground truth",
                "first scored ground-truth frame",
            )
            j[index], f[index] = score_masks(pred, gt, boundary_radius(*gt.shape, job.bound_th))
        else:
            inter, union = int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred | gt))
            j[index] = (
                math.nan if (union == 0 and job.empty_union_nan) else j_from_counts(inter, union)
            )
    return ObjectResult(job.name, f"{job.name}_1", 1, list(job.frames), j, f)


# ---------------------------------------------------------------------- DAVIS 2016 layout
def detect_gt_source(davis_root: Path, subset: str, resolution: str, gt_source: str) -> str:
    """Which GT: ``original`` (``ImageSets/<res>/<set>.txt``) or ``2017`` (``ImageSets/2016/``)."""
    if gt_source not in GT_SOURCES:
        raise VOSDataError(
            None, f"gt source must be one of {', '.join(GT_SOURCES)}, got {gt_source!r}"
        )
    if gt_source != "auto":
        return gt_source
    if (davis_root / "ImageSets" / resolution / f"{subset}.txt").is_file():
        return "original"
    if (davis_root / "ImageSets" / "2016" / f"{subset}.txt").is_file():
        return "2017"
    raise VOSDataError(
        davis_root,
        f"neither ImageSets/{resolution}/{subset}.txt (DAVIS 2016 release) nor "
        f"ImageSets/2016/{subset}.txt (DAVIS 2017 trainval) exists",
    )


def davis2016_sequences(davis_root: Path, subset: str, resolution: str, source: str) -> list[str]:
    """Sequence names of a 2016 set.

    Original release: the third non-empty ``/``-separated component of every frame line,
    de-duplicated and sorted (as RCF's and hkchengrex's tools read it). 2017 root: the names
    of ``ImageSets/2016/<set>.txt`` in file order.
    """
    if source == "2017":
        return read_sequence_list(davis_root / "ImageSets" / "2016" / f"{subset}.txt")
    list_file = davis_root / "ImageSets" / resolution / f"{subset}.txt"
    names = set()
    for line in read_sequence_list(list_file):
        parts = [part for part in line.split()[0].split("/") if part]
        if len(parts) < 3:
            raise VOSDataError(
                list_file, f"line {line!r} is not '/JPEGImages/<res>/<seq>/<frame>.jpg ...'"
            )
        names.add(parts[2])
    return sorted(names)


def sorted_pngs(folder: Path, sequence: str) -> list[Path]:
    """PNG files of a GT folder sorted by name; a missing or empty folder raises."""
    if not folder.is_dir():
        raise frame_error(folder, sequence, None, "ground-truth folder does not exist")
    paths = sorted((p for p in folder.iterdir() if p.suffix == ".png"), key=lambda p: p.name)
    if not paths:
        raise frame_error(folder, sequence, None, "ground-truth folder has no PNG files")
    return paths


def evaluate_davis2016(
    davis_path: str | os.PathLike,
    results_path: str | os.PathLike,
    task: str = "semi-supervised",
    subset: str = "val",
    resolution: str = "480p",
    sequences: list[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    bound_th: float = BOUND_TH,
    gt_source: str = "auto",
) -> EvaluationResult:
    """DAVIS 2016 protocol: binary masks, first and last frames dropped, mean over sequences.

    ``task`` is recorded only: the 2016 rules are the same for both tasks. Predictions are
    ``<results>/<seq>/<frame>.png`` in any of 0/1, 0/255 or indexed form (non-zero =
    foreground).
    """
    start = time.perf_counter()
    davis_root = Path(davis_path)
    if not davis_root.is_dir():
        raise VOSDataError(davis_root, "DAVIS root does not exist")
    source = detect_gt_source(davis_root, subset, resolution, gt_source)
    list_file = (
        davis_root / "ImageSets" / ("2016" if source == "2017" else resolution) / f"{subset}.txt"
    )
    names = select_sequences(
        davis2016_sequences(davis_root, subset, resolution, source), sequences, list_file
    )
    results_root = Path(results_path)
    jobs = []
    for name in names:
        paths = sorted_pngs(davis_root / "Annotations" / resolution / name, name)
        if len(paths) < 3:
            raise frame_error(
                paths[0].parent,
                name,
                None,
                f"{len(paths)} ground-truth frame(s): dropping the first and last leaves none",
            )
        scored = paths[1:-1]
        jobs.append(
            BinaryJob(
                name,
                tuple(p.stem for p in scored),
                tuple(scored),
                tuple(results_root / name / f"{p.stem}.png" for p in scored),
                gt_rule="nonzero" if source == "original" else "labels2017",
                bound_th=bound_th,
            )
        )
    check_binary_predictions(jobs, results_root)
    objects = run_tasks(
        evaluate_binary_sequence,
        jobs,
        workers,
        progress,
        "DAVIS 2016",
        sizes=[job.object_frames for job in jobs],
    )
    description = (
        "DAVIS 2016 (2016 Python/MATLAB toolkit rules): one binary object per sequence, any "
        "non-zero "
        "pixel is foreground; the first and last frames are not scored; J = mask IoU, F = boundary "
        "F-measure with tolerance ceil(0.008 x frame diagonal); per sequence Mean, Recall (> 0.5) "
        "and "
        "Decay; global scores = mean over sequences; J&F-Mean = (J-Mean + F-Mean) / 2; "
        + GT_SOURCE_WORDS[source]
        + "."
    )
    return EvaluationResult(
        protocol="davis2016",
        description=description,
        objects=objects,
        global_scores=davis_global_scores(objects),
        settings={
            "davis_path": str(davis_path),
            "results_path": str(results_path),
            "task": task,
            "set": subset,
            "year": 2016,
            "resolution": resolution,
            "gt_source": source,
            "bound_th": bound_th,
            "sequences": names,
            "workers": workers,
            "object_frames": sum(obj.n_frames for obj in objects),
            "seconds": round(time.perf_counter() - start, 3),
        },
    )


def check_binary_predictions(jobs: list[BinaryJob], results_root: Path) -> None:
    """Missing / empty results folder and missing prediction frames, before any scoring."""
    if not results_root.is_dir():
        raise VOSDataError(results_root, "results folder does not exist")
    if not any(results_root.iterdir()):
        raise VOSDataError(results_root, "results folder is empty")
    for job in jobs:
        for frame, path in zip(job.frames, job.pred_paths, strict=True):
            if not path.is_file():
                raise frame_error(path, job.name, frame, "prediction file does not exist")


def find_rcf_prediction(results_root: Path, sequence: str, frame: str, step: int) -> Path:
    """RCF's flat name ``pred_seg_<seq>_<frame>_<step:07d>.png`` (or one extra name part)."""
    path = results_root / f"pred_seg_{sequence}_{frame}_{step:07d}.png"
    if path.is_file():
        return path
    matches = glob.glob(
        str(results_root / f"pred_seg_{glob.escape(sequence)}_*_{frame}_{step:07d}.png")
    )
    if len(matches) == 1:
        return Path(matches[0])
    return path


__all__ = [
    "BinaryJob",
    "GT_SOURCES",
    "evaluate_binary_sequence",
    "evaluate_davis2016",
    "find_rcf_prediction",
]
