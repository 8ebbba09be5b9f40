"""DAVIS 2017 semi-supervised and unsupervised protocols (evaluation.md 2.4 - 2.6).

Rules, as the official davis2017-evaluation applies them:

* ground truth ``Annotations/<res>/<seq>/*.png`` (semi-supervised) or
  ``Annotations_unsupervised/<res>/<seq>/*.png`` (unsupervised), sorted by file name;
  predictions ``<results>/<seq>/<frame>.png`` with the GT frame names;
* objects = ids 1..K with K the largest id of the FIRST GT frame (255 excluded): a lower id
  absent from frame 0 is still scored, a higher id appearing later is ignored;
* semi-supervised scores frames 1..N-2 (first and last dropped, their predictions never
  opened), treats void (255) as background and refuses prediction ids above K;
* unsupervised scores every frame, ignores void pixels in J and F, accepts up to 20
  proposals, pads with empty proposals up to K, and matches proposals to objects once per
  sequence with SciPy's Hungarian solver on the mean (J+F)/2 matrix; rows are reported in
  proposal order and named ``<seq>_<k>`` (the true object / proposal pair is kept in
  :attr:`ObjectResult.object_id` and :attr:`ObjectResult.proposal_id`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from vos_common.errors import VOSDataError

from vos_eval.inputs import check_same_size, frame_error, looks_binary_255, read_labels
from vos_eval.metrics import BOUND_TH, boundary_radius
from vos_eval.parallel import run_tasks
from vos_eval.results import EvaluationResult, ObjectResult, davis_global_scores, long_video_notes
from vos_eval.scoring import FrameMasks, score_empty_prediction, score_pair

TASKS = ("semi-supervised", "unsupervised")
MAX_PROPOSALS = 20
VOID_LABEL = 255

_COMMON_WORDS = (
    "J = mask IoU; F = boundary F-measure, tolerance ceil(0.008 x frame diagonal) pixels "
    "(8 at 854x480); per object: Mean, Recall (share of frames with a value > 0.5) and Decay "
    "(mean of the first quarter of frames minus mean of the last quarter); global scores are "
    "plain means over all objects (object-weighted); J&F-Mean = (J-Mean + F-Mean) / 2."
)
DESCRIPTIONS = {
    "semi-supervised": (
        "DAVIS 2017 semi-supervised, official davis2017-evaluation rules: objects are ids 1..K "
        "of the first ground-truth frame; the first and last frames are not scored; void (255) "
        "pixels are not ignored (they count as background). " + _COMMON_WORDS
    ),
    "unsupervised": (
        "DAVIS 2017 unsupervised, official davis2017-evaluation rules: every frame is scored; "
        "objects are ids 1..K of the first ground-truth frame; void (255) pixels are ignored by "
        "J and F; up to 20 proposals, each object matched to one proposal by the Hungarian "
        "algorithm on the sequence-mean (J+F)/2; rows named <seq>_<k> in proposal order as the "
        "official tool names them. " + _COMMON_WORDS
    ),
}


@dataclass(frozen=True)
class SequenceJob:
    """Everything a worker needs to score one sequence (picklable).

    ``gt_paths`` are all GT PNGs of the sequence in file-name order; ``results_dir`` holds
    ``<frame>.png`` predictions named after them.
    """

    name: str
    gt_paths: tuple[Path, ...]
    results_dir: Path
    task: str
    bound_th: float = BOUND_TH
    official_uint8_wrap: bool = False

    @property
    def evaluated_paths(self) -> tuple[Path, ...]:
        """GT frames that are scored: all but the first and last in semi-supervised mode."""
        return self.gt_paths[1:-1] if self.task == "semi-supervised" else self.gt_paths

    @property
    def object_frames(self) -> int:
        """Frames scored (used to schedule long sequences first)."""
        return len(self.evaluated_paths)


# ------------------------------------------------------------------------------ discovery
def image_set_file(davis_root: Path, task: str, subset: str) -> Path:
    """``ImageSets/2017/<set>.txt``, or ``ImageSets/2019/`` for unsupervised test-dev/-challenge."""
    year = "2019" if task == "unsupervised" and subset in ("test-dev", "test-challenge") else "2017"
    return davis_root / "ImageSets" / year / f"{subset}.txt"


def read_sequence_list(path: Path) -> list[str]:
    """Sequence names of an image-set file, one per line, in file order."""
    if not path.is_file():
        raise VOSDataError(path, "image-set list does not exist (is --davis-path the DAVIS root?)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise VOSDataError(path, "image-set list is empty")
    return names


def select_sequences(names: list[str], wanted: list[str] | None, source: Path) -> list[str]:
    """Keep ``wanted`` (in list order); unknown names raise."""
    if not wanted:
        return names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise VOSDataError(source, f"sequence(s) not in this set: {', '.join(unknown)}")
    keep = set(wanted)
    return [name for name in names if name in keep]


def gt_frame_paths(
    annotation_root: Path, sequence: str, image_root: Path | None
) -> tuple[Path, ...]:
    """All GT PNGs of a sequence, sorted by name; refuses sequences whose GT is incomplete.

    The official reader needs a GT file for every JPEG frame (it crashes otherwise), so
    fewer GT PNGs than frames (test-dev / test-challenge, where GT is withheld) is an error.
    """
    folder = annotation_root / sequence
    if not folder.is_dir():
        raise frame_error(folder, sequence, None, "ground-truth folder does not exist")
    paths = tuple(
        sorted(
            (entry for entry in folder.iterdir() if entry.suffix == ".png"), key=lambda p: p.name
        )
    )
    if not paths:
        raise frame_error(folder, sequence, None, "ground-truth folder has no PNG files")
    if image_root is not None and (image_root / sequence).is_dir():
        n_images = sum(1 for entry in (image_root / sequence).iterdir() if entry.suffix == ".jpg")
        if n_images > len(paths):
            raise frame_error(
                folder,
                sequence,
                None,
                f"{n_images} frames in JPEGImages but only {len(paths)} ground-truth PNG(s); every "
                "frame needs ground truth (test-dev / test-challenge GT is withheld)",
            )
    return paths


def check_predictions_exist(jobs: list[SequenceJob], results_root: Path) -> None:
    """Fail fast, before any scoring, on a missing or empty results folder or a missing frame."""
    if not results_root.is_dir():
        raise VOSDataError(results_root, "results folder does not exist")
    missing = [job.name for job in jobs if not job.results_dir.is_dir()]
    if jobs and len(missing) == len(jobs):
        raise VOSDataError(
            results_root,
            f"results folder has no prediction folder for any of the {len(jobs)} sequence(s) "
            f"(expected <results>/<sequence>/<frame>.png, e.g. {jobs[0].name}/)",
        )
    if missing:
        raise frame_error(
            results_root / missing[0],
            missing[0],
            None,
            f"prediction folder does not exist ({len(missing)} of {len(jobs)} sequences missing"
            + (
                f": {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
                if len(missing) > 1
                else ")"
            ),
        )
    for job in jobs:
        for gt_path in job.evaluated_paths:
            path = job.results_dir / f"{gt_path.stem}.png"
            if not path.is_file():
                raise frame_error(path, job.name, gt_path.stem, "prediction file does not exist")


def collect_jobs(
    davis_path: str | os.PathLike,
    results_path: str | os.PathLike,
    task: str,
    subset: str,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    bound_th: float = BOUND_TH,
    official_uint8_wrap: bool = False,
) -> list[SequenceJob]:
    """One :class:`SequenceJob` per sequence of the set, after checking every input exists."""
    if task not in TASKS:
        raise VOSDataError(None, f"task must be one of {', '.join(TASKS)}, got {task!r}")
    davis_root = Path(davis_path)
    if not davis_root.is_dir():
        raise VOSDataError(davis_root, "DAVIS root does not exist")
    list_file = image_set_file(davis_root, task, subset)
    names = select_sequences(read_sequence_list(list_file), sequences, list_file)
    annotations = (
        davis_root
        / ("Annotations" if task == "semi-supervised" else "Annotations_unsupervised")
        / resolution
    )
    if not annotations.is_dir():
        raise VOSDataError(annotations, f"ground-truth folder for the {task} task does not exist")
    images = davis_root / "JPEGImages" / resolution
    results_root = Path(results_path)
    jobs = [
        SequenceJob(
            name,
            gt_frame_paths(annotations, name, images if images.is_dir() else None),
            results_root / name,
            task,
            bound_th,
            official_uint8_wrap,
        )
        for name in names
    ]
    for job in jobs:
        if task == "semi-supervised" and len(job.gt_paths) < 3:
            raise frame_error(
                job.gt_paths[0].parent,
                job.name,
                None,
                f"{len(job.gt_paths)} ground-truth frame(s): the semi-supervised protocol "
                "drops the first and last frame and would score none",
            )
    check_predictions_exist(jobs, results_root)
    return jobs


# -------------------------------------------------------------------------------- scoring
def object_count(first_gt: np.ndarray) -> int:
    """K = largest id in the first GT frame, void (255) excluded."""
    present = np.flatnonzero(np.bincount(first_gt.ravel(), minlength=256)[:VOID_LABEL])
    return int(present[-1]) if present.size else 0


def _id_problem(top: int, labels: np.ndarray, what: str) -> str:
    problem = f"prediction has id {top} but {what}"
    if looks_binary_255(labels):
        problem += "; it looks like a 0/255 binary mask, but this task needs one id per object"
    return problem


def _read_pair(
    job: SequenceJob, gt_path: Path, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    frame = gt_path.stem
    gt = read_labels(gt_path, job.name, frame, "ground truth")
    check_same_size(gt, shape, gt_path, job.name, frame, "ground truth", "first ground-truth frame")
    pred_path = job.results_dir / f"{frame}.png"
    pred = read_labels(pred_path, job.name, frame, "prediction")
    check_same_size(pred, shape, pred_path, job.name, frame)
    return gt, pred


def evaluate_sequence(job: SequenceJob) -> list[ObjectResult]:
    """Score one sequence; returns its objects in official row order."""
    first = read_labels(job.gt_paths[0], job.name, job.gt_paths[0].stem, "ground truth")
    n_objects = object_count(first)
    if job.task == "semi-supervised":
        return _semi_supervised(job, first.shape, n_objects)
    return _unsupervised(job, first.shape, n_objects)


def _semi_supervised(
    job: SequenceJob, shape: tuple[int, int], n_objects: int
) -> list[ObjectResult]:
    evaluated = job.evaluated_paths
    j = np.empty((n_objects, len(evaluated)))
    f = np.empty((n_objects, len(evaluated)))
    radius = boundary_radius(*shape, job.bound_th)
    for t, gt_path in enumerate(evaluated):
        gt, pred = _read_pair(job, gt_path, shape)
        top = int(pred.max())
        if top > n_objects:
            raise frame_error(
                job.results_dir / f"{gt_path.stem}.png",
                job.name,
                gt_path.stem,
                _id_problem(
                    top,
                    pred,
                    f"the first ground-truth frame has {n_objects} "
                    f"object(s); the official tool stops here without writing results",
                ),
            )
        gt_masks, pred_masks = FrameMasks(gt, radius), FrameMasks(pred, radius)
        for k in range(1, n_objects + 1):
            j[k - 1, t], f[k - 1, t] = score_pair(pred_masks, k, gt_masks, k)
    frames = [path.stem for path in evaluated]
    return [
        ObjectResult(
            job.name,
            f"{job.name}_{k}",
            k,
            frames,
            j[k - 1],
            f[k - 1],
            official_uint8_wrap=job.official_uint8_wrap,
        )
        for k in range(1, n_objects + 1)
    ]


def _unsupervised(job: SequenceJob, shape: tuple[int, int], n_objects: int) -> list[ObjectResult]:
    evaluated = job.evaluated_paths
    # Per (proposal, object, frame); proposals absent from a frame score as empty masks.
    j = np.empty((MAX_PROPOSALS, n_objects, len(evaluated)))
    f = np.empty((MAX_PROPOSALS, n_objects, len(evaluated)))
    radius = boundary_radius(*shape, job.bound_th)
    n_proposals = 0
    for t, gt_path in enumerate(evaluated):
        gt, pred = _read_pair(job, gt_path, shape)
        top = int(pred.max())
        if top > MAX_PROPOSALS:
            raise frame_error(
                job.results_dir / f"{gt_path.stem}.png",
                job.name,
                gt_path.stem,
                _id_problem(
                    top,
                    pred,
                    f"at most {MAX_PROPOSALS} proposals are allowed; "
                    "the official tool stops here without writing results",
                ),
            )
        n_proposals = max(n_proposals, top)
        void = gt == VOID_LABEL
        if void.any():
            pred = np.where(void, np.uint8(0), pred)
        areas = np.bincount(pred.ravel(), minlength=top + 1)
        present = [int(p) for p in np.flatnonzero(areas[1 : top + 1]) + 1]
        gt_masks, pred_masks = FrameMasks(gt, radius), FrameMasks(pred, radius)
        for k in range(1, n_objects + 1):
            j[:, k - 1, t], f[:, k - 1, t] = score_empty_prediction(gt_masks, k)
            for p in present:
                j[p - 1, k - 1, t], f[p - 1, k - 1, t] = score_pair(pred_masks, p, gt_masks, k)
    rows_used = max(n_proposals, n_objects)
    j, f = j[:rows_used], f[:rows_used]
    scores = (np.mean(j, axis=2) + np.mean(f, axis=2)) / 2
    proposal_rows, object_cols = linear_sum_assignment(-scores)
    frames = [path.stem for path in evaluated]
    return [
        ObjectResult(
            job.name,
            f"{job.name}_{rank + 1}",
            int(k) + 1,
            frames,
            j[p, k].copy(),
            f[p, k].copy(),
            proposal_id=int(p) + 1 if p < n_proposals else None,
            official_uint8_wrap=job.official_uint8_wrap,
        )
        for rank, (p, k) in enumerate(zip(proposal_rows, object_cols, strict=True))
    ]


# ------------------------------------------------------------------------------------ API
def evaluate_davis(
    davis_path: str | os.PathLike,
    results_path: str | os.PathLike,
    task: str = "semi-supervised",
    subset: str = "val",
    year: int = 2017,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    workers: int = 1,
    progress: bool = False,
    bound_th: float = BOUND_TH,
    official_uint8_wrap: bool = False,
    gt_source: str = "auto",
) -> EvaluationResult:
    """Score ``results_path`` against the DAVIS ground truth under ``davis_path``.

    Args:
        task: ``"semi-supervised"`` or ``"unsupervised"``.
        subset: image set name (``val``, ``train``, ``test-dev`` ...).
        year: 2017 (default) or 2016 (the DAVIS 2016 protocol, see :mod:`vos_eval.davis2016`).
        sequences: score only these sequences of the set.
        workers: processes, one sequence per task.
        official_uint8_wrap: reproduce the official Decay for >= 257 frames (uint8 wrap).
        gt_source: 2016 only: ``auto``, ``original`` or ``2017`` (see davis2016).

    Returns the per-object values and the official global scores; nothing is written.
    """
    if int(year) == 2016:
        from vos_eval.davis2016 import evaluate_davis2016

        return evaluate_davis2016(
            davis_path,
            results_path,
            task=task,
            subset=subset,
            resolution=resolution,
            sequences=sequences,
            workers=workers,
            progress=progress,
            bound_th=bound_th,
            gt_source=gt_source,
        )
    if int(year) != 2017:
        raise VOSDataError(None, f"year must be 2016 or 2017, got {year}")
    start = time.perf_counter()
    jobs = collect_jobs(
        davis_path, results_path, task, subset, resolution, sequences, bound_th, official_uint8_wrap
    )
    per_sequence = run_tasks(
        evaluate_sequence,
        jobs,
        workers,
        progress,
        f"DAVIS 2017 {task}",
        sizes=[job.object_frames for job in jobs],
    )
    objects = [obj for sequence_objects in per_sequence for obj in sequence_objects]
    return EvaluationResult(
        protocol=f"davis2017-{task}",
        description=DESCRIPTIONS[task],
        objects=objects,
        global_scores=davis_global_scores(objects),
        notes=long_video_notes(objects),
        settings={
            "davis_path": str(davis_path),
            "results_path": str(results_path),
            "task": task,
            "set": subset,
            "year": 2017,
            "resolution": resolution,
            "bound_th": bound_th,
            "sequences": [job.name for job in jobs],
            "workers": workers,
            "official_uint8_wrap": official_uint8_wrap,
            "object_frames": sum(obj.n_frames for obj in objects),
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
