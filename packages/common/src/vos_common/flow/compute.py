"""Flow for whole sequences, in memory or written to disk in the RCF, OAST or ``.flo`` layout.

Index convention (as :class:`~vos_common.datasets.base.VideoSequence`): the forward flow
with gap ``g`` at index ``t`` goes from frame ``t`` to frame ``t + g``; the backward flow
at index ``t`` from frame ``t`` to frame ``t - g``.

Layouts (``<seq>`` = sequence name, frame names are the frame files' stems):

``rcf``
    ``<out>/Flows_NewCT[/<resolution>]/<seq>/<frame t+1>.npy`` = forward flow t -> t+1 and
    ``<out>/BackwardFlows_NewCT[/<resolution>]/<seq>/<frame t+1>.npy`` = backward flow
    t+1 -> t, both named after the LATER frame exactly as RCF names them (no file for
    frame 0); ``resolution`` is DAVIS's ``480p`` level, absent for RCF's resized
    SegTrackv2/FBMS folders. Gap ``g > 1`` extends this naturally: ``Flows_NewCT_gap{g}/``
    and ``BackwardFlows_NewCT_gap{g}/``, the pair (t, t+g) stored under the name of frame
    t+g, so RCF's path rule (replace ``JPEGImages`` by the flow folder) still applies.
``oast``
    ``<out>/flows/<seq>/<frame t>.jpg``: the forward flow t -> t+1 rendered with the
    Middlebury colour wheel, for EVERY frame. The last frame has no t+1; its picture is
    the backward flow t -> t-1 negated, i.e. the best available estimate of where the
    last frame's pixels are heading (constant-velocity assumption), so the last frame is
    predicted too (OAST skips any frame without a flow picture).
``flo``
    ``<out>/forward_gap{g}/<seq>/<frame t>.flo`` = flow t -> t+g and
    ``<out>/backward_gap{g}/<seq>/<frame t>.flo`` = flow t -> t-g, named after the SOURCE
    frame (the vos-suite index convention above).

Every file is written atomically; existing outputs are skipped unless ``overwrite``, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vos_common.errors import VOSDataError
from vos_common.flow.base import FlowEstimator
from vos_common.flow.frames import FrameReader
from vos_common.io.flow import flow_to_color, write_flo, write_flow_npy
from vos_common.io.frames import write_frame

LAYOUTS = ("rcf", "oast", "flo")
DIRECTIONS = ("forward", "backward")
RCF_FORWARD_FOLDER = "Flows_NewCT"
RCF_BACKWARD_FOLDER = "BackwardFlows_NewCT"
OAST_FLOW_FOLDER = "flows"
OAST_JPEG_QUALITY = 95


@dataclass(frozen=True)
class FlowJob:
    """One output file: the flow from frame ``source`` to frame ``target`` of a sequence.

    ``kind`` is ``"npy"``, ``"flo"`` or ``"picture"`` (colour-coded JPEG); ``negate`` writes
    the negated flow (OAST's last frame).
    """

    path: Path
    source: int
    target: int
    kind: str
    negate: bool = False


@dataclass
class FlowRunSummary:
    """What :func:`write_sequence_flows` did for one sequence."""

    sequence: str
    written: int = 0
    skipped: int = 0


def _check_gaps_directions(gaps: Sequence[int], directions: Sequence[str]) -> None:
    if not gaps or any(int(g) < 1 for g in gaps):
        raise ValueError(f"gaps must be positive integers, got {list(gaps)}")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if not directions or unknown:
        raise ValueError(f"directions must be among {DIRECTIONS}, got {list(directions)}")


def plan_rcf(
    out: Path,
    sequence: str,
    frame_names: Sequence[str],
    gaps: Sequence[int] = (1,),
    directions: Sequence[str] = DIRECTIONS,
    resolution: str | None = None,
) -> list[FlowJob]:
    """RCF ``.npy`` files, named after the later frame of each pair (module doc)."""
    jobs = []
    level = (resolution,) if resolution else ()
    for gap in sorted(set(gaps)):
        suffix = "" if gap == 1 else f"_gap{gap}"
        for t in range(len(frame_names) - gap):
            later = frame_names[t + gap]
            if "forward" in directions:
                path = out.joinpath(RCF_FORWARD_FOLDER + suffix, *level, sequence, f"{later}.npy")
                jobs.append(FlowJob(path, t, t + gap, "npy"))
            if "backward" in directions:
                path = out.joinpath(RCF_BACKWARD_FOLDER + suffix, *level, sequence, f"{later}.npy")
                jobs.append(FlowJob(path, t + gap, t, "npy"))
    return jobs


def plan_oast(out: Path, sequence: str, frame_names: Sequence[str]) -> list[FlowJob]:
    """OAST flow pictures, one per frame; the last frame's is its negated backward flow."""
    folder = out / OAST_FLOW_FOLDER / sequence
    last = len(frame_names) - 1
    jobs = [
        FlowJob(folder / f"{name}.jpg", t, t + 1, "picture")
        for t, name in enumerate(frame_names[:-1])
    ]
    if last >= 1:
        jobs.append(
            FlowJob(folder / f"{frame_names[last]}.jpg", last, last - 1, "picture", negate=True)
        )
    return jobs


def plan_flo(
    out: Path,
    sequence: str,
    frame_names: Sequence[str],
    gaps: Sequence[int] = (1,),
    directions: Sequence[str] = DIRECTIONS,
) -> list[FlowJob]:
    """``.flo`` files named after the source frame, one folder per direction and gap."""
    jobs = []
    count = len(frame_names)
    for gap in sorted(set(gaps)):
        for t in range(count):
            if "forward" in directions and t + gap < count:
                path = out / f"forward_gap{gap}" / sequence / f"{frame_names[t]}.flo"
                jobs.append(FlowJob(path, t, t + gap, "flo"))
            if "backward" in directions and t - gap >= 0:
                path = out / f"backward_gap{gap}" / sequence / f"{frame_names[t]}.flo"
                jobs.append(FlowJob(path, t, t - gap, "flo"))
    return jobs


def plan_flow_jobs(
    layout: str,
    out: str | os.PathLike,
    sequence: str,
    frame_names: Sequence[str],
    gaps: Sequence[int] = (1,),
    directions: Sequence[str] = DIRECTIONS,
    resolution: str | None = None,
) -> list[FlowJob]:
    """Every output file of one sequence in ``layout``, in frame order (sliding window).

    OAST pictures are always forward gap 1 (plus the last frame's), so ``gaps`` and
    ``directions`` must be left at ``(1,)`` / both for it; ``resolution`` is RCF-only.
    """
    _check_gaps_directions(gaps, directions)
    out = Path(out)
    if layout == "rcf":
        jobs = plan_rcf(out, sequence, frame_names, gaps, directions, resolution)
    elif layout == "oast":
        if sorted(set(gaps)) != [1]:
            raise ValueError(
                "the OAST layout holds forward gap-1 flow pictures only; gaps must be (1,)"
            )
        jobs = plan_oast(out, sequence, frame_names)
    elif layout == "flo":
        jobs = plan_flo(out, sequence, frame_names, gaps, directions)
    else:
        raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")
    if resolution and layout != "rcf":
        raise ValueError("a resolution level in the path exists only in the RCF layout")
    return sorted(
        jobs, key=lambda job: (min(job.source, job.target), max(job.source, job.target), job.source)
    )


def write_flow_output(job: FlowJob, flow: np.ndarray) -> None:
    """Write one job's flow atomically in its format (``-flow`` when ``job.negate``)."""
    if job.negate:
        flow = -flow
    if job.kind == "npy":
        write_flow_npy(job.path, flow)
    elif job.kind == "flo":
        write_flo(job.path, flow)
    elif job.kind == "picture":
        write_frame(job.path, flow_to_color(flow), quality=OAST_JPEG_QUALITY)
    else:
        raise ValueError(f"unknown output kind {job.kind!r}")


class _FramePairReader:
    """Reads frames of a source and checks they all have the first frame's size."""

    def __init__(self, frames: FrameReader):
        self.frames = frames
        self.size: tuple[int, int] | None = None

    def __call__(self, index: int) -> np.ndarray:
        frame = self.frames.read(index)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise VOSDataError(
                self.frames.describe(index),
                f"expected an RGB uint8 frame, got {frame.shape} {frame.dtype}",
            )
        if self.size is None:
            self.size = frame.shape[:2]
        elif frame.shape[:2] != self.size:
            raise VOSDataError(
                self.frames.describe(index),
                f"frame size {frame.shape[0]}x{frame.shape[1]} differs from the sequence's "
                f"{self.size[0]}x{self.size[1]}",
            )
        return frame


def _prepare(frames, gaps: Sequence[int]) -> FrameReader:
    source = FrameReader(frames)
    if len(source) < 2:
        raise VOSDataError(
            None, f"sequence {source.name!r} has {len(source)} frame; optical flow needs at least 2"
        )
    source.cache_size = max(source.cache_size, max(gaps) + 2)
    return source


def iter_sequence_flows(
    frames,
    estimator: FlowEstimator,
    gaps: Sequence[int] = (1,),
    directions: Sequence[str] = DIRECTIONS,
    progress: bool = False,
) -> Iterator[tuple[str, int, int, np.ndarray]]:
    """Yield ``(direction, gap, index, flow)`` for every pair of a sequence, in memory.

    ``frames``: a :class:`FrameReader`, a ``VideoSequence``, or RGB uint8
    arrays ``(T, H, W, 3)``. ``flow`` is float32 ``(H, W, 2)`` from frame ``index`` to
    ``index + gap`` (forward) or ``index - gap`` (backward).
    """
    _check_gaps_directions(gaps, directions)
    source = _prepare(frames, gaps)
    jobs = plan_flo(Path(), source.name, source.frame_names, gaps, directions)
    jobs.sort(
        key=lambda job: (min(job.source, job.target), max(job.source, job.target), job.source)
    )
    read = _FramePairReader(source)
    for job in tqdm(jobs, desc=source.name, unit="pair", disable=not progress):
        direction = "forward" if job.target > job.source else "backward"
        yield (
            direction,
            abs(job.target - job.source),
            job.source,
            estimator(read(job.source), read(job.target)),
        )


def write_sequence_flows(
    frames,
    estimator: FlowEstimator,
    out: str | os.PathLike,
    layout: str = "flo",
    gaps: Sequence[int] = (1,),
    directions: Sequence[str] = DIRECTIONS,
    resolution: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> FlowRunSummary:
    """Compute and write the flows of one sequence in ``layout`` (module doc); resumable.

    Existing output files are skipped (not recomputed, not read) unless ``overwrite``.
    """
    source = _prepare(frames, gaps)
    jobs = plan_flow_jobs(
        layout, out, source.name, source.frame_names, gaps, directions, resolution
    )
    summary = FlowRunSummary(source.name)
    todo = [job for job in jobs if overwrite or not job.path.exists()]
    summary.skipped = len(jobs) - len(todo)
    read = _FramePairReader(source)
    for job in tqdm(todo, desc=source.name, unit="file", disable=not progress):
        write_flow_output(job, estimator(read(job.source), read(job.target)))
        summary.written += 1
    return summary
