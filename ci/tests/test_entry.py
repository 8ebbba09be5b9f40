"""Calling an entry point in-process: its one-line error becomes the cell's reason."""

from __future__ import annotations

import sys

import pytest
from vos_matrix.runners.entry import EntryPointFailed, latest_file, run_entry


def test_a_failing_entry_point_reports_its_error_line():
    def main(argv):
        print("loading", file=sys.stderr)
        print("error: /data/x.png: mask of the wrong size", file=sys.stderr)
        raise SystemExit(2)

    logged = []
    with pytest.raises(EntryPointFailed) as info:
        run_entry(main, "method.eval", ["--in", 3], logged.append)
    assert str(info.value) == (
        "python -m method.eval exited with status 2: /data/x.png: mask of the wrong size"
    )
    assert logged == ["$ python -m method.eval --in 3"]


def test_success_returns_and_status_zero_or_none_is_success():
    seen = []
    run_entry(lambda argv: seen.append(argv), "m", ["a"], lambda _: None)
    run_entry(lambda argv: 0, "m", [], lambda _: None)
    assert seen == [["a"]]
    with pytest.raises(EntryPointFailed, match="exited with status 1$"):
        run_entry(lambda argv: 1, "m", [], lambda _: None)


def test_latest_file_takes_the_largest_step(tmp_path):
    for name in ("tiny_60.pth", "tiny_300.pth", "tiny_100.pth"):
        (tmp_path / name).write_bytes(b"")
    assert latest_file(tmp_path, "tiny_*.pth").name == "tiny_300.pth"
    with pytest.raises(FileNotFoundError, match="no file matching model_"):
        latest_file(tmp_path, "model_*.pth")
