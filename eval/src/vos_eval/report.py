"""Reports: the official console table, the official CSV files and a JSON with every value.

* ``global_results-<set>.csv``: header ``J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay``
  (RCF's DAVIS-2016 protocol inserts ``J-FrameMean`` after ``J-Mean``) and one row, values
  printed ``%.3f``, NaN as an empty field, ``\\n`` line ends: byte-identical to what the
  official script writes through pandas.
* ``per-sequence_results-<set>.csv``: ``Sequence,J-Mean,F-Mean`` and one row per object.
* ``results-<set>.json``: protocol in words, settings, global scores, and per object its
  per-frame J and F with frame names, true object id and matched proposal.
* The console table reproduces pandas' ``DataFrame.to_string(index=False)`` layout that the
  official script prints, preceded by the protocol statement.

Every file is written atomically; nothing is written unless the whole run succeeded.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path

from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

from vos_eval.results import EvaluationResult

_PANDAS_DIGITS = 6
_DECIMAL_NUMBER = re.compile(r"^\s*[+-]?[0-9]+\.[0-9]*$")


# -------------------------------------------------------------------------------- CSV
def _csv_value(value) -> str:
    if isinstance(value, str):
        return value
    value = float(value)
    return "" if math.isnan(value) else format(value, ".3f")


def csv_text(header: list[str], rows: list[list]) -> str:
    """CSV as pandas ``to_csv(index=False, float_format="%.3f")`` writes it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue()


def global_csv(result: EvaluationResult) -> str:
    """Text of ``global_results-<set>.csv``."""
    return csv_text(list(result.global_scores), [list(result.global_scores.values())])


def per_sequence_csv(result: EvaluationResult) -> str:
    """Text of ``per-sequence_results-<set>.csv``."""
    rows = [[name, *values] for name, values in result.per_sequence_rows]
    return csv_text(["Sequence", *result.per_sequence_columns], rows)


def csv_paths(output_dir: str | os.PathLike, subset: str) -> tuple[Path, Path]:
    """Official file names: ``global_results-<set>.csv`` and ``per-sequence_results-<set>.csv``."""
    output_dir = Path(output_dir)
    return (
        output_dir / f"global_results-{subset}.csv",
        output_dir / f"per-sequence_results-{subset}.csv",
    )


def json_path(output_dir: str | os.PathLike, subset: str) -> Path:
    return Path(output_dir) / f"results-{subset}.json"


