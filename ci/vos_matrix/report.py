"""The matrix's outputs: one table per protocol (``matrix.md`` and the console), and
``matrix.json`` with every cell's scores, timings, settings and pictures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from vos_common.io import atomic_write_text

from vos_matrix.cells import Cell
from vos_matrix.scoring import J_COLUMN, Score

PROTOCOL_ORDER = [
    "davis2016",
    "davis2017-semi-supervised",
    "youtube-vos-local",
    "rcf-davis2016",
    "davis2017-unsupervised",
    "rcf-fbms59",
    "rcf-segtrackv2",
]
PROTOCOL_TITLES = {
    "davis2016": "DAVIS 2016 (`davis2016`: 2016 toolkit rules, first and last frames not scored)",
    "davis2017-semi-supervised": (
        "DAVIS 2017 semi-supervised (`davis2017-semi-supervised`: official rules)"
    ),
    "youtube-vos-local": (
        "YouTube-VOS 2019 (`youtube-vos-local`: local J/F on the full valid ground truth)"
    ),
    "rcf-davis2016": (
        "DAVIS 2016, RCF's protocol (`rcf-davis2016`: all frames; J = J-FrameMean, frame-weighted)"
    ),
    "davis2017-unsupervised": (
        "DAVIS 2017 unsupervised (`davis2017-unsupervised`: Hungarian matching, void ignored)"
    ),
    "rcf-fbms59": (
        "FBMS-59, RCF's protocol (`rcf-fbms59`: J = frame-weighted mIoU on annotated frames)"
    ),
    "rcf-segtrackv2": "SegTrackv2, RCF's protocol (`rcf-segtrackv2`: J = frame-weighted mIoU)",
}


@dataclass
class CellOutcome:
    """What happened in one cell."""

    cell: Cell
    status: str = "pending"  # ok / failed / skipped
    reason: str = ""
    score: Score | None = None
    frames: int = 0
    inference_seconds: float = 0.0
    wall_seconds: float = 0.0
    weights: str = ""
    training_seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    pictures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def fps(self) -> float | None:
        return (
            self.frames / self.inference_seconds
            if self.inference_seconds > 0 and self.frames
            else None
        )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def baseline_of(outcome: CellOutcome, outcomes: list[CellOutcome]) -> CellOutcome | None:
    """The baseline cell on the same benchmark and protocol, if it ran."""
    if outcome.cell.baseline is None:
        return None
    for other in outcomes:
        if (
            other.cell.method == outcome.cell.baseline
            and other.cell.benchmark.name == outcome.cell.benchmark.name
            and other.cell.protocol == outcome.cell.protocol
        ):
            return other
    return None


def versus_baseline(outcome: CellOutcome, outcomes: list[CellOutcome]) -> tuple[str, bool | None]:
    """(text, beats) comparing the headline number with the baseline's; beats None = n/a."""
    base = baseline_of(outcome, outcomes)
    if (
        base is None
        or outcome.status != "ok"
        or base.status != "ok"
        or outcome.score is None
        or base.score is None
    ):
        return "", None
    ours, theirs = outcome.score.headline_value, base.score.headline_value
    if ours is None or theirs is None:
        return "", None
    delta = 100 * (ours - theirs)
    return (f"{delta:+.1f}" if ours > theirs else f"{delta:+.1f} (loses)"), ours > theirs


def table_rows(protocol: str, outcomes: list[CellOutcome]) -> list[list[str]]:
    rows = []
    for outcome in outcomes:
        if outcome.cell.protocol != protocol:
            continue
        score = outcome.score
        vs, _ = versus_baseline(outcome, outcomes)
        status = outcome.status if not outcome.reason else f"{outcome.status}: {outcome.reason}"
        rows.append(
            [
                outcome.cell.method,
                outcome.cell.benchmark.label,
                _pct(score.jf) if score else "–",
                _pct(score.j) if score else "–",
                _pct(score.f) if score else "–",
                vs,
                f"{outcome.fps:.1f}" if outcome.fps else "–",
                f"{outcome.wall_seconds:.1f}",
                status,
            ]
        )
    return rows


HEADER = ["method", "benchmark", "J&F", "J", "F", "vs baseline", "frames/s", "wall s", "status"]


