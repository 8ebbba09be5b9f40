"""The main job of vos-suite: the evaluation matrix on the embedded synthetic benchmark.

Today (issue #2) it generates the synthetic benchmark in every dataset layout (cached by its
configuration under ``--cache``), reads every layout back through ``vos_common.datasets``
with full validation, and prints one summary row per dataset view. The evaluation matrix
(issue #10) grows from here: every method on every benchmark it supports, scored by
``vos_eval``.

    hatch run matrix                   # defaults: 6 videos x 24 frames at 240x427
    hatch run matrix --sequences 2 --frames 8 --size 96x160 --force
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from vos_common import __version__ as vos_common_version
from vos_common.datasets import open_dataset
from vos_common.datasets.summary import format_table, summarize
from vos_common.errors import cli_errors
from vos_common.synth import SynthConfig
from vos_common.synth.video import LazyVideos
from vos_common.synth.writers import FORMATS, write_benchmark

# (label, layout folder, reader kind, path under the layout folder, reader options)
DATASET_VIEWS: list[tuple[str, str, str, str, dict]] = [
    ("DAVIS 2017 val, semi-supervised", "davis2017", "davis2017", ".", {"split": "val"}),
    ("DAVIS 2017 val, unsupervised", "davis2017", "davis2017", ".", {"split": "val", "task": "unsupervised"}),
    ("DAVIS 2017 train, semi-supervised", "davis2017", "davis2017", ".", {"split": "train"}),
    ("DAVIS 2016 val (original release)", "davis2016", "davis2016", ".", {"split": "val"}),
    ("DAVIS 2016 val (from 2017, binarised)", "davis2017", "davis2016", ".",
     {"split": "val", "gt_source": "davis2017-binarised"}),
    ("YouTube-VOS 2019 train", "ytvos2019", "ytvos", ".", {"split": "train"}),
    ("YouTube-VOS 2019 valid (sparse first masks)", "ytvos2019", "ytvos", ".", {"split": "valid"}),
    ("YouTube-VOS 2019 valid, all frames", "ytvos2019", "ytvos", ".", {"split": "valid", "all_frames": True}),
    ("FBMS-59 test (.dat, PGM/PPM)", "fbms59", "fbms59", ".", {"split": "test"}),
    ("FBMS-59 resized (RCF)", "fbms59", "fbms59-resized", "fbms59_resized", {}),
    ("SegTrackv2 (per-object folders)", "segtrackv2", "segtrackv2", ".", {}),
    ("OAST DAVIS-2016 val", "oast", "oast", "DAVIS-2016", {"split": "val"}),
    ("OAST FBMS val (sparse labels)", "oast", "oast", "FBMS", {"split": "val"}),
    ("OAST Youtube-objects val (unlabelled)", "oast", "oast", "Youtube-objects", {"split": "val"}),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hatch run matrix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=6, help="synthetic videos (default 6)")
    parser.add_argument("--frames", type=int, default=24, help="frames per video (default 24)")
    parser.add_argument("--size", default="240x427", help="frame size HxW (default 240x427)")
    parser.add_argument("--seed", type=int, default=0, help="benchmark seed (default 0)")
    parser.add_argument("--cache", type=Path, default=Path(".vos-cache"),
                        help="where generated benchmarks are kept, one folder per configuration")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def parse_size(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like HxW (e.g. 240x427), got {text!r}")
    return height, width


def benchmark_folder(cache: Path, config: SynthConfig, count: int) -> Path:
    """Cache folder named by a hash of everything that determines the written files."""
    key = json.dumps({"config": asdict(config), "count": count, "formats": list(FORMATS),
                      "vos_common": vos_common_version}, sort_keys=True, default=str)
    return cache / "synth" / hashlib.sha256(key.encode()).hexdigest()[:16]


def ensure_benchmark(folder: Path, config: SynthConfig, count: int, force: bool, progress: bool) -> bool:
    """Write the benchmark into ``folder`` unless complete there; returns whether it was generated.

    Written into a temporary sibling folder and renamed at the end, so an interrupted run never
    leaves a half-written benchmark that looks complete.
    """
    if folder.is_dir() and (folder / "config.json").is_file() and not force:
        return False
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_benchmark(LazyVideos(config, count), format="all", out=tmp, progress=progress)
    (tmp / "config.json").write_text(json.dumps({"config": asdict(config), "count": count}, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return True


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    height, width = parse_size(parser, args.size)
    if args.sequences < 1 or args.frames < 1:
        parser.error("--sequences and --frames must be positive")
    try:
        config = SynthConfig(height=height, width=width, frames=args.frames, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))
    folder = benchmark_folder(args.cache, config, args.sequences)
    start = time.perf_counter()
    generated = ensure_benchmark(folder, config, args.sequences, args.force, not args.no_progress)
    elapsed = time.perf_counter() - start
    print(f"synthetic benchmark: {args.sequences} videos x {args.frames} frames of {height}x{width} (HxW), "
          f"seed {args.seed}: {'generated' if generated else 'cached'} in {elapsed:.1f} s at {folder}")

    header = ["dataset view (read back through vos_common.datasets)", "seqs", "frames", "annotated",
              "objects", "flow files", "read s"]
    rows = []
    for label, layout, kind, sub, options in DATASET_VIEWS:
        start = time.perf_counter()
        dataset = open_dataset(kind, folder / layout / sub, **options)
        summary = summarize(dataset, validate=True)
        rows.append([label, str(summary.sequences), str(summary.frames), str(summary.annotated_frames),
                     str(summary.objects), str(summary.flow_files), f"{time.perf_counter() - start:.2f}"])
    for kind, layout in (("frames", "frames"), ("video", "video")):
        start = time.perf_counter()
        totals = [0, 0, 0, 0]
        for seq_folder in sorted(p for p in (folder / layout).iterdir() if p.is_dir()):
            root = seq_folder / "frames" if kind == "frames" else seq_folder / f"{seq_folder.name}.mp4"
            summary = summarize(open_dataset(kind, root, first_mask=seq_folder / "00000.png"), validate=True)
            for i, value in enumerate((summary.sequences, summary.frames, summary.annotated_frames,
                                       summary.objects)):
                totals[i] += value
        label = "plain frame folders + first mask" if kind == "frames" else "video files (mp4) + first mask"
        rows.append([label, *map(str, totals), "0", f"{time.perf_counter() - start:.2f}"])
    print(format_table(rows, header))
    print(f"{len(rows)} dataset views read and validated; every mask decoded against its frame's size.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
