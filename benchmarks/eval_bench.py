"""Throughput of vos_eval against vos-benchmark on a 480p synthetic DAVIS 2017 set, in one run.

    python benchmarks/eval_bench.py [--data DIR] [--videos 12] [--frames 40] [--workers N]

Generates (or reuses, with ``--data``) a synthetic DAVIS-2017 set with
``vos_common.synth`` at 854 x 480, writes imperfect predictions derived from the ground
truth (shifted, eroded / dilated, dropped and swapped objects), then times, on the same
input and the same official workload (semi-supervised object-frames, first and last frames
dropped):

* vos_eval with 1 worker and with N workers;
* vos-benchmark (PyPI, the official per-object J/F code) with 1 and N processes.

It prints object-frames per second, the ratios, and the largest difference between the
two tools' per-object J and F where their semantics agree. The official davis2017-evaluation
script is not installable; its cost is estimated from evaluation.md section 5, which measured
it at about 21 ms per object-frame where vos-benchmark took 12 to 14 ms (ratio 21/13).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

OFFICIAL_OVER_VOS_BENCHMARK = (
    21.0 / 13.0
)  # evaluation.md section 5: 21 ms vs 12-14 ms per object-frame


def make_dataset(out: Path, videos: int, frames: int, seed: int) -> None:
    from vos_common.synth import SynthConfig, generate_videos, write_benchmark

    config = SynthConfig(height=480, width=854, frames=frames, seed=seed, num_objects=(1, 4))
    write_benchmark(generate_videos(config, count=videos), format="davis2017", out=out)


def perturb(labels: np.ndarray, rng: np.random.Generator, n_objects: int) -> np.ndarray:
    """An imperfect prediction: each object shifted, eroded or dilated; some dropped or swapped."""
    out = np.zeros_like(labels)
    kernel = np.ones((5, 5), np.uint8)
    for object_id in range(1, n_objects + 1):
        mask = (labels == object_id).astype(np.uint8)
        if not mask.any() or rng.random() < 0.05:
            continue  # dropped object
        action = rng.integers(0, 3)
        if action == 0:
            mask = np.roll(mask, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), axis=(0, 1))
        elif action == 1:
            mask = cv2.erode(mask, kernel)
        else:
            mask = cv2.dilate(mask, kernel)
        target = object_id
        if n_objects > 1 and rng.random() < 0.03:
            target = int(rng.integers(1, n_objects + 1))  # swapped id
        out[mask > 0] = target
    return out


def write_predictions(root: Path, results: Path, subset: str, seed: int) -> None:
    from vos_common.io import read_label_map, write_label_map

    rng = np.random.default_rng(seed)
    names = (root / "ImageSets" / "2017" / f"{subset}.txt").read_text().split()
    for name in names:
        gt_dir = root / "Annotations" / "480p" / name
        paths = sorted(gt_dir.glob("*.png"))
        first = read_label_map(paths[0])
        n_objects = int(first[first != 255].max(initial=0))
        for path in paths:
            write_label_map(
                results / name / path.name, perturb(read_label_map(path), rng, n_objects)
            )


def time_vos_eval(root: Path, results: Path, subset: str, workers: int) -> tuple[float, object]:
    from vos_eval import evaluate_davis

    start = time.perf_counter()
    result = evaluate_davis(root, results, task="semi-supervised", subset=subset, workers=workers)
    return time.perf_counter() - start, result


def time_vos_benchmark(root: Path, results: Path, subset: str, workers: int) -> tuple[float, dict]:
    from vos_benchmark.benchmark import benchmark

    names = set((root / "ImageSets" / "2017" / f"{subset}.txt").read_text().split())
    with (
        tempfile.TemporaryDirectory() as scratch
    ):  # it wants exactly the evaluated videos, and writes a CSV
        gt_view, pred_view = Path(scratch) / "gt", Path(scratch) / "pred"
        gt_view.mkdir()
        pred_view.mkdir()
        for name in names:
            (gt_view / name).symlink_to((root / "Annotations" / "480p" / name).resolve())
            (pred_view / name).symlink_to((results / name).resolve())
        start = time.perf_counter()
        _, _, _, per_object = benchmark(
            [str(gt_view)], [str(pred_view)], num_processes=workers, verbose=False
        )
        elapsed = time.perf_counter() - start
    return elapsed, per_object[0]


def agreeing_difference(root: Path, result, per_object: dict) -> tuple[float, int]:
    """Largest |J| / |F| gap (x100) over objects both tools score on the same frames.

    vos-benchmark starts an object's frame list where the id is first seen, so only objects
    present in the ground truth of the first scored frame are comparable.
    """
    from vos_common.io import read_label_map

    worst, compared = 0.0, 0
    present: dict[str, set[int]] = {}
    for obj in result.objects:
        if obj.sequence not in present:
            first_scored = root / "Annotations" / "480p" / obj.sequence / f"{obj.frames[0]}.png"
            present[obj.sequence] = set(np.unique(read_label_map(first_scored)).tolist())
        iou, boundary = per_object.get(obj.sequence, ({}, {}))
        if obj.object_id not in iou or obj.object_id not in present[obj.sequence]:
            continue
        worst = max(
            worst,
            abs(obj.j_stats.mean * 100 - iou[obj.object_id]),
            abs(obj.f_stats.mean * 100 - boundary[obj.object_id]),
        )
        compared += 1
    return worst, compared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="existing synthetic DAVIS-2017 root (default: generate into a temp dir)"
    )
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--set", default="all", help="image set to score (default: all generated sequences)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="eval_bench_"))
    try:
        root = Path(args.data) if args.data else scratch / "davis"
        if not args.data:
            print(
                f"generating {args.videos} videos x {args.frames} frames at 854x480 ...", flush=True
            )
            make_dataset(root, args.videos, args.frames, args.seed)
        subset = args.set
        if subset == "all":  # every generated sequence, whatever the train / val split
            names = sorted(p.name for p in (root / "Annotations" / "480p").iterdir() if p.is_dir())
            (root / "ImageSets" / "2017" / "all.txt").write_text("\n".join(names) + "\n")
        results = scratch / "results"
        write_predictions(root, results, subset, args.seed)

        time_vos_eval(root, results, subset, 1)  # warm-up: imports, file cache
        rows = []
        elapsed, result = time_vos_eval(root, results, subset, 1)
        work = result.settings["object_frames"]
        rows.append(("vos_eval", 1, elapsed))
        elapsed, _ = time_vos_eval(root, results, subset, args.workers)
        rows.append(("vos_eval", args.workers, elapsed))
        vb_elapsed, per_object = time_vos_benchmark(root, results, subset, 1)
        rows.append(("vos-benchmark", 1, vb_elapsed))
        elapsed, _ = time_vos_benchmark(root, results, subset, args.workers)
        rows.append(("vos-benchmark", args.workers, elapsed))
        worst, compared = agreeing_difference(root, result, per_object)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch}")

    rate = {(tool, n): work / seconds for tool, n, seconds in rows}
    print(
        f"\nworkload: {len(result.settings['sequences'])} sequences, {work} object-frames "
        f"(DAVIS 2017 semi-supervised, 854x480), {os.cpu_count()} CPUs"
    )
    print(f"{'tool':<15}{'workers':>8}{'seconds':>10}{'obj-frames/s':>14}{'ms/obj-frame':>14}")
    for tool, n, seconds in rows:
        print(
            f"{tool:<15}{n:>8}{seconds:>10.2f}{work / seconds:>14.1f}{1000 * seconds / work:>14.2f}"
        )
    single = rate[("vos_eval", 1)] / rate[("vos-benchmark", 1)]
    print(f"\nratio vos_eval / vos-benchmark, 1 worker:   {single:6.1f}x")
    print(
        f"ratio vos_eval / vos-benchmark, {args.workers} workers:  "
        f"{rate[('vos_eval', args.workers)] / rate[('vos-benchmark', args.workers)]:6.1f}x"
    )
    official_ms = 1000 * vb_elapsed / work * OFFICIAL_OVER_VOS_BENCHMARK
    versus_official = single * OFFICIAL_OVER_VOS_BENCHMARK
    print(
        f"ratio vos_eval (1 worker) / official tool:   {versus_official:6.1f}x "
        f"(official estimated at {official_ms:.1f} ms/object-frame here = vos-benchmark x 21/13, "
        f"evaluation.md 5; {21.0 * rate[('vos_eval', 1)] / 1000:.1f}x against the spec's 21 ms)"
    )
    print(
        f"per-object J/F agreement with vos-benchmark: max |difference| = {worst:.2e} (x100 scale) "
        f"over {compared} objects"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
