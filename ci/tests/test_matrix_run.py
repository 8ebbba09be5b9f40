"""A tiny matrix run end to end: cells are isolated (a failing cell is reported with a
one-line reason and a log, the others still run), the exit status says whether any failed,
the outputs (matrix.md, matrix.json, pictures, logs) exist, and the copy-first-frame number
equals the DAVIS 2017 semi-supervised J worked out directly from the masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matrix_fixtures import write_matrix
from vos_common.datasets import open_dataset
from vos_eval.metrics import region_similarity
from vos_matrix.cli import build_parser, main

BASELINES = """
  copy-first-frame:
    kind: baseline
    task: semi-supervised
    weights: {synthetic: none, real: none}
    cells:
      - {benchmark: davis2017, protocol: davis2017-semi-supervised}
  flow-threshold:
    kind: baseline
    task: unsupervised
    weights: {synthetic: none, real: none}
    cells:
      - {benchmark: davis2016, protocol: davis2016}
"""

# a learned method whose given checkpoint does not exist: the cell must fail on its own
FAILING = """
  mivos_prop:
    task: semi-supervised
    baseline: copy-first-frame
    weights:
      synthetic: {checkpoint: /nonexistent/propagation_model.pth}
      real: {checkpoint: propagation_model.pth}
    cells:
      - {benchmark: davis2017, protocol: davis2017-semi-supervised}
"""


def run(tmp_path: Path, cache: Path, methods: str, *extra: str) -> tuple[int, dict, Path]:
    matrix = write_matrix(tmp_path / "matrix.yaml", methods)
    out = tmp_path / "out"
    status = main(
        [
            "--matrix",
            str(matrix),
            "--out",
            str(out),
            "--cache",
            str(cache),
            "--no-progress",
            "--threads",
            "1",
            *extra,
        ]
    )
    return status, json.loads((out / "matrix.json").read_text()), out


def first_frame_j(davis_root: Path) -> float:
    """DAVIS 2017 semi-supervised J of copying frame 0: objects 1..K of frame 0, frames 1..T-2."""
    per_object = []
    for sequence in open_dataset("davis2017", davis_root, split="val"):
        first = sequence.read_mask(0)
        for obj in range(1, int(first.max()) + 1):
            values = [
                region_similarity(first == obj, sequence.read_mask(t) == obj)
                for t in range(1, len(sequence) - 1)
            ]
            per_object.append(np.mean(values))
    return float(np.mean(per_object))


def test_failing_cell_is_isolated_and_sets_the_exit_status(tmp_path, shared_cache, capsys):
    status, report, out = run(tmp_path, shared_cache, BASELINES + FAILING)
    assert status == 1
    cells = {cell["id"]: cell for cell in report["cells"]}
    failed = cells["mivos_prop/davis2017/davis2017-semi-supervised"]
    assert failed["status"] == "failed"
    assert "/nonexistent/propagation_model.pth" in failed["reason"] and "\n" not in failed["reason"]
    assert "Traceback" in Path(failed["log"]).read_text()
    for cell_id in (
        "copy-first-frame/davis2017/davis2017-semi-supervised",
        "flow-threshold/davis2016/davis2016",
    ):
        cell = cells[cell_id]
        assert cell["status"] == "ok", cell
        assert 0.0 <= cell["scores"]["J"] <= 1.0 and 0.0 <= cell["scores"]["J&F"] <= 1.0
        assert cell["frames"] > 0 and cell["frames_per_second"] > 0
        assert cell["wall_seconds"] >= cell["inference_seconds"] > 0
        for picture in cell["pictures"].values():
            assert Path(picture).is_file() and Path(picture).stat().st_size > 0
    markdown = (out / "matrix.md").read_text()
    assert "| mivos_prop | DAVIS 2017 val |" in markdown and "failed: VOSDataError" in markdown
    assert markdown.count("### ") == 2  # one table per protocol
    console = capsys.readouterr().out
    assert "FAILED" in console and "2 ok, 1 failed" in console
    log = (out / "matrix.log").read_text()
    assert "python ci/matrix.py" in log and "settings:" in log

    expected = first_frame_j(Path(report["run"]["synthetic_folder"]) / "davis2017")
    assert cells["copy-first-frame/davis2017/davis2017-semi-supervised"]["scores"][
        "J"
    ] == pytest.approx(expected, abs=1e-12)


def test_all_cells_ok_exits_zero_and_only_filters(tmp_path, shared_cache):
    status, report, out = run(
        tmp_path, shared_cache, BASELINES + FAILING, "--only", "flow-threshold", "--no-pictures"
    )
    assert status == 0
    assert [cell["id"] for cell in report["cells"]] == ["flow-threshold/davis2016/davis2016"]
    assert report["cells"][0]["pictures"] == {}


def test_bad_user_input_is_one_line_with_status_2(tmp_path, shared_cache, capsys):
    matrix = write_matrix(tmp_path / "matrix.yaml", BASELINES)
    for argv, problem in (
        (["--only", "nope"], "no cell matches --only nope"),
        (["--size", "big"], "--size must look like HxW"),
        (["--davis-root", str(tmp_path / "missing")], "--davis-root: folder does not exist"),
        (["--matrix", str(tmp_path / "none.yaml")], "matrix file does not exist"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(
                [
                    "--matrix",
                    str(matrix),
                    "--out",
                    str(tmp_path / "o"),
                    "--cache",
                    str(shared_cache),
                    *argv,
                ]
            )
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and problem in err and "\n" not in err
        assert "Traceback" not in err


def test_help_explains_every_option():
    parser = build_parser()
    text = parser.format_help()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help, action.option_strings
    for flag in (
        "--davis-root",
        "--davis2016-root",
        "--ytvos-root",
        "--fbms-root",
        "--segtrack-root",
        "--weights-dir",
        "--device",
        "--out",
        "--only",
    ):
        assert flag in text
