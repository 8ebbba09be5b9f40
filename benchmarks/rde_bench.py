"""RDE-VOS inference benchmark: throughput and peak memory vs video length, ours next to the
original implementation's procedure, for ``two-frames-compress`` and ``stm`` in one run.

    python benchmarks/rde_bench.py                   # 480p (480x854), 2 objects, 30/100/300 frames
    python benchmarks/rde_bench.py --lengths 10 30    # the same at full size, shorter (≈ 15 min)
    python benchmarks/rde_bench.py --lengths 30 100 300 --width-div 8 --threads 2

Input: a synthetic 480p clip with 2 objects (``vos_common.synth``; its first 30 frames played
back and forth to reach longer lengths). Weights: the parity weights of ``shared/parity/rde``
(the released architecture filled deterministically; real checkpoints cannot be downloaded
here), or ``--width-div N`` for a narrower network with the same code paths.

Every (implementation, mode, length) runs in its own subprocess so that its peak resident
memory (``ru_maxrss``) is its own. Reported per run: frames/s over propagation + unpad + resize
+ argmax (the original's FPS definition, frames already decoded), peak RSS, and the memory
bank's size at the end.

* **ours** = ``rde.inference.InferenceCore``: one frame at a time (nothing per frame is kept),
  encoders with BatchNorm folded into their convolutions, 2-D convolutions channels-last,
  per-frame features shared by the objects inside the value encoder and decoder, top-k
  readout that gathers only the k selected entries.
* **original** = the original ``inference_core.py`` / ``inference_memory_bank.py`` procedure
  re-created with the same network modules: every frame loaded and padded up front, a
  (K+1)×T×1×H×W probability buffer, the frame and its f16 repeated per object for the value
  encoder, the 1024-channel decoder input built per object, the top-k affinity scattered into a
  dense memory×query matrix and multiplied with the values; unpad/resize/argmax after the
  propagation.

Identical output: the label maps of the two implementations are compared frame by frame
(share of differing pixels; the near-tie rule of the parity fixtures allows ≤ 0.2 %).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def load_average() -> str:
    """The 1/5/15-minute load averages (other processes compete for the cores)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_clip(length: int, height: int, width: int, seed: int = 0):
    from vos_common.synth import SynthConfig, generate_video

    cfg = SynthConfig(height=height, width=width, frames=min(30, length), num_objects=(2, 2),
                      late_objects=0, seed=seed)
    video = generate_video(cfg, 0)
    order = list(range(cfg.frames))
    cycle = order + order[-2:0:-1] if cfg.frames > 1 else order
    indices = [cycle[i % len(cycle)] for i in range(length)]
    return video.frames, video.masks, indices


def build_net(width_div: int):

    from rde.model.network import RDEVOS, ModelSpec
    from rde.parity import parity_weights, tiny_random_network

    if width_div == 1:
        net = RDEVOS(ModelSpec(1)).eval()
        net.load_state_dict(parity_weights(), strict=True)
        return net
    return tiny_random_network(0, width_div)


def normalise(rgb):
    from rde.evaluation import normalise_frame

    return normalise_frame(rgb)


def run_ours(net, frames, masks, indices, mode, mem_every, top_k, keep):
    import torch
    from rde.evaluation import labels_at
    from rde.inference.core import InferenceCore

    ids = [1, 2]
    annotation = {i: torch.from_numpy((masks[0] == i).astype(np.float32)) for i in ids}
    core = InferenceCore(net, 2, mode, mem_every, top_k)
    size = frames.shape[1:3]
    labels, elapsed = [], 0.0
    for t, index in enumerate(indices):
        frame = normalise(frames[index])
        start = time.perf_counter()
        prob = core.step(frame, annotation if t == 0 else None, last=t == len(indices) - 1)
        out = labels_at(prob, core, size)
        elapsed += time.perf_counter() - start
        if t < keep:
            labels.append(out)
    return labels, elapsed, core.memory_bytes()


