"""Dense CRF at 480p, side by side: pydensecrf (1 and N processes) and the PyTorch CRF.

Every implementation refines the same synthetic 854x480 frames with RCF's CRF (bilateral only,
sxy 60, srgb 5, compat 5, 50 mean-field iterations). The unary is a degraded copy of the
ground-truth foreground (``vos_common.crf.noisy_probabilities``: smoothed one-hot logits plus
per-pixel and blob noise). Printed: frames/s of each implementation, the agreement of their
label maps (mIoU over background and foreground), and each one's IoU with the ground truth.

The exact PyTorch CRF needs the dense N x N kernel (N = 409,920 pixels at 854x480), which is
infeasible, so it is measured on a small reference size (480p / 8 by default) together with the
other two, which shows how close each approximation is to the exact mean-field result.

    python benchmarks/crf_bench.py [--frames 6] [--workers 2] [--small-frames 12] [--figure PNG]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch
from vos_common.crf import RCF_CRF, CRFParams, dense_crf_frames, noisy_probabilities
from vos_common.crf.torch_crf import torch_dense_crf_labels
from vos_common.io import resize_frame, resize_mask, write_frame
from vos_common.synth import SynthConfig, generate_video
from vos_common.viz import contact_sheet, overlay_mask

Case = tuple[np.ndarray, np.ndarray, np.ndarray]  # image, binary truth, probabilities (2, H, W)


def make_cases(height: int, width: int, count: int, seed: int) -> list[Case]:
    """``count`` frames from ``ceil(count / 3)`` synthetic videos, with their noisy unaries."""
    per_video = 3
    config = SynthConfig(height=height, width=width, frames=per_video, seed=seed)
    cases: list[Case] = []
    index = 0
    while len(cases) < count:
        video = generate_video(config, index)
        for t in range(per_video):
            truth = (video.masks[t] > 0).astype(np.uint8)
            probabilities = noisy_probabilities(
                truth, 2, blob_sigma=4.0 * height / 96, seed=1000 * index + t
            )
            cases.append((video.frames[t], truth, probabilities))
        index += 1
    return cases[:count]


def label_miou(a: np.ndarray, b: np.ndarray) -> float:
    labels = np.union1d(np.unique(a), np.unique(b))
    return float(
        np.mean([((a == k) & (b == k)).sum() / ((a == k) | (b == k)).sum() for k in labels])
    )


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(
    run: Callable[[], list[np.ndarray]], synchronize: bool = False
) -> tuple[list[np.ndarray], float, float]:
    """Labels, wall seconds and CPU seconds of one run (CPU time: least distorted by load)."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    labels = run()
    if synchronize:
        torch.cuda.synchronize()
    return labels, time.perf_counter() - start, cpu_seconds() - start_cpu


def torch_runner(cases: list[Case], params: CRFParams, method: str, device: str, batch: int):
    images = np.stack([image for image, _, _ in cases])
    probabilities = np.stack([p for _, _, p in cases])

    def run() -> list[np.ndarray]:
        labels = torch_dense_crf_labels(
            images, probabilities, params, method=method, device=device, frames_per_batch=batch
        )
        return [frame.to(torch.uint8).cpu().numpy() for frame in labels]

    return run


def run_suite(
    cases: list[Case],
    params: CRFParams,
    workers: int,
    torch_methods: list[tuple[str, str, int]],
    batch: int,
) -> dict[str, tuple[list[np.ndarray], float, float]]:
    """Labels and seconds per implementation; ``torch_methods``: (method, device, CPU threads)."""
    images = [image for image, _, _ in cases]
    probabilities = [p for _, _, p in cases]
    results = {
        "pydensecrf, 1 process": timed(
            lambda: dense_crf_frames(images, probabilities, params, workers=1, progress=False)
        )
    }
    if workers > 1:
        results[f"pydensecrf, {workers} processes"] = timed(
            lambda: dense_crf_frames(images, probabilities, params, workers=workers, progress=False)
        )
    default_threads = torch.get_num_threads()
    for method, device, threads in torch_methods:
        torch.set_num_threads(threads)
        try:
            run = torch_runner(cases, params, method, device, batch)
            torch_runner(
                cases[:1], params, method, device, 1
            )()  # warm-up (kernels, allocator), not timed
            where = (
                device if device == "cuda" else f"cpu, {threads} thread{'s' if threads > 1 else ''}"
            )
            results[f"torch {method}, {where}"] = timed(run, synchronize=device == "cuda")
        finally:
            torch.set_num_threads(default_threads)
    return results


def report(
    title: str, cases: list[Case], results: dict[str, tuple[list[np.ndarray], float, float]]
) -> None:
    truths = [truth for _, truth, _ in cases]
    unary = [p.argmax(0) for _, _, p in cases]
    reference = next(iter(results))
    print(f"\n{title}")
    print(
        f"{'implementation':<28} {'frames/s':>9} {'s/frame':>8} {'CPU s/frame':>11} "
        f"{'mIoU vs ' + reference:>32} {'IoU vs GT':>10}"
    )
    print(
        f"{'noisy unary (arg-max)':<28} {'':>9} {'':>8} {'':>11} {'':>32} "
        f"{np.mean([label_miou(u, t) for u, t in zip(unary, truths, strict=True)]):>10.4f}"
    )
    for name, (labels, seconds, cpu) in results.items():
        agreement = np.mean(
            [label_miou(a, b) for a, b in zip(labels, results[reference][0], strict=True)]
        )
        quality = np.mean([label_miou(a, t) for a, t in zip(labels, truths, strict=True)])
        print(
            f"{name:<28} {len(cases) / seconds:>9.3f} {seconds / len(cases):>8.3f} "
            f"{cpu / len(cases):>11.3f} "
            f"{agreement:>32.4f} {quality:>10.4f}"
        )


