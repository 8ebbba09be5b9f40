"""The training cache: one run per configuration hash, finished runs only, resumable
checkpoint folders pruned; given checkpoints resolved against --weights-dir."""

from __future__ import annotations

import json

import pytest
from vos_common.errors import VOSDataError
from vos_matrix.weights import cached_training, config_hash, given_checkpoint


def fake_training(calls: list):
    def train(run_dir):
        calls.append(run_dir)
        (run_dir / "checkpoints" / "step_2").mkdir(parents=True)
        (run_dir / "checkpoints" / "step_2" / "optimizer.bin").write_bytes(b"x" * 100)
        (run_dir / "metrics.csv").write_text("step,loss\n2,0.5\n")
        weights = run_dir / "tiny_2.pth"
        weights.write_bytes(b"weights")
        return weights, {"steps": 2}

    return train


def test_trains_once_per_key_and_keeps_only_what_is_needed(tmp_path):
    calls: list = []
    key = {"method": "m", "config": "tiny.yaml", "opts": ["a", "1"]}
    first = cached_training(tmp_path, "m", key, fake_training(calls), log=lambda _: None)
    folder = tmp_path / "weights" / f"m-{config_hash(key)}"
    assert first.path == folder / "tiny_2.pth" and first.source == "trained"
    assert first.extra == {"steps": 2}
    assert not (folder / "checkpoints").exists() and (folder / "metrics.csv").is_file()
    record = json.loads((folder / "weights.json").read_text())
    assert record["key"] == key and record["weights"] == "tiny_2.pth"
    assert not folder.with_name(folder.name + ".partial").exists()

    again = cached_training(tmp_path, "m", key, fake_training(calls), log=lambda _: None)
    assert len(calls) == 1 and again.path == first.path and again.source == "trained (cached)"
    other = cached_training(
        tmp_path, "m", {**key, "opts": ["a", "2"]}, fake_training(calls), log=lambda _: None
    )
    assert len(calls) == 2 and other.path != first.path


def test_an_interrupted_training_leaves_no_cached_result(tmp_path):
    def broken(run_dir):
        (run_dir / "half.pth").write_bytes(b"")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        cached_training(tmp_path, "m", {"k": 1}, broken, log=lambda _: None)
    assert [p.name for p in (tmp_path / "weights").iterdir()] == [
        f"m-{config_hash({'k': 1})}.partial"
    ]
    calls: list = []
    result = cached_training(tmp_path, "m", {"k": 1}, fake_training(calls), log=lambda _: None)
    assert len(calls) == 1 and result.path.is_file()  # the half run was redone, not reused


def test_given_checkpoints(tmp_path):
    (tmp_path / "propagation_model.pth").write_bytes(b"w")
    entry = {"checkpoint": "propagation_model.pth"}
    assert given_checkpoint(entry, tmp_path) == tmp_path / "propagation_model.pth"
    with pytest.raises(VOSDataError, match="needs --weights-dir"):
        given_checkpoint(entry, None)
    with pytest.raises(VOSDataError, match="missing.pth: checkpoint file does not exist"):
        given_checkpoint({"checkpoint": "missing.pth"}, tmp_path)