def run_original(net, frames, masks, indices, mode, mem_every, top_k, keep):
    """The original driver's procedure (module doc) on the same network modules."""
    import torch
    import torch.nn.functional as F
    from rde.inference.memory import MemoryBank
    from rde.model.network import others_of
    from vos_common.stm import pad_divide_by, soft_aggregate, unpad

    k = 2
    images = torch.stack([normalise(frames[i]) for i in indices])[None]  # 1, T, 3, H, W
    start = time.perf_counter()
    t_total = images.shape[1]
    images, pad = pad_divide_by(images, 16)
    nh, nw = images.shape[-2:]
    prob = torch.zeros((k + 1, t_total, 1, nh, nw), dtype=torch.float32)
    prob[0] = 1e-7
    bank = MemoryBank(net.mem_compress, k, top_k, mode, readout="dense")

    def encode_value(frame, f16, m):
        frame_k = frame.repeat(k, 1, 1, 1)
        f16_k = f16.repeat(k, 1, 1, 1)
        return net.value_encoder(frame_k, f16_k, m, others_of(m)).unsqueeze(2)

    onehot = torch.stack([torch.from_numpy((masks[0] == i).astype(np.float32)) for i in (1, 2)])
    onehot, _ = pad_divide_by(onehot[:, None], 16)
    prob[:, 0] = soft_aggregate(onehot, keep_bg=True)
    k16, _, f16, _, _ = net.encode_key(images[:, 0])
    bank.add(k16.unsqueeze(2), encode_value(images[:, 0], f16, prob[1:, 0]))
    for ti in range(1, t_total):
        k16, qv16, qf16, qf8, qf4 = net.encode_key(images[:, ti])
        readout = bank.read(k16)
        x16 = torch.cat([readout, qv16.expand(k, -1, -1, -1)], 1)
        out = soft_aggregate(torch.sigmoid(net.decoder(x16, qf8, qf4)), keep_bg=True)
        prob[:, ti] = out
        if ti != t_total - 1 and ti % mem_every == 0:
            bank.add(k16.unsqueeze(2), encode_value(images[:, ti], qf16, out[1:]))
    size = frames.shape[1:3]
    out_masks = torch.zeros((t_total, 1, *size), dtype=torch.uint8)
    for ti in range(t_total):
        p = F.interpolate(unpad(prob[:, ti], pad), size, mode="bilinear", align_corners=False)
        out_masks[ti] = torch.argmax(p, dim=0)
    elapsed = time.perf_counter() - start
    labels = [out_masks[t, 0].numpy() for t in range(min(keep, t_total))]
    return labels, elapsed, bank.nbytes()


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    net = build_net(args.width_div)
    frames, masks, indices = make_clip(args.length, args.height, args.width)
    runner = run_ours if args.impl == "ours" else run_original
    labels, elapsed, bank = runner(net, frames, masks, indices, args.mode, args.mem_every,
                                   args.top, args.keep)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.savez_compressed(args.labels, *labels)
    print(json.dumps({"fps": args.length / elapsed, "seconds": elapsed, "peak_rss": peak,
                      "bank_bytes": bank}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--lengths", type=int, nargs="+", default=[30, 100, 300])
    parser.add_argument("--modes", nargs="+", default=["two-frames-compress", "stm"])
    parser.add_argument("--impls", nargs="+", default=["ours", "original"])
    parser.add_argument("--width-div", type=int, default=1,
                        help="1 = the released network (parity weights); 8 = the smoke width")
    parser.add_argument("--mem-every", dest="mem_every", type=int, default=3)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=int, default=30, help="frames whose labels are compared")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--labels", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"RDE-VOS inference, {args.height}x{args.width}, 2 objects, width 1/{args.width_div}, "
          f"mem_every {args.mem_every}, top-k {args.top}, {args.threads} threads, CPU "
          f"({os.cpu_count()} cores); load average at start {load_average()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            for length in args.lengths:
                for impl in args.impls:
                    labels = Path(tmp) / f"{impl}_{mode}_{length}.npz"
                    cmd = [sys.executable, __file__, "--child", "--impl", impl, "--mode", mode,
                           "--length", str(length), "--labels", str(labels),
                           "--height", str(args.height), "--width", str(args.width),
                           "--width-div", str(args.width_div), "--mem-every", str(args.mem_every),
                           "--top", str(args.top), "--threads", str(args.threads),
                           "--keep", str(args.keep)]
                    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if done.returncode != 0:
                        sys.exit(f"{impl} {mode} {length}: failed\n{done.stderr[-2000:]}")
                    results[(impl, mode, length)] = json.loads(done.stdout.strip().splitlines()[-1])
                    results[(impl, mode, length)]["labels"] = labels
                    r = results[(impl, mode, length)]
                    print(f"  ran {impl:8s} {mode:20s} {length:4d} frames: {r['fps']:.3f} fps",
                          flush=True)
                if {"ours", "original"} <= set(args.impls):
                    a = np.load(results[("ours", mode, length)]["labels"])
                    b = np.load(results[("original", mode, length)]["labels"])
                    diff = [float((a[f] != b[f]).mean()) for f in a.files]
                    results[("ours", mode, length)]["differs"] = max(diff)
        print(f"\nload average at the end {load_average()}")
        print(f"{'mode':20s} {'frames':>6s} | {'ours fps':>9s} {'orig fps':>9s} {'speed-up':>8s} | "
              f"{'ours peak':>10s} {'orig peak':>10s} | {'ours bank':>10s} {'orig bank':>10s} | "
              f"{'labels differ':>13s}")
        for mode in args.modes:
            for length in args.lengths:
                o = results.get(("ours", mode, length), {})
                r = results.get(("original", mode, length), {})

                def mib(x):
                    return f"{x / 2**20:8.1f}Mi" if x else f"{'-':>10s}"

                speed = (f"{o['fps'] / r['fps']:7.2f}x" if o and r else f"{'-':>8s}")
                differ = f"{100 * o['differs']:12.3f}%" if "differs" in o else f"{'-':>13s}"
                print(f"{mode:20s} {length:6d} | {o.get('fps', 0):9.3f} {r.get('fps', 0):9.3f} "
                      f"{speed} | {mib(o.get('peak_rss'))} {mib(r.get('peak_rss'))} | "
                      f"{mib(o.get('bank_bytes'))} {mib(r.get('bank_bytes'))} | {differ}")


if __name__ == "__main__":
    main()
