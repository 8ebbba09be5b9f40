"""The matrix declaration (``ci/matrix.yaml``): benchmarks, methods, and the cells they expand to.

A cell is one (method, benchmark, protocol) triple with the weights to use. Loading checks
every name against what exists (the runners, the benchmarks, vos_eval's protocols) and
reports a bad file in one line naming the file and the problem.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from vos_common.errors import VOSDataError

DEFAULT_MATRIX = Path(__file__).resolve().parents[1] / "matrix.yaml"

# vos_eval's protocol names (EvaluationResult.protocol) and the benchmarks each one scores.
PROTOCOL_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "davis2016": ("davis2016",),
    "davis2017-semi-supervised": ("davis2017",),
    "davis2017-unsupervised": ("davis2017-unsupervised",),
    "youtube-vos-local": ("ytvos2019",),
    "rcf-davis2016": ("davis2016",),
    "rcf-fbms59": ("fbms59",),
    "rcf-segtrackv2": ("segtrackv2",),
}

BENCHMARK_ROOT_OPTIONS = (
    "davis-root",
    "davis2016-root",
    "ytvos-root",
    "fbms-root",
    "segtrack-root",
)


@dataclass(frozen=True)
class Benchmark:
    name: str
    label: str
    task: str
    real_root: str


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix."""

    method: str
    method_label: str
    kind: str  # "baseline" or "learned"
    task: str  # semi-supervised / unsupervised
    benchmark: Benchmark
    protocol: str
    weights: dict = field(default_factory=dict)  # {"synthetic": ..., "real": ...}
    baseline: str | None = None

    @property
    def id(self) -> str:
        return f"{self.method}/{self.benchmark.name}/{self.protocol}"

    @property
    def slug(self) -> str:
        return self.id.replace("/", "__")

    def weights_for(self, mode: str) -> dict | None:
        """The weights entry of ``mode`` (synthetic / real): a dict, or None for "none"."""
        entry = self.weights.get(mode)
        return None if entry in (None, "none") else dict(entry)


@dataclass
class Matrix:
    path: Path
    synthetic: dict
    benchmarks: dict[str, Benchmark]
    methods: dict[str, dict]
    cells: list[Cell]


def _require(mapping: dict, key: str, where: str, path: Path):
    if not isinstance(mapping, dict) or key not in mapping:
        raise VOSDataError(path, f"{where}: missing key {key!r}")
    return mapping[key]


def _merge_weights(method_weights: dict, cell_weights: dict | None) -> dict:
    merged = dict(method_weights or {})
    for mode, entry in (cell_weights or {}).items():
        merged[mode] = entry
    return merged


def load_matrix(path: str | Path = DEFAULT_MATRIX, runners: set[str] | None = None) -> Matrix:
    """Read and check ``matrix.yaml``; ``runners`` are the method names that can run."""
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, "matrix file does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise VOSDataError(
            path, f"{where}not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    if not isinstance(data, dict):
        raise VOSDataError(path, "expected a mapping with synthetic, benchmarks and methods")
    synthetic = _require(data, "synthetic", "top level", path)
    benchmarks = {}
    declared = _require(data, "benchmarks", "top level", path)
    if not isinstance(declared, dict):
        raise VOSDataError(path, "benchmarks: expected a mapping of benchmark name to its entry")
    for name, entry in declared.items():
        benchmarks[name] = Benchmark(
            name,
            str(_require(entry, "label", f"benchmark {name}", path)),
            str(entry.get("task", "")),
            str(_require(entry, "real_root", f"benchmark {name}", path)),
        )
        if benchmarks[name].real_root not in BENCHMARK_ROOT_OPTIONS:
            raise VOSDataError(
                path,
                f"benchmark {name}: real_root must be one of {', '.join(BENCHMARK_ROOT_OPTIONS)}",
            )
    methods = _require(data, "methods", "top level", path) or {}
    if not isinstance(methods, dict):
        raise VOSDataError(path, "methods: expected a mapping of method name to its entry")
    cells = []
    for method, entry in methods.items():
        if not isinstance(entry, dict):
            raise VOSDataError(path, f"method {method}: expected a mapping (label, weights, cells)")
        if runners is not None and method not in runners:
            raise VOSDataError(
                path,
                f"method {method}: no runner of that name (known: {', '.join(sorted(runners))})",
            )
        kind = entry.get("kind", "learned")
        baseline = entry.get("baseline")
        if baseline is not None and baseline not in methods:
            raise VOSDataError(path, f"method {method}: baseline {baseline!r} is not a method")
        for i, spec in enumerate(_require(entry, "cells", f"method {method}", path)):
            where = f"method {method}, cell {i + 1}"
            bench = _require(spec, "benchmark", where, path)
            protocol = _require(spec, "protocol", where, path)
            if bench not in benchmarks:
                raise VOSDataError(path, f"{where}: unknown benchmark {bench!r}")
            if protocol not in PROTOCOL_BENCHMARKS:
                raise VOSDataError(
                    path,
                    f"{where}: unknown protocol {protocol!r} "
                    f"(vos_eval's: {', '.join(PROTOCOL_BENCHMARKS)})",
                )
            if bench not in PROTOCOL_BENCHMARKS[protocol]:
                raise VOSDataError(path, f"{where}: protocol {protocol} does not score {bench}")
            cells.append(
                Cell(
                    method=method,
                    method_label=str(entry.get("label", method)),
                    kind=kind,
                    task=str(entry.get("task", "")),
                    benchmark=benchmarks[bench],
                    protocol=protocol,
                    weights=_merge_weights(entry.get("weights", {}), spec.get("weights")),
                    baseline=baseline,
                )
            )
    ids = [cell.id for cell in cells]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise VOSDataError(path, f"cell declared twice: {', '.join(duplicates)}")
    return Matrix(path, synthetic, benchmarks, methods, cells)


def select_cells(cells: list[Cell], patterns: list[str] | None) -> list[Cell]:
    """Cells whose id (``method/benchmark/protocol``) matches any glob pattern, or any part.

    ``--only rcf`` keeps every RCF cell, ``--only '*/davis2016/*'`` every DAVIS 2016 cell.
    """
    if not patterns:
        return list(cells)

    def matches(cell: Cell, pattern: str) -> bool:
        parts = cell.id.split("/")
        return fnmatch.fnmatchcase(cell.id, pattern) or any(
            fnmatch.fnmatchcase(part, pattern) for part in parts
        )

    return [cell for cell in cells if any(matches(cell, p) for p in patterns)]
