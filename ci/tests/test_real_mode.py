"""The real-data path of the matrix, on small fixtures in the real formats (the synthetic
writer's DAVIS 2017 and 2016 layouts given as --davis-root / --davis2016-root) with weights in
the official key layout (a randomly initialised MiVOS network saved as the released
``propagation_model.pth`` is: a bare state_dict). Plumbing only: random weights score low."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from matrix_fixtures import write_matrix
from vos_matrix.benchmark import benchmark_folder, ensure_benchmark, synth_config
from vos_matrix.cells import load_matrix
from vos_matrix.cli import main

METHODS = """
  copy-first-frame:
    kind: baseline
    task: semi-supervised
    weights: {synthetic: none, real: none}
    cells:
      - {benchmark: davis2017, protocol: davis2017-semi-supervised}
      - {benchmark: ytvos2019, protocol: youtube-vos-local}
  mivos_prop:
    task: semi-supervised
    baseline: copy-first-frame
    weights:
      synthetic: {train: tiny_synthetic.yaml}
      real: {checkpoint: propagation_model.pth}
    cells:
      - {benchmark: davis2016, protocol: davis2016}
      - {benchmark: davis2017, protocol: davis2017-semi-supervised}
"""


def test_real_matrix_with_official_key_layout(tmp_path, shared_cache):
    from mivos_prop.model import PropagationNetwork

    matrix = write_matrix(tmp_path / "matrix.yaml", METHODS)
    config, count = synth_config(load_matrix(matrix).synthetic)
    data = benchmark_folder(shared_cache, config, count)
    ensure_benchmark(data, config, count)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(PropagationNetwork(top_k=50).state_dict(), weights / "propagation_model.pth")

    out = tmp_path / "out"
    status = main(
        [
            "--matrix",
            str(matrix),
            "--out",
            str(out),
            "--no-progress",
            "--threads",
            "1",
            "--davis-root",
            str(data / "davis2017"),
            "--davis2016-root",
            str(data / "davis2016"),
            "--weights-dir",
            str(weights),
            "--device",
            "cpu",
            "--no-pictures",
        ]
    )
    assert status == 0
    report = json.loads((out / "matrix.json").read_text())
    assert report["run"]["mode"] == "real" and "--davis-root" in report["run"]["data"]
    cells = {cell["id"]: cell for cell in report["cells"]}
    skipped = cells["copy-first-frame/ytvos2019/youtube-vos-local"]
    assert skipped["status"] == "skipped" and skipped["reason"] == "no --ytvos-root given"
    for cell_id in (
        "mivos_prop/davis2016/davis2016",
        "mivos_prop/davis2017/davis2017-semi-supervised",
    ):
        cell = cells[cell_id]
        assert cell["status"] == "ok", cell
        assert cell["weights"] == f"checkpoint: {weights / 'propagation_model.pth'}"
        assert (
            cell["settings"]["model"] == "ResNet-50"
        )  # the released architecture, not the smoke one
        assert 0.0 <= cell["scores"]["J&F"] <= 1.0 and cell["frames"] > 0
    log = Path(cells["mivos_prop/davis2017/davis2017-semi-supervised"]["log"]).read_text()
    assert "--smoke-model" not in log and "propagation_model.pth" in log