# ------------------------------------------------------------------------------- JSON
def _finite(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def result_to_json(result: EvaluationResult) -> dict:
    """Everything in the result, JSON-ready (NaN becomes null)."""
    objects = []
    for obj in result.objects:
        objects.append(
            {
                "name": obj.name,
                "sequence": obj.sequence,
                "object_id": obj.object_id,
                "proposal_id": obj.proposal_id,
                "category": obj.category,
                "frames": obj.frames,
                "J": [_finite(float(v)) for v in obj.j],
                "F": [_finite(float(v)) for v in obj.f],
                "J-Mean": _finite(obj.j_stats.mean),
                "J-Recall": _finite(obj.j_stats.recall),
                "J-Decay": _finite(obj.j_stats.decay),
                "F-Mean": _finite(obj.f_stats.mean),
                "F-Recall": _finite(obj.f_stats.recall),
                "F-Decay": _finite(obj.f_stats.decay),
            }
        )
    from vos_eval import __version__

    return {
        "vos_eval_version": __version__,
        "protocol": result.protocol,
        "description": result.description,
        "settings": result.settings,
        "notes": result.notes,
        "global": {key: _finite(float(value)) for key, value in result.global_scores.items()},
        "per_sequence": [
            {
                "Sequence": name,
                **{
                    column: _finite(float(v))
                    for column, v in zip(result.per_sequence_columns, values, strict=True)
                },
            }
            for name, values in result.per_sequence_rows
        ],
        "objects": objects,
    }


def write_reports(
    result: EvaluationResult, output_dir: str | os.PathLike, subset: str, write_json: bool = True
) -> list[Path]:
    """Write both official CSVs (and the JSON) atomically into ``output_dir``; returns the paths."""
    global_path, sequence_path = csv_paths(output_dir, subset)
    atomic_write_text(global_path, global_csv(result))
    atomic_write_text(sequence_path, per_sequence_csv(result))
    written = [global_path, sequence_path]
    if write_json:
        path = json_path(output_dir, subset)
        atomic_write_text(path, json.dumps(result_to_json(result), indent=1) + "\n")
        written.append(path)
    return written


def read_csv_reports(output_dir: str | os.PathLike, subset: str) -> tuple[str, str]:
    """Texts of previously written CSVs (``--reuse-csv``); a missing file raises."""
    texts = []
    for path in csv_paths(output_dir, subset):
        if not path.is_file():
            raise VOSDataError(path, "no precomputed results to reuse (run without --reuse-csv)")
        texts.append(path.read_text())
    return texts[0], texts[1]


# ----------------------------------------------------------------------- console table
def _format_float_column(values: list[float]) -> list[str]:
    """Float cells as pandas prints them (6 decimals, common trailing zeros trimmed, NaN)."""
    finite = [abs(v) for v in values if not math.isnan(v)]

    def fixed(digits_format: str) -> list[str]:
        return ["NaN" if math.isnan(v) else digits_format.format(v) for v in values]

    cells = fixed(f"{{:.{_PANDAS_DIGITS}f}}")
    while True:
        numbers = [c for c in cells if _DECIMAL_NUMBER.match(c)]
        if not numbers or not all(c.endswith("0") for c in numbers):
            break
        cells = [c[:-1] if _DECIMAL_NUMBER.match(c) else c for c in cells]
    cells = [c + "0" if _DECIMAL_NUMBER.match(c) and c.endswith(".") else c for c in cells]
    too_long = bool(cells) and max(len(c) for c in cells) > _PANDAS_DIGITS + 6
    has_large = any(v > 1e6 for v in finite)
    has_small = any(0 < v < 10 ** (-_PANDAS_DIGITS) for v in finite)
    if has_small or (too_long and has_large):
        cells = fixed(f"{{:.{_PANDAS_DIGITS}e}}")
    return cells


def text_table(header: list[str], columns: list[list]) -> str:
    """A table laid out like pandas ``DataFrame.to_string(index=False)``.

    Columns of floats get a one-space header prefix and pandas' float formatting; every
    column is right-aligned to its widest cell and columns are joined by one space.
    """
    blocks = []
    for name, values in zip(header, columns, strict=True):
        numeric = bool(values) and all(isinstance(v, float) for v in values)
        cells = _format_float_column(values) if numeric else [str(v) for v in values]
        title = " " + name if numeric else name
        width = max([len(title)] + [len(c) for c in cells])
        blocks.append([title.rjust(width)] + [c.rjust(width) for c in cells])
    return "\n".join(" ".join(block[row] for block in blocks) for row in range(len(blocks[0])))


def console_report(result: EvaluationResult, subset: str) -> str:
    """Protocol statement, then the official global and per-sequence tables."""
    lines = [f"Protocol: {result.description}"]
    lines += [f"Note: {note}" for note in result.notes]
    lines.append(
        f"--------------------------- Global results for {subset} ---------------------------"
    )
    lines.append(
        text_table(list(result.global_scores), [[float(v)] for v in result.global_scores.values()])
    )
    lines.append("")
    lines.append(f"---------- Per sequence results for {subset} ----------")
    names = [name for name, _ in result.per_sequence_rows]
    columns = [names] + [
        [float(values[i]) for _, values in result.per_sequence_rows]
        for i in range(len(result.per_sequence_columns))
    ]
    lines.append(text_table(["Sequence", *result.per_sequence_columns], columns))
    return "\n".join(lines)


def console_from_csv(global_text: str, sequence_text: str, subset: str) -> str:
    """Console tables rebuilt from CSV files (values then carry only 3 decimals)."""
    tables = []
    for text in (global_text, sequence_text):
        rows = list(csv.reader(io.StringIO(text)))
        header, body = rows[0], rows[1:]
        columns = []
        for index in range(len(header)):
            cells = [row[index] for row in body]
            try:
                columns.append([float(c) if c else math.nan for c in cells])
            except ValueError:
                columns.append(cells)
        tables.append(text_table(header, columns))
    return "\n".join(
        [
            f"--------------------------- Global results for {subset} ---------------------------",
            tables[0],
            "",
            f"---------- Per sequence results for {subset} ----------",
            tables[1],
        ]
    )
