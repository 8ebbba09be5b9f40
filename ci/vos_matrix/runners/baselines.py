"""The trivial baselines of the matrix, from :mod:`vos_common.baselines`.

* ``copy-first-frame``: the first annotation copied to every frame (YouTube-VOS: every
  object's latest given mask carried forward, since objects start late).
* ``flow-threshold``: foreground where the flow magnitude is above its frame's mean. The flow
  comes from the benchmark's flow files when it has them (the synthetic DAVIS layouts: exact
  flow) and is computed with OpenCV DIS (``vos_common.flow``) otherwise (FBMS-59, SegTrackv2,
  the real datasets).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm
from vos_common.baselines import (
    FLOW_RULE,
    carry_annotations_forward,
    copy_first_frame,
    sequence_flow_masks,
)
from vos_common.datasets import VideoSequence
from vos_common.flow import make_estimator

from vos_matrix.cells import Cell
from vos_matrix.runners.base import (
    BINARY_PROTOCOLS,
    Prediction,
    RunContext,
    Runner,
    open_benchmark,
    timed,
    write_sequence,
)
from vos_matrix.weights import Weights


class CopyFirstFrame(Runner):
    name = "copy-first-frame"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        return {
            "rule": "first annotation copied to every frame (later annotations carried forward)"
        }

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        binary = cell.protocol in BINARY_PROTOCOLS
        frames = 0
        with timed() as clock:
            dataset = open_benchmark(cell.benchmark.name, ctx.data.root(cell.benchmark.name))
            for sequence in tqdm(
                dataset, desc=cell.id, unit="video", disable=not ctx.progress, leave=False
            ):
                annotated = sequence.annotated_frames
                if cell.benchmark.name == "ytvos2019":
                    masks = carry_annotations_forward(
                        {i: sequence.read_mask(i) for i in annotated}, len(sequence)
                    )
                else:
                    masks = copy_first_frame(sequence.read_mask(annotated[0]), len(sequence))
                frames += write_sequence(out, sequence, masks, binary)
        return Prediction(out, frames, clock())


def _file_flow(sequence: VideoSequence, direction: str):
    def read(t: int) -> np.ndarray | None:
        return sequence.read_flow(t, 1, direction) if sequence.has_flow(t, 1, direction) else None

    return read


def _estimated_flow(sequence: VideoSequence, estimator, direction: str):
    frames: dict[int, np.ndarray] = {}

    def frame(t: int) -> np.ndarray:
        if t not in frames:
            if len(frames) > 3:  # only neighbouring frames are asked for
                frames.clear()
            frames[t] = np.asarray(sequence.read_frame(t))
        return frames[t]

    def flow(t: int) -> np.ndarray:
        other = t + 1 if direction == "forward" else t - 1
        return estimator(frame(t), frame(other))

    return flow


class FlowThreshold(Runner):
    name = "flow-threshold"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        return {
            "rule": FLOW_RULE,
            "flow": "benchmark flow files, else OpenCV DIS (vos_common.flow)",
        }

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        binary = cell.protocol in BINARY_PROTOCOLS
        estimator = None
        frames = 0
        notes = set()
        with timed() as clock:
            dataset = open_benchmark(cell.benchmark.name, ctx.data.root(cell.benchmark.name))
            for sequence in tqdm(
                dataset, desc=cell.id, unit="video", disable=not ctx.progress, leave=False
            ):
                if sequence.flow_paths.get(("forward", 1)):
                    forward, backward = (
                        _file_flow(sequence, "forward"),
                        _file_flow(sequence, "backward"),
                    )
                    notes.add("flow from the benchmark's flow files")
                else:
                    estimator = estimator or make_estimator("dis")
                    forward = _estimated_flow(sequence, estimator, "forward")
                    backward = _estimated_flow(sequence, estimator, "backward")
                    notes.add("flow computed with OpenCV DIS")
                masks = sequence_flow_masks(len(sequence), forward, backward)
                # unsupervised DAVIS 2017 reads object ids: the foreground is proposal 1
                frames += write_sequence(out, sequence, (m.astype(np.uint8) for m in masks), binary)
        return Prediction(out, frames, clock(), sorted(notes))