def markdown_tables(outcomes: list[CellOutcome]) -> str:
    parts = []
    for protocol in PROTOCOL_ORDER:
        rows = table_rows(protocol, outcomes)
        if not rows:
            continue
        j_note = f" J column: {J_COLUMN[protocol]}." if protocol in J_COLUMN else ""
        parts.append(f"### {PROTOCOL_TITLES[protocol]}\n")
        if j_note:
            parts.append(f"Scores x100.{j_note}\n")
        parts.append("| " + " | ".join(HEADER) + " |")
        parts.append(
            "| "
            + " | ".join(
                "---" if i < 2 or i == len(HEADER) - 1 else "---:" for i in range(len(HEADER))
            )
            + " |"
        )
        for row in rows:
            parts.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
        parts.append("")
    return "\n".join(parts)


def console_tables(outcomes: list[CellOutcome]) -> str:
    lines = []
    for protocol in PROTOCOL_ORDER:
        rows = table_rows(protocol, outcomes)
        if not rows:
            continue
        lines.append(PROTOCOL_TITLES[protocol].replace("`", ""))
        widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
        widths[-1] = min(widths[-1], 60)
        for row in [HEADER, *rows]:
            lines.append(
                "  ".join(
                    c[: widths[i]].ljust(widths[i])
                    if i < 2 or i == len(row) - 1
                    else c.rjust(widths[i])
                    for i, c in enumerate(row)
                ).rstrip()
            )
        lines.append("")
    return "\n".join(lines)


def write_markdown(path, outcomes: list[CellOutcome], run: dict) -> None:
    failed = [o for o in outcomes if o.status == "failed"]
    losing = [o for o in outcomes if versus_baseline(o, outcomes)[1] is False]
    head = [
        "# vos-suite evaluation matrix",
        "",
        f"Command: `{run['command']}`  ",
        f"Machine: {run['machine']}  ",
        f"Data: {run['data']}  ",
        f"Started {run['started']}, total wall time {run['wall_seconds']:.0f} s. "
        f"{len(outcomes)} cells: {sum(o.status == 'ok' for o in outcomes)} ok, "
        f"{len(failed)} failed, {sum(o.status == 'skipped' for o in outcomes)} skipped; "
        f"{len(losing)} learned cell(s) below their baseline.",
        "",
        "Scores are x100. `vs baseline` is the headline number (J&F, or J where there is no F) "
        "minus the trivial baseline's on the same benchmark and protocol. frames/s counts "
        "inference only (model loading included); wall s is the whole cell (inference, scoring, "
        "pictures), training excluded: it runs once per method and is cached (see below and "
        "matrix.json).",
        "",
        "",
    ]
    trained = {}
    for outcome in outcomes:
        if outcome.training_seconds > 0:
            trained[outcome.cell.method] = outcome.training_seconds
    if trained:
        head += [
            "Training of the tiny configs in this run (cached afterwards): "
            + ", ".join(f"{method} {seconds:.0f} s" for method, seconds in trained.items())
            + ".",
            "",
            "",
        ]
    atomic_write_text(path, "\n".join(head) + markdown_tables(outcomes))


def outcome_json(outcome: CellOutcome, outcomes: list[CellOutcome]) -> dict:
    score = outcome.score
    vs, beats = versus_baseline(outcome, outcomes)
    return {
        "id": outcome.cell.id,
        "method": outcome.cell.method,
        "benchmark": outcome.cell.benchmark.name,
        "protocol": outcome.cell.protocol,
        "status": outcome.status,
        "reason": outcome.reason,
        "scores": None
        if score is None
        else {
            "J&F": score.jf,
            "J": score.j,
            "F": score.f,
            "headline": score.headline,
            "global": score.global_scores,
        },
        "protocol_description": None if score is None else score.description,
        "vs_baseline": vs or None,
        "beats_baseline": beats,
        "frames": outcome.frames,
        "inference_seconds": outcome.inference_seconds,
        "frames_per_second": outcome.fps,
        "wall_seconds": outcome.wall_seconds,
        "weights": outcome.weights,
        "training_seconds": outcome.training_seconds,
        "settings": outcome.settings,
        "pictures": outcome.pictures,
        "notes": outcome.notes + (score.notes if score else []),
        "log": outcome.log,
    }


def write_json(path, outcomes: list[CellOutcome], run: dict) -> None:
    data = {"run": run, "cells": [outcome_json(o, outcomes) for o in outcomes]}
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")
