"""Helpers of the matrix tests: a tiny matrix file."""

from __future__ import annotations

from pathlib import Path

# 3 videos (2 train, 1 val) x 6 frames of 48x64: every format is written in about a second
TINY_SYNTHETIC = """
synthetic:
  videos: 3
  frames: 6
  size: [48, 64]
  seed: 3
  num_objects: [1, 2]
  late_objects: 0
"""

BENCHMARKS = """
benchmarks:
  davis2016: {label: DAVIS 2016 val, task: binary, real_root: davis2016-root}
  davis2017: {label: DAVIS 2017 val, task: semi-supervised, real_root: davis-root}
  davis2017-unsupervised:
    {label: DAVIS 2017 val (unsupervised), task: unsupervised, real_root: davis-root}
  ytvos2019: {label: YouTube-VOS 2019 valid, task: semi-supervised, real_root: ytvos-root}
  fbms59: {label: FBMS-59 test, task: unsupervised, real_root: fbms-root}
  segtrackv2: {label: SegTrackv2, task: unsupervised, real_root: segtrack-root}
"""


def write_matrix(path: Path, methods: str) -> Path:
    """A matrix file with the tiny synthetic benchmark, every benchmark, and ``methods``."""
    path.write_text(TINY_SYNTHETIC + BENCHMARKS + "methods:\n" + methods)
    return path
