"""MiVOS propagation on CPU: frames/s and peak memory, original procedure vs this package.

    python benchmarks/mivos_bench.py [--frames 60] [--size 480x854] [--objects 2] [--max-memory-frames 6]

One synthetic 480p video with 2 objects (``vos_common.synth``) is propagated from its frame-0
mask by the released-size network (ResNet-50, 53.7 M parameters; deterministic weights from
the parity rule when ``shared/`` is present, else seeded random ones), three times, each in
its own process so that peak memory is that configuration's:

* ``original``: the original implementation's procedure re-created
  (``mivos_prop.inference.reference``): the whole video normalised and padded up front, the
  probabilities of every frame kept in one ``(K+1, T, 1, H, W)`` tensor, memory concatenated
  without bound, the dense top-k readout (top-k along the memory axis, scatter into a zeroed
  ``(T*h*w, h*w)`` matrix, dense product), and unpad / resize / argmax after propagation;
* ``ours``: ``mivos_prop.InferenceCore`` with the same (original) memory schedule: frames
  streamed one at a time, sparse top-k readout, labels produced frame by frame;
* ``ours --max-memory-frames N``: the same with the FIFO memory bound.

Timing follows the original FPS protocol (frames already decoded; propagation + unpad +
resize + argmax timed). Peak memory is the largest resident set size of the process while it
propagates (sampled every 10 ms; it includes the ~215 MB of weights and the Python/torch
runtime, and for ``original`` the whole padded video), and the memory bank size after frame 1
and at the end. The
outputs of ``ours`` are compared with ``original``: largest probability difference and share
of label pixels that differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_network(seed: int, fast: bool):
    import torch
    from mivos_prop.model import PropagationNetwork

    with torch.device("meta"):
        net = PropagationNetwork(top_k=50, fast_readout=fast)
    net = net.to_empty(device="cpu")
    try:
        from vos_common.parity import parity_dir, parity_state_dict

        state = parity_state_dict(parity_dir("mivos_prop") / "keys_eval.json")
        source = "parity rule (shared/parity/weights.py)"
    except Exception:  # shared/ absent: seeded random weights of the right shapes
        torch.manual_seed(seed)
        with torch.device("cpu"):
            state = PropagationNetwork(top_k=50).state_dict()
        source = f"torch seed {seed}"
    net.load_state_dict(state)
    return net.eval(), source


def make_video(frames: int, size: tuple[int, int], objects: int, seed: int):
    from vos_common.synth import SynthConfig, generate_video

    cfg = SynthConfig(
        height=size[0], width=size[1], frames=frames, num_objects=objects, late_objects=0, seed=seed
    )
    return generate_video(cfg, 0)


class PeakRSS:
    """Largest resident set size while the block runs (sampled from /proc every 10 ms)."""

    def __init__(self):
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(0.01)

    def __enter__(self):
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def child(config: str, args: dict, out: str) -> None:
    import torch
    from mivos_prop.inference import InferenceCore, normalise_frame, probabilities_to_labels
    from mivos_prop.inference.reference import reference_propagate

    torch.set_num_threads(args["threads"])
    torch.set_grad_enabled(False)
    video = make_video(args["frames"], tuple(args["size"]), args["objects"], args["seed"])
    first = video.masks[0]
    ids = sorted(int(i) for i in np.unique(first) if i)
    net, source = build_network(args["seed"], fast=config != "original")
    import gc

    gc.collect()
    bank_bytes = []
    rss = PeakRSS().__enter__()
    rss_before = rss.current()
    start = time.perf_counter()
    if config == "original":
        frames = torch.stack([normalise_frame(f) for f in video.frames])
        prob = reference_propagate(net, frames, {0: torch.from_numpy(first)}, ids, mem_every=5)
        labels = np.stack(
            [probabilities_to_labels(prob[:, t], first.shape) for t in range(len(frames))]
        )
        objects = prob[1:, 1:].numpy()
    else:
        limit = args["max_memory_frames"] if config == "bounded" else None
        core = InferenceCore(net, object_ids=ids, mem_every=5, max_memory_frames=limit)
        labels, objects = [], []
        for t, frame in enumerate(video.frames):
            p = core.step(normalise_frame(frame), first if t == 0 else None)
            labels.append(probabilities_to_labels(p, first.shape))
            if t:
                objects.append(p[1:].numpy())
            bank_bytes.append(core.memory.nbytes())
        labels, objects = np.stack(labels), np.stack(objects, 1)
    seconds = time.perf_counter() - start
    rss.__exit__(None, None, None)
    np.savez_compressed(out, labels=labels, objects=objects.astype(np.float32))
    info = {
        "seconds": seconds,
        "frames": len(video.frames),
        "peak_rss_mb": rss.peak / 2**20,
        "rss_before_mb": rss_before / 2**20,
        "weights": source,
        "bank_mb_first_last": [bank_bytes[1] / 2**20, bank_bytes[-1] / 2**20]
        if bank_bytes
        else None,
        "bank_mb_max": max(bank_bytes) / 2**20 if bank_bytes else None,
    }
    Path(out).with_suffix(".json").write_text(json.dumps(info))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="video length (default 60)")
    parser.add_argument("--size", default="480x854", help="HxW (default 480x854)")
    parser.add_argument("--objects", type=int, default=2, help="objects (default 2)")
    parser.add_argument(
        "--max-memory-frames",
        type=int,
        default=6,
        help="memory bound of the third run (default 6 permanent frames)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch_threads_default(),
        help="torch CPU threads per run (default: torch's default)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["original", "ours", "bounded"],
        choices=["original", "ours", "bounded"],
    )
    args = parser.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    shared = {
        "frames": args.frames,
        "size": [h, w],
        "objects": args.objects,
        "seed": args.seed,
        "threads": args.threads,
        "max_memory_frames": args.max_memory_frames,
    }
    print(
        f"MiVOS propagation, {args.frames} frames {h}x{w}, {args.objects} objects, top-k 50, "
        f"mem every 5, {args.threads} thread(s), load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = {}
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            out = os.path.join(tmp, f"{config}.npz")
            proc = ctx.Process(target=child, args=(config, shared, out))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                print(f"{config}: failed with exit code {proc.exitcode}")
                return 1
            results[config] = (json.loads(Path(out).with_suffix(".json").read_text()), np.load(out))
            info = results[config][0]
            print(
                f"  {config:8s} done: {info['frames'] / info['seconds']:.3f} frames/s, "
                f"peak RSS {info['peak_rss_mb']:.0f} MB (network loaded: "
                f"{info['rss_before_mb']:.0f} MB)",
                flush=True,
            )
        names = {
            "original": "original procedure",
            "ours": "mivos_prop (original schedule)",
            "bounded": f"mivos_prop --max-memory-frames {args.max_memory_frames}",
        }
        print(
            f"\n{'configuration':44s} {'frames/s':>9s} {'speed-up':>9s} {'peak RSS MB':>12s} "
            f"{'memory bank MB (frame 1 -> last)':>34s} {'max|dprob|':>11s} {'labels differ':>14s}"
        )
        base = results.get("original")
        for config, (info, arrays) in results.items():
            fps = info["frames"] / info["seconds"]
            speed = "" if base is None else f"{fps / (base[0]['frames'] / base[0]['seconds']):.2f}x"
            bank = (
                ""
                if info["bank_mb_first_last"] is None
                else f"{info['bank_mb_first_last'][0]:.1f} -> {info['bank_mb_first_last'][1]:.1f}"
            )
            if base is None or config == "original":
                diff = differ = ""
            else:
                diff = f"{np.abs(arrays['objects'] - base[1]['objects']).max():.2e}"
                differ = f"{(arrays['labels'] != base[1]['labels']).mean() * 100:.3f} %"
            print(
                f"{names[config]:44s} {fps:9.3f} {speed:>9s} {info['peak_rss_mb']:12.0f} "
                f"{bank:>34s} {diff:>11s} {differ:>14s}"
            )
        print(
            f"weights: {results[next(iter(results))][0]['weights']}; load average now "
            f"{os.getloadavg()[0]:.1f}"
        )
    return 0


def torch_threads_default() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
