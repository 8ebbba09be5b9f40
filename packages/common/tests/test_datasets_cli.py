"""``python -m vos_common.datasets``: a summary for good data, one line and exit 2 for bad data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vos_common.synth import SynthConfig, generate_videos, write_benchmark

CONFIG = SynthConfig(height=32, width=48, frames=6, num_objects=(2, 2), seed=1)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vos_common.datasets", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def davis(tmp_path):
    write_benchmark(generate_videos(CONFIG, count=2), format="davis2017", out=tmp_path / "davis")
    return tmp_path / "davis"


@pytest.fixture
def ytvos(tmp_path):
    write_benchmark(generate_videos(CONFIG, count=2), format="ytvos2019", out=tmp_path / "yt")
    return tmp_path / "yt"


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_summary_of_a_good_dataset(davis):
    result = run("davis2017", str(davis), "--split", "val", "--validate", "--per-sequence")
    assert result.returncode == 0, result.stderr
    assert "synth-0001" in result.stdout
    assert "validated" in result.stdout
    total = [line for line in result.stdout.splitlines() if line.startswith("all 1")]
    assert total and total[0].split()[2] == str(CONFIG.frames)


def test_help_explains_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--split", "--task", "--gt-source", "--flow-root", "--validate", "--all-frames"):
        assert option in result.stdout


def test_missing_frame(davis):
    (davis / "JPEGImages/480p/synth-0001/00003.jpg").unlink()
    result = run("davis2017", str(davis), "--split", "val", "--validate")
    assert_one_line_error(result, "synth-0001")


def test_mask_size_differs_from_frame(davis):
    mask = davis / "Annotations/480p/synth-0001/00002.png"
    ids = np.zeros((CONFIG.height + 2, CONFIG.width), np.uint8)
    image = Image.fromarray(ids).convert("P")
    image.save(mask)
    result = run("davis2017", str(davis), "--split", "val", "--validate")
    assert_one_line_error(result, "00002.png", "mask is")


def test_rgb_png_where_indexed_is_required(davis):
    mask = davis / "Annotations/480p/synth-0001/00001.png"
    Image.fromarray(np.zeros((CONFIG.height, CONFIG.width, 3), np.uint8)).save(mask)
    result = run("davis2017", str(davis), "--split", "val", "--validate")
    assert_one_line_error(result, "00001.png", "RGB")


def test_corrupt_jpeg(davis):
    frame = davis / "JPEGImages/480p/synth-0001/00000.jpg"
    frame.write_bytes(frame.read_bytes()[:50])
    result = run("frames", str(frame.parent), "--validate")
    assert_one_line_error(result, "00000.jpg")


def test_empty_and_missing_imagesets(davis):
    (davis / "ImageSets/2017/val.txt").write_text("\n")
    assert_one_line_error(run("davis2017", str(davis), "--split", "val"), "val.txt", "empty")
    (davis / "ImageSets/2017/val.txt").unlink()
    assert_one_line_error(run("davis2017", str(davis), "--split", "val"), "val.txt")


def test_meta_json_naming_missing_frames(ytvos):
    meta_path = ytvos / "train/meta.json"
    meta = json.loads(meta_path.read_text())
    video = next(iter(meta["videos"].values()))
    next(iter(video["objects"].values()))["frames"].append("00995")
    meta_path.write_text(json.dumps(meta))
    assert_one_line_error(run("ytvos", str(ytvos), "--split", "train"), "meta.json", "00995")


def test_truncated_flo_in_a_flow_root(davis):
    flo = sorted((davis / "OpticalFlow/forward_gap1/synth-0001").iterdir())[0]
    flo.write_bytes(flo.read_bytes()[:-8])
    result = subprocess.run(
        [sys.executable, "-c",
         "from vos_common.datasets import open_dataset; import sys;"
         f"s = open_dataset('davis2017', {str(davis)!r}, split='val', flow_root={str(davis / 'OpticalFlow')!r})[0];"
         "s.read_flow(0)"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "truncated" in result.stderr and flo.name in result.stderr
