"""OAST on the CPU: test-time frames/s and phase-C seconds per iteration, xxs and s side by side.

1. test time: ``oast.test``'s forward (eval mode, no grad) on one frame + flow picture at
   384×640, frames/s;
2. phase C: one ``oast.engine.phase_c_iteration`` (four teacher views, student forward and
   backward, D_C, both AdamW steps, the EMA update) with batch 2 at 384×640, seconds per
   iteration averaged over the rescale rates {0.5, 0.75, 1.25, 1.5} (uniform in training);
3. single-thread CPU seconds at the spec's smoke sizes next to the reference costs the spec
   measured on the original code (§8.2): one eval forward and one phase-A step (batch 2,
   labeled + unlabeled forward, both backwards).

Weights are random (speed does not depend on them). Run:

    python benchmarks/oast_bench.py [--size 384 640] [--repeats 3] [--phase-c-iters 4]
                                    [--threads N] [--scales xxs s] [--skip-smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from oast.engine import RATES, phase_ab_iteration, phase_c_iteration
from oast.model.discriminator import DiscriminatorFinetuning, DiscriminatorTrain
from oast.model.network import MobileViTVOS
from vos_common.training.ema import ModelEMA

# spec §8.2, single thread CPU seconds of the original code (xxs, fp32)
REFERENCE = {("eval", 64): 0.16, ("eval", 128): 0.56, ("train", 64): 1.1, ("train", 128): 2.9}


def inputs(batch: int, height: int, width: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(batch, 3, height, width, generator=g),
        "flow": torch.rand(batch, 3, height, width, generator=g),
        "image_c": torch.randn(batch, 3, height, width, generator=g),
        "mask": (torch.rand(batch, 1, height, width, generator=g) > 0.7).float(),
    }


def test_fps(scale: str, size: tuple[int, int], repeats: int) -> float:
    torch.manual_seed(0)
    net = MobileViTVOS(scale).eval()
    x = inputs(1, *size)
    times = []
    with torch.no_grad():
        net(x["image"], x["flow"])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            net(x["image"], x["flow"])
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def phase_c_seconds(scale: str, size: tuple[int, int], iters: int) -> float:
    torch.manual_seed(0)
    student = MobileViTVOS(scale).eval()
    teacher = ModelEMA(student, 0.9996, buffers="keep")
    disc = DiscriminatorFinetuning().train()
    opt_g = torch.optim.AdamW(student.parameters(), lr=1e-5, weight_decay=1e-2)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-5, weight_decay=1e-2)
    batch = inputs(2, *size)
    times = []
    rates = [RATES[0]] + [RATES[i % len(RATES)] for i in range(iters)]
    for i, rate in enumerate(rates):  # the first iteration (rate 0.5) is a warm-up
        start = time.perf_counter()
        phase_c_iteration(
            student,
            teacher.module,
            disc,
            batch,
            rate,
            opt_g=opt_g,
            opt_d=opt_d,
            ema_update=lambda: teacher.update(student),
        )
        if i:
            times.append(time.perf_counter() - start)
    return statistics.mean(times)


def smoke_seconds(kind: str, side: int, repeats: int) -> float:
    """Single-thread CPU seconds (process time) of an eval forward / phase-A step, xxs."""
    torch.manual_seed(0)
    net = MobileViTVOS("xxs")
    x, u = inputs(2, side, side), inputs(2, side, side)
    times = []
    for i in range(repeats + 1):
        start = time.process_time()
        if kind == "eval":
            net.eval()
            with torch.no_grad():
                net(x["image"][:1], x["flow"][:1])
        else:
            net.train()
            phase_ab_iteration(net, DiscriminatorTrain().train(), x, u)
            net.zero_grad(set_to_none=True)
        if i:
            times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=[384, 640], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=3, help="timed test-time forwards")
    parser.add_argument(
        "--phase-c-iters",
        type=int,
        default=4,
        help="timed phase-C iterations, cycling through the four rates (default 4: one each)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--scales", nargs="+", default=["xxs", "s"], choices=["xxs", "xs", "s"])
    parser.add_argument("--skip-smoke", action="store_true", help="skip the single-thread rows")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = tuple(args.size)
    print(
        f"OAST CPU benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"input {size[0]}x{size[1]}, random weights"
    )
    fps, sec = {}, {}
    for s in args.scales:
        fps[s] = test_fps(s, size, args.repeats)
        print(f"  measured {s} test time: {fps[s]:.2f} frames/s", file=sys.stderr, flush=True)
    for s in args.scales:
        sec[s] = phase_c_seconds(s, size, args.phase_c_iters)
        print(f"  measured {s} phase C: {sec[s]:.2f} s/iteration", file=sys.stderr, flush=True)
    width = 12
    print(f"\n{'':34}" + "".join(f"{s:>{width}}" for s in args.scales))
    print(
        f"{'test time, frames/s (batch 1)':34}"
        + "".join(f"{fps[s]:>{width}.2f}" for s in args.scales)
    )
    print(f"{'test time, s/frame':34}" + "".join(f"{1 / fps[s]:>{width}.3f}" for s in args.scales))
    print(
        f"{'phase C, s/iteration (batch 2)':34}"
        + "".join(f"{sec[s]:>{width}.2f}" for s in args.scales)
    )
    if args.skip_smoke:
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    print("\nsingle thread, CPU seconds, xxs     this package   original (spec §8.2)")
    for kind, label in (("eval", "eval forward, batch 1"), ("train", "phase-A step, batch 2")):
        for side in (64, 128):
            ours = smoke_seconds(kind, side, 2)
            print(f"  {label + f' {side}x{side}':34}{ours:>10.2f}{REFERENCE[(kind, side)]:>16.2f}")
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
