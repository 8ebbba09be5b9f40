"""Frames/s reading a 480p DAVIS sequence (frame + mask + forward/backward flow) two ways.

1. a plain loop: ``PIL.Image.open`` + ``np.asarray`` for the JPEG and the PNG, ``np.load`` for
   the two ``.npy`` flows, no checks;
2. ``vos_common``: ``open_dataset("davis2017", ...)`` then ``iter_samples`` (the same decoders
   plus size / format checks, with decoding on a small thread pool), serially and pooled.

The sequence comes from the synthetic benchmark written in the DAVIS 2017 layout with RCF's
``.npy`` flows, generated once into ``--data`` (cached). Run:

    hatch run python benchmarks/io_bench.py [--frames 40] [--repeats 3] [--workers 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vos_common.datasets import open_dataset
from vos_common.datasets.loading import iter_samples
from vos_common.synth import SynthConfig, generate_videos, write_benchmark


def prepare(root: Path, frames: int) -> Path:
    marker = root / f".io_bench_{frames}"
    if not marker.exists():
        config = SynthConfig(height=480, width=854, frames=frames, num_objects=(3, 3), seed=7)
        write_benchmark(generate_videos(config, count=1), format="davis2017", out=root)
        marker.touch()
    return root


def plain_loop(root: Path, name: str) -> int:
    """What a user's own script does: sorted listings, PIL decode, np.load; nothing checked."""
    frames_dir = root / "JPEGImages" / "480p" / name
    count = 0
    for jpg in sorted(frames_dir.iterdir()):
        stem = jpg.stem
        frame = np.asarray(Image.open(jpg).convert("RGB"))
        mask = np.asarray(Image.open(root / "Annotations" / "480p" / name / f"{stem}.png"))
        forward = root / "Flows_NewCT" / "480p" / name / f"{stem}.npy"
        backward = root / "BackwardFlows_NewCT" / "480p" / name / f"{stem}.npy"
        flows = [np.load(p) for p in (forward, backward) if p.exists()]
        count += 1 + 0 * (frame.size + mask.size + sum(f.size for f in flows))
    return count


def vos_common_loop(root: Path, workers: int) -> int:
    dataset = open_dataset("davis2017", root, split="val")
    sequence = dataset[0]
    count = 0
    for _ in iter_samples(sequence, masks=True, flows=[("forward", 1), ("backward", 1)],
                          workers=workers):
        count += 1
    return count


def timed(fn, repeats: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".vos-cache/io_bench"),
                        help="where the synthetic 480p DAVIS sequence is written (cached)")
    parser.add_argument("--frames", type=int, default=40, help="frames in the sequence")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is shown")
    parser.add_argument("--workers", type=int, default=4, help="decoding threads for the pooled run")
    args = parser.parse_args(argv)

    root = prepare(args.data, args.frames)
    name = open_dataset("davis2017", root, split="val").names[0]
    plain_loop(root, name)  # warm the page cache for both contenders
    rows = [
        ("plain PIL/numpy loop (baseline)", *timed(lambda: plain_loop(root, name), args.repeats)),
        ("vos_common, serial (workers=0)", *timed(lambda: vos_common_loop(root, 0), args.repeats)),
        (f"vos_common, {args.workers} threads", *timed(lambda: vos_common_loop(root, args.workers), args.repeats)),
    ]
    base = rows[0][2] / rows[0][1]
    print(f"480p DAVIS sequence {name!r}: {args.frames} frames; each frame = JPEG + indexed PNG "
          f"+ forward and backward .npy flow; {os.cpu_count()} CPUs; median of {args.repeats}")
    print(f"{'reader':40s} {'frames/s':>10s} {'vs baseline':>12s}")
    for label, seconds, count in rows:
        rate = count / seconds
        print(f"{label:40s} {rate:10.1f} {rate / base:11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
