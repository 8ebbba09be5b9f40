"""Scoring a cell's predictions with vos_eval, by protocol name, into the matrix's columns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from vos_eval import (
    evaluate_davis,
    evaluate_davis2016,
    evaluate_rcf_davis2016,
    evaluate_rcf_iou,
    evaluate_youtube,
    pack_submission,
    write_reports,
)

# what the J column holds, per protocol (the table caption says it)
J_COLUMN = {
    "rcf-davis2016": "J-FrameMean",
    "rcf-fbms59": "mIoU",
    "rcf-segtrackv2": "mIoU",
}


@dataclass
class Score:
    """The matrix columns of one scored cell (fractions in [0, 1]; None = not defined)."""

    jf: float | None
    j: float | None
    f: float | None
    headline: str  # name of the protocol's headline number
    description: str = ""
    global_scores: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def headline_value(self) -> float | None:
        if self.headline == "J&F-Mean":
            return self.jf
        return self.j


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def score(
    protocol: str,
    benchmark_root: Path,
    results: Path,
    task: str,
    synthetic: bool,
    report_dir: Path,
    workers: int = 1,
) -> Score:
    """Score ``results`` with vos_eval's ``protocol``; CSV and JSON reports go to ``report_dir``."""
    root = Path(benchmark_root)
    if protocol == "davis2016":
        result = evaluate_davis2016(root, results, task=task, subset="val", workers=workers)
    elif protocol in ("davis2017-semi-supervised", "davis2017-unsupervised"):
        result = evaluate_davis(
            root, results, task=protocol.removeprefix("davis2017-"), subset="val", workers=workers
        )
    elif protocol == "youtube-vos-local":
        if not synthetic:  # the real valid ground truth is withheld: pack for the server
            report = pack_submission(
                root / "valid" / "meta.json",
                results,
                report_dir / "submission.zip",
                annotations=root / "valid" / "Annotations",
            )
            return Score(
                None,
                None,
                None,
                "server",
                "YouTube-VOS valid: scored by the server",
                notes=[f"packed {report_dir / 'submission.zip'} for the server ({report})"],
            )
        result = evaluate_youtube(
            root, results, split="valid", gt_dir=root / "valid_gt" / "Annotations", workers=workers
        )
    elif protocol == "rcf-davis2016":
        result = evaluate_rcf_davis2016(root, results, subset="val", workers=workers)
    elif protocol in ("rcf-fbms59", "rcf-segtrackv2"):
        dataset = protocol.removeprefix("rcf-")
        result = evaluate_rcf_iou(
            dataset, root, results, split="test" if dataset == "fbms59" else None, workers=workers
        )
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    if result.protocol != protocol:
        raise RuntimeError(f"vos_eval returned protocol {result.protocol}, expected {protocol}")
    write_reports(result, report_dir, "val")
    scores = result.global_scores
    if protocol in ("rcf-fbms59", "rcf-segtrackv2"):
        return Score(
            None,
            _number(scores["mIoU"]),
            None,
            "mIoU",
            result.description,
            dict(scores),
            list(result.notes),
        )
    j_key = J_COLUMN.get(protocol, "J-Mean")
    return Score(
        _number(scores.get("J&F-Mean")),
        _number(scores[j_key]),
        _number(scores.get("F-Mean")),
        "J-FrameMean" if protocol == "rcf-davis2016" else "J&F-Mean",
        result.description,
        dict(scores),
        list(result.notes),
    )
