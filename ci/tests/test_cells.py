"""ci/matrix.yaml parses, and every cell's method, benchmark and protocol exists; the cell
filter; perfect predictions score 1 under every protocol name (so the names are vos_eval's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matrix_fixtures import write_matrix
from vos_common.errors import VOSDataError
from vos_matrix.benchmark import DataRoots, benchmark_folder, ensure_benchmark, synth_config
from vos_matrix.cells import DEFAULT_MATRIX, PROTOCOL_BENCHMARKS, load_matrix, select_cells
from vos_matrix.runners import RUNNERS
from vos_matrix.runners.base import BINARY_PROTOCOLS, open_benchmark, write_sequence
from vos_matrix.scoring import score

ROOT = DEFAULT_MATRIX.parents[1]


def test_matrix_yaml_parses_and_names_only_existing_things():
    matrix = load_matrix(DEFAULT_MATRIX, set(RUNNERS))
    assert set(matrix.methods) == set(RUNNERS)
    methods = {cell.method for cell in matrix.cells}
    assert {
        "mivos_prop",
        "rde",
        "sfc",
        "rcf",
        "oast",
        "copy-first-frame",
        "flow-threshold",
    } <= methods
    for cell in matrix.cells:
        assert cell.protocol in PROTOCOL_BENCHMARKS
        assert cell.benchmark.name in PROTOCOL_BENCHMARKS[cell.protocol]
        assert cell.benchmark.name in matrix.benchmarks
    for entry in matrix.methods.values():
        if entry.get("readme"):
            assert (ROOT / entry["readme"]).is_file(), entry["readme"]
    # the synthetic benchmark of the main job is a valid configuration
    config, count = synth_config(matrix.synthetic)
    assert count >= 3 and config.frames >= 3


def test_every_learned_cell_has_its_baseline_cell_and_weights():
    matrix = load_matrix(DEFAULT_MATRIX, set(RUNNERS))
    pairs = {(c.method, c.benchmark.name, c.protocol) for c in matrix.cells}
    for cell in matrix.cells:
        if cell.kind == "baseline":
            assert cell.weights_for("synthetic") is None
            continue
        assert cell.baseline in ("copy-first-frame", "flow-threshold")
        assert (cell.baseline, cell.benchmark.name, cell.protocol) in pairs, cell.id
        synthetic, real = cell.weights_for("synthetic"), cell.weights_for("real")
        assert "train" in synthetic or "checkpoint" in synthetic, cell.id
        assert real and real.get("checkpoint"), cell.id


def test_every_tiny_training_config_exists():
    from oast.config import config_path
    from rcf.config import resolve_config_path
    from vos_matrix.runners import mivos_prop, rde, sfc

    resolvers = {
        "mivos_prop": mivos_prop._config_file,
        "rde": rde._config_file,
        "sfc": sfc._config_file,
        "rcf": resolve_config_path,
        "oast": lambda name: Path(config_path(name.removesuffix(".yaml"))),
    }
    matrix = load_matrix(DEFAULT_MATRIX, set(RUNNERS))
    for cell in matrix.cells:
        entry = cell.weights_for("synthetic")
        if entry and "train" in entry:
            assert Path(resolvers[cell.method](entry["train"])).is_file(), cell.id


def test_select_cells_by_part_or_glob():
    cells = load_matrix(DEFAULT_MATRIX, set(RUNNERS)).cells
    rcf = select_cells(cells, ["rcf"])
    assert rcf and all(c.method == "rcf" for c in rcf)
    d16 = select_cells(cells, ["davis2016"])  # a benchmark and a protocol name
    assert d16 and all("davis2016" in (c.benchmark.name, c.protocol) for c in d16)
    one = select_cells(cells, ["mivos_prop/davis2017/*"])
    assert [c.id for c in one] == ["mivos_prop/davis2017/davis2017-semi-supervised"]
    assert select_cells(cells, None) == cells
    assert select_cells(cells, ["nothing-like-this"]) == []


@pytest.mark.parametrize(
    ("methods", "problem"),
    [
        (
            "  x:\n    cells: [{benchmark: davis2017, protocol: davis2017-semi-supervised}]\n",
            "no runner of that name",
        ),
        (
            "  copy-first-frame:\n    cells: [{benchmark: davis2018, protocol: davis2016}]\n",
            "unknown benchmark 'davis2018'",
        ),
        (
            "  copy-first-frame:\n    cells: [{benchmark: davis2017, protocol: davis-2017}]\n",
            "unknown protocol 'davis-2017'",
        ),
        (
            "  copy-first-frame:\n    cells: [{benchmark: fbms59, protocol: davis2016}]\n",
            "protocol davis2016 does not score fbms59",
        ),
        ("  copy-first-frame:\n    cells: [{protocol: davis2016}]\n", "missing key 'benchmark'"),
    ],
)
def test_bad_matrix_files_are_refused_in_one_line(tmp_path, methods, problem):
    path = write_matrix(tmp_path / "m.yaml", methods)
    with pytest.raises(VOSDataError) as info:
        load_matrix(path, set(RUNNERS))
    message = str(info.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("synthetic: {videos: 3\nmethods: [\n")
    with pytest.raises(VOSDataError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_matrix(path)


def _perfect_predictions(benchmark: str, root: Path, out: Path, protocol: str) -> None:
    """The ground truth itself, written as a method would (YouTube-VOS: the full valid GT)."""
    for sequence in open_benchmark(benchmark, root):
        if benchmark == "ytvos2019":
            gt = root / "valid_gt" / "Annotations" / sequence.name
            from vos_common.io import read_label_map

            masks = [read_label_map(gt / f"{name}.png") for name in sequence.frame_names]
        else:
            masks = []
            for index in range(len(sequence)):
                mask = (
                    sequence.read_mask(index)
                    if sequence.has_mask(index)
                    else np.zeros(sequence.original_size, np.uint8)
                )
                if sequence.void_label is not None:
                    mask = np.where(mask == sequence.void_label, 0, mask)
                masks.append(mask)
        write_sequence(out, sequence, masks, protocol in BINARY_PROTOCOLS)


@pytest.mark.parametrize("protocol", sorted(PROTOCOL_BENCHMARKS))
def test_perfect_predictions_score_one_under_every_protocol(protocol, shared_cache, tmp_path):
    path = write_matrix(tmp_path / "m.yaml", "")
    config, count = synth_config(load_matrix(path).synthetic)
    folder = benchmark_folder(shared_cache, config, count)
    ensure_benchmark(folder, config, count)
    data = DataRoots.synthetic(folder)
    benchmark = PROTOCOL_BENCHMARKS[protocol][0]
    _perfect_predictions(benchmark, data.root(benchmark), tmp_path / "pred", protocol)
    result = score(
        protocol,
        data.root(benchmark),
        tmp_path / "pred",
        "unsupervised",
        True,
        tmp_path / "reports",
    )
    assert result.j == pytest.approx(1.0)
    if protocol.startswith("rcf-") and protocol != "rcf-davis2016":
        assert result.jf is None and result.f is None and result.headline == "mIoU"
    else:
        assert result.jf == pytest.approx(1.0) and result.f == pytest.approx(1.0)
    assert (tmp_path / "reports" / "global_results-val.csv").is_file()