def pairwise(
    results: dict[str, tuple[list[np.ndarray], float, float]], first: str, second: str
) -> str:
    scores = [label_miou(a, b) for a, b in zip(results[first][0], results[second][0], strict=True)]
    return f"{first} vs {second}: mIoU mean {np.mean(scores):.4f}, min {np.min(scores):.4f}"


def write_figure(
    path: str, case: Case, results: dict[str, tuple[list[np.ndarray], float, float]], width: int
) -> None:
    image, truth, probabilities = case
    height = int(round(image.shape[0] * width / image.shape[1]))
    small = resize_frame(image, (height, width))
    panels = [
        small,
        overlay_mask(small, resize_mask(truth, (height, width)), contours=True),
        overlay_mask(small, resize_mask(probabilities.argmax(0).astype(np.uint8), (height, width))),
    ]
    labels = ["frame", "ground truth", "noisy unary (arg-max)"]
    shown = [name for name in results if "processes" not in name][:2]  # pydensecrf, first torch row
    for name in shown:
        panels.append(
            overlay_mask(small, resize_mask(results[name][0][0], (height, width)), contours=True)
        )
        labels.append(name.replace(", 1 process", ""))
    if len(shown) == 2:
        differ = (results[shown[0]][0][0] != results[shown[1]][0][0]).astype(np.float32)
        marked = (cv2.resize(differ, (width, height), interpolation=cv2.INTER_AREA) > 0).astype(
            np.uint8
        )
        marked = cv2.dilate(marked, np.ones((3, 3), np.uint8))  # visible at this scale
        panels.append(overlay_mask(small // 2, marked, alpha=1.0))
        labels.append("labels that differ")
    write_frame(path, contact_sheet(panels, labels, columns=3), quality=85)  # quality: JPEG only
    print(f"\nwrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=6, help="480p frames to refine (default 6)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="processes for the pooled pydensecrf run (default: CPU count)",
    )
    parser.add_argument("--batch", type=int, default=2, help="frames per torch batch (default 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads of the multi-threaded rows (default: torch's; 1 thread also runs)",
    )
    parser.add_argument(
        "--small-frames",
        type=int,
        default=12,
        help="frames for the exact reference at the small size (0 skips it; default 12)",
    )
    parser.add_argument(
        "--small-size", default="60x107", help="HxW of the exact reference (default 60x107)"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=RCF_CRF.iterations,
        help="mean-field iterations (default 50)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--figure", default=None, help="also write a picture (PNG or JPEG) of the 480p results"
    )
    args = parser.parse_args()
    if args.threads:  # the torch CPU rows run with 1 thread and with this many
        torch.set_num_threads(args.threads)
    params = RCF_CRF.with_iterations(args.iterations)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    threads = sorted({1, torch.get_num_threads()})
    torch_targets = [("cpu", n) for n in threads]
    if torch.cuda.is_available():
        torch_targets.append(("cuda", torch.get_num_threads()))
    print(f"RCF CRF: {params}")
    print(
        f"torch {torch.__version__}, CPU threads {threads}, devices: {', '.join(devices)}; "
        f"pydensecrf: 1 thread per process; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    cases = make_cases(480, 854, args.frames, args.seed)
    results = run_suite(
        cases, params, args.workers, [("grid", d, n) for d, n in torch_targets], args.batch
    )
    report(f"854x480, {len(cases)} frames", cases, results)
    for name in list(results)[1:]:
        if "processes" not in name:
            print(pairwise(results, "pydensecrf, 1 process", name))
    pixels = 480 * 854
    print(
        f"torch exact at 854x480: not run: N = {pixels:,} pixels, "
        f"the N x N kernel has {pixels**2:.2e} "
        f"entries ({4 * pixels**2 / 2**30:,.0f} GiB in float32) per frame and every mean-field "
        f"message touches all of them"
    )

    if args.small_frames > 0:
        small_h, small_w = (int(v) for v in args.small_size.lower().split("x"))
        small_params = params.scaled(small_h / 480)
        small_cases = make_cases(small_h, small_w, args.small_frames, args.seed)
        methods = [(method, d, n) for method in ("exact", "grid") for d, n in torch_targets]
        small = run_suite(small_cases, small_params, 1, methods, args.batch)
        report(
            f"exact reference at {small_w}x{small_h} "
            f"(sxy scaled to {small_params.bilateral_sxy:g}), "
            f"{len(small_cases)} frames",
            small_cases,
            small,
        )
        exact, grid = "torch exact, cpu, 1 thread", "torch grid, cpu, 1 thread"
        print(pairwise(small, exact, "pydensecrf, 1 process"))
        print(pairwise(small, exact, grid))
        print(pairwise(small, grid, "pydensecrf, 1 process"))

    if args.figure:
        write_figure(args.figure, cases[0], results, width=427)


if __name__ == "__main__":
    main()
