"""What every protocol returns: per-object per-frame values, their statistics, global scores.

The same objects feed the console table, the official-format CSVs and the JSON report, so
the Python API and the CLI always give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vos_eval.metrics import ObjectStatistics, object_statistics

DAVIS_GLOBAL_COLUMNS = (
    "J&F-Mean",
    "J-Mean",
    "J-Recall",
    "J-Decay",
    "F-Mean",
    "F-Recall",
    "F-Decay",
)


@dataclass
class ObjectResult:
    """One scored object: its per-frame J and F and their Mean / Recall / Decay.

    Attributes:
        sequence: sequence (video) name.
        name: row name in the per-sequence CSV (official naming, ``<seq>_<k>``).
        object_id: ground-truth object id this row scores.
        frames: names of the evaluated frames, ``n`` of them.
        j, f: ``(n,)`` float64 per-frame J and F (NaN only where a protocol defines it).
        proposal_id: unsupervised: the predicted proposal matched to the object (None when
            the match is one of the empty proposals padded in because there were fewer
            proposals than objects).
        category: YouTube-VOS category, when known.
    """

    sequence: str
    name: str
    object_id: int
    frames: list[str]
    j: np.ndarray
    f: np.ndarray
    proposal_id: int | None = None
    category: str | None = None
    official_uint8_wrap: bool = False
    j_stats: ObjectStatistics = field(init=False)
    f_stats: ObjectStatistics = field(init=False)

    def __post_init__(self) -> None:
        self.j = np.asarray(self.j, dtype=np.float64)
        self.f = np.asarray(self.f, dtype=np.float64)
        self.j_stats = object_statistics(self.j, self.official_uint8_wrap)
        self.f_stats = object_statistics(self.f, self.official_uint8_wrap)

    @property
    def n_frames(self) -> int:
        return int(self.j.shape[0])


@dataclass
class EvaluationResult:
    """The outcome of one protocol run.

    Attributes:
        protocol: short protocol id (``davis2017-semi-supervised``, ``rcf-segtrackv2`` ...).
        description: the protocol in words; printed next to every number.
        objects: scored objects in report order.
        global_scores: ordered column name -> value (the global CSV row).
        settings: what was evaluated and how (paths, set, GT source, options).
        notes: warnings a reader of the numbers must see (e.g. long-video Decay).
        per_sequence_columns: columns of the per-sequence CSV after ``Sequence``.
        per_sequence_rows: (row name, values) pairs for that CSV.
    """

    protocol: str
    description: str
    objects: list[ObjectResult]
    global_scores: dict[str, float]
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    per_sequence_columns: tuple[str, ...] = ("J-Mean", "F-Mean")
    per_sequence_rows: list[tuple[str, tuple[float, ...]]] | None = None

    def __post_init__(self) -> None:
        if self.per_sequence_rows is None:
            self.per_sequence_rows = [
                (obj.name, (obj.j_stats.mean, obj.f_stats.mean)) for obj in self.objects
            ]

    def __getitem__(self, column: str) -> float:
        """A global score by its CSV column name, e.g. ``result["J&F-Mean"]``."""
        return self.global_scores[column]


def davis_global_scores(objects: list[ObjectResult]) -> dict[str, float]:
    """Object-weighted global means, as the official script computes them.

    Each column is the plain mean over objects of the per-object statistic (a sequence with
    five objects counts five times); J&F-Mean = (J-Mean + F-Mean) / 2.
    """
    if not objects:
        return {column: math.nan for column in DAVIS_GLOBAL_COLUMNS}
    j_mean = float(np.mean([obj.j_stats.mean for obj in objects]))
    f_mean = float(np.mean([obj.f_stats.mean for obj in objects]))
    return {
        "J&F-Mean": (j_mean + f_mean) / 2.0,
        "J-Mean": j_mean,
        "J-Recall": float(np.mean([obj.j_stats.recall for obj in objects])),
        "J-Decay": float(np.mean([obj.j_stats.decay for obj in objects])),
        "F-Mean": f_mean,
        "F-Recall": float(np.mean([obj.f_stats.recall for obj in objects])),
        "F-Decay": float(np.mean([obj.f_stats.decay for obj in objects])),
    }


def long_video_notes(objects: list[ObjectResult]) -> list[str]:
    """Warn when Decay differs from what the official code would print (n >= 257 frames)."""
    long = [obj.name for obj in objects if obj.n_frames >= 257]
    if not long:
        return []
    wrap = any(obj.official_uint8_wrap for obj in objects)
    how = (
        "reproducing the official uint8 wrap (Decay is NaN or wrong for them)"
        if wrap
        else "computed with correct bin indices; the official code's uint8 bin indices would wrap "
        "and give a different Decay (use --official-decay-wrap to reproduce it)"
    )
    return [
        f"{len(long)} object(s) have >= 257 evaluated frames ({', '.join(long[:3])}"
        f"{', ...' if len(long) > 3 else ''}): Decay {how}."
    ]
