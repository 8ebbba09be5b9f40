"""RCF speed in one run, printed side by side:

1. training iterations/s (stage-1 step: forward, flow-reconstruction + entropy loss, backward,
   Adam) at the smoke config (0.9 M-parameter ResNet-18 layout, 64x64 crops, 2 pairs) and at the
   full DAVIS config (ResNet-50, 384x384 crops; ``--full-batch`` pairs, default 2 on a CPU);
2. export frames/s at 480p (854x480 frame -> 697x392 input -> 4 slots written as 8-bit PNGs);
3. CRF post-processing frames/s at 480p: pydensecrf (the original's CPU reference) vs the pure
   torch CRF of vos_common (grid approximation), same frames, same settings (50 iterations).

    python benchmarks/rcf_bench.py [--steps 3] [--frames 3] [--full-batch 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(function, repeats: int) -> float:
    """Seconds per call over ``repeats`` calls after one warm-up call."""
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def training_rate(config: str, batch: int, crop: int, steps: int, device: torch.device) -> float:
    from rcf.config import load_rcf_config
    from rcf.model.rcf_model import RCFModel

    cfg = load_rcf_config(config)
    torch.manual_seed(0)
    model = RCFModel(cfg.model_kwargs).to(device).train()
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4
    )
    imgs = torch.randn(batch, 2, 3, crop, crop, device=device)
    flows = torch.randn(batch, 1, 2, crop, crop, device=device) * 10

    def step():
        out = model.forward_train(imgs, flows, -flows)
        optimizer.zero_grad(set_to_none=True)
        out["losses"]["loss"].backward()
        optimizer.step()

    return 1.0 / timed(step, steps)


def frames_480p(count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from vos_common.synth import SynthConfig, generate_video

    video = generate_video(
        SynthConfig(height=480, width=854, frames=count, num_objects=1, seed=3), 0
    )
    masks = [((m > 0) * 200 + 20).astype(np.uint8) for m in video.masks]  # soft-ish exported masks
    return list(video.frames), masks


def export_rate(frames: list[np.ndarray], device: torch.device, out: Path) -> float:
    from rcf.config import load_rcf_config
    from rcf.data.transforms import eval_image
    from rcf.inference.export import quantise_probabilities, write_grey_rgb_png
    from rcf.model.rcf_model import RCFModel

    cfg = load_rcf_config("configs/rcf/rcf_eval.yaml")
    model = RCFModel(cfg.model_kwargs).to(device).eval()
    index = [0]

    def one():
        frame = frames[index[0] % len(frames)]
        index[0] += 1
        with torch.no_grad():
            q = quantise_probabilities(
                model.segment(eval_image(frame, cfg.test_transform_kwargs)[None].to(device))
            )
        q = q[0].cpu().numpy()
        for slot in range(q.shape[0]):
            write_grey_rgb_png(
                out / str(slot) / f"pred_seg_bench_{index[0]:05d}_0000000.png", q[slot]
            )

    return 1.0 / timed(one, len(frames))


def crf_rates(
    frames: list[np.ndarray], masks: list[np.ndarray], device: torch.device
) -> tuple[float, float]:
    from vos_common.crf.params import RCF_CRF
    from vos_common.crf.pydense import rcf_crf_mask
    from vos_common.crf.torch_crf import rcf_crf_target

    index = [0]

    def pydense():
        i = index[0] % len(frames)
        index[0] += 1
        rcf_crf_mask(np.array(frames[i]), masks[i], scale=0.8, params=RCF_CRF)

    def torch_crf():
        i = index[0] % len(frames)
        index[0] += 1
        image = torch.from_numpy(np.array(frames[i]))[None]
        probs = torch.from_numpy(masks[i].astype(np.float32) / 255.0)[
            None
        ]  # p * 255 / 0.8 == png / 0.8
        rcf_crf_target(
            image, probs.to(device), scale=0.8, params=RCF_CRF, method="grid", device=device
        )

    return 1.0 / timed(pydense, len(frames)), 1.0 / timed(torch_crf, len(frames))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=3, help="timed training steps per config (default 3)"
    )
    parser.add_argument(
        "--frames", type=int, default=3, help="timed 480p frames for export and CRF (default 3)"
    )
    parser.add_argument(
        "--full-batch", type=int, default=2, help="pairs per step at the full config (default 2)"
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(
        f"rcf benchmark on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}"
    )
    smoke = training_rate("configs/smoke/rcf_stage1.yaml", 2, 64, args.steps, device)
    full = training_rate(
        "configs/rcf/rcf_stage1.yaml", args.full_batch, 384, max(1, args.steps // 2), device
    )
    frames, masks = frames_480p(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        export = export_rate(frames, device, Path(tmp))
    pydense, torch_crf = crf_rates(frames, masks, device)
    rows = [
        (
            "training it/s, smoke config (R18-16, 64x64, 2 pairs)",
            f"{smoke:8.3f}",
            f"{smoke * 2:8.3f} pairs/s",
        ),
        (
            f"training it/s, full config (R50, 384x384, {args.full_batch} pairs)",
            f"{full:8.3f}",
            f"{full * args.full_batch:8.3f} pairs/s",
        ),
        ("export frames/s at 480p (R50 eval, 4 slot PNGs)", f"{export:8.3f}", ""),
        ("CRF post-processing frames/s, pydensecrf (CPU ref.)", f"{pydense:8.3f}", ""),
        (
            "CRF post-processing frames/s, torch CRF (grid)",
            f"{torch_crf:8.3f}",
            f"{torch_crf / pydense:8.2f}x pydensecrf",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'rate':>8}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
