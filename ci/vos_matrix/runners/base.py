"""What every runner shares: the run context, the prediction record, benchmark readers and
prediction writers in the folder layout vos_eval reads (``<out>/<sequence>/<frame>.png``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from vos_common.datasets import SequenceDataset, VideoSequence, open_dataset
from vos_common.io import write_binary_mask, write_label_map

from vos_matrix.benchmark import DataRoots
from vos_matrix.cells import Cell
from vos_matrix.weights import Weights


@dataclass
class RunContext:
    """Everything a runner needs besides its cell."""

    data: DataRoots
    work: Path  # scratch folder of this run (staged layouts, training logs)
    cache: Path  # .vos-cache: trained weights live under <cache>/weights
    weights_dir: Path | None = None
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    log: Callable[[str], None] = print

    @property
    def synthetic(self) -> bool:
        return self.data.mode == "synthetic"


@dataclass
class Prediction:
    """Where a runner wrote its predictions and how long inference took."""

    results: Path  # folder vos_eval reads
    frames: int  # frames predicted
    seconds: float  # inference wall time (model loading included, training excluded)
    notes: list[str] = field(default_factory=list)


# benchmark -> (vos_common dataset kind, reader options) for the part that is evaluated
BENCHMARK_READERS: dict[str, tuple[str, dict]] = {
    "davis2016": ("davis2016", {"split": "val"}),
    "davis2017": ("davis2017", {"split": "val"}),
    "davis2017-unsupervised": ("davis2017", {"split": "val", "task": "unsupervised"}),
    "ytvos2019": ("ytvos", {"split": "valid"}),
    "fbms59": ("fbms59", {"split": "test"}),
    "segtrackv2": ("segtrackv2", {}),
}


def open_benchmark(name: str, root: Path) -> SequenceDataset:
    """The evaluated sequences of benchmark ``name`` at ``root`` (vos_common's readers)."""
    kind, options = BENCHMARK_READERS[name]
    return open_dataset(kind, root, **options)


def write_prediction(
    out: Path, sequence: VideoSequence, index: int, mask: np.ndarray, binary: bool
) -> None:
    """Write frame ``index`` of ``sequence`` as ``<out>/<seq>/<frame>.png``.

    ``binary``: grey 0/255 (DAVIS 2016, RCF protocols); else an indexed PNG of object ids.
    """
    path = out / sequence.name / f"{sequence.frame_names[index]}.png"
    if binary:
        write_binary_mask(path, np.asarray(mask) > 0)
    else:
        write_label_map(path, np.asarray(mask).astype(np.uint8))


def write_sequence(
    out: Path, sequence: VideoSequence, masks: Iterable[np.ndarray], binary: bool
) -> int:
    count = 0
    for index, mask in enumerate(masks):
        write_prediction(out, sequence, index, mask, binary)
        count += 1
    return count


# protocols that read binary masks (any non-zero / thresholded foreground)
BINARY_PROTOCOLS = {"davis2016", "rcf-davis2016", "rcf-fbms59", "rcf-segtrackv2"}


@contextmanager
def timed():
    """``with timed() as clock: ...`` then ``clock()`` is the elapsed wall time in seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


class Runner:
    """One method: ``weights`` (train or load) then ``predict`` into a results folder."""

    name = "runner"

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        return Weights(None, "none")

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        raise NotImplementedError

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        """What the cell runs with (logged and written to matrix.json)."""
        return {}

    @staticmethod
    def weights_entry(cell: Cell, ctx: RunContext) -> dict:
        """The cell's weights entry for this run's data (``synthetic`` or ``real``)."""
        return cell.weights_for("synthetic" if ctx.synthetic else "real") or {}


def opts_tokens(entry: dict) -> list[str]:
    """A weights entry's ``opts`` mapping as ``--opts`` tokens: ``[key, value, key, value]``."""
    return [str(x) for kv in (entry.get("opts") or {}).items() for x in kv]
