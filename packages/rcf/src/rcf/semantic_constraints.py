"""Semantic constraints: pseudo-labels for stage 2.2 (the original semantic_constraints.py).

    python -m rcf.semantic_constraints --pretrain_dir saved/saved_rcf_stage2.1 --object-channel C \\
        --dino-weights dino_deitsmall8_300ep_pretrain.pth

For every frame of every training sequence, with ``m`` = the EMA export of the object slot
(``<pretrain_dir>/saved_eval_export_trainval_ema/<C>/pred_seg_<seq>_<frame>_0000000.png``)
resized to the frame (Pillow default filter): ``a = CRF(frame, m)`` (scale 0.7);
``r`` = ``m`` refined by 10 Adam steps (lr 0.45) of soft NCut on DINO key features, upsampled;
``b = CRF(frame, r)`` (scale 0.5); pseudo-label = ``a * b`` (FBMS-59: ``a`` alone when the two
disagree on more than 10,000 pixels). Written as 0/255 grey PNGs to
``<export dir>_torchcrf_ncut_torchcrf/<C>/`` with the same names, which stage 2.2 reads via
``train_dataset_kwargs.pl_root``. The CRF runs with vos_common's torch CRF (GPU or CPU) by
default, or pydensecrf (``--crf-backend pydensecrf``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm
from vos_common.errors import VOSDataError
from vos_common.io import atomic_save

from rcf.config import CRFHeadConfig
from rcf.inference.crf import TrainingCRF, read_export_channel0
from rcf.inference.export import export_file_name
from rcf.tools import (
    DATASETS,
    PL_SUFFIX,
    add_vit_arguments,
    build_vit_from_args,
    read_image_float,
    run_cli,
    split_sequences,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.semantic_constraints",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pretrain_dir", required=True, help="the stage-2.1 run folder holding the EMA export"
    )
    parser.add_argument(
        "--object-channel", type=int, required=True, help="the object slot (from rcf.maa)"
    )
    parser.add_argument(
        "--num-channels", type=int, default=4, help="number of slots (4; 3 for FBMS-59)"
    )
    parser.add_argument(
        "--dataset", default="davis", choices=sorted(DATASETS), help="dataset (default davis)"
    )
    parser.add_argument(
        "--first-frames-only", action="store_true", help="only the first frame of each sequence"
    )
    parser.add_argument(
        "--data-path", default=None, help="dataset root (default: the dataset's data/ folder)"
    )
    parser.add_argument(
        "--split", default=None, help="split file of the sequences (default trainval.txt)"
    )
    parser.add_argument(
        "--export-dir-name",
        default=None,
        help="EMA export folder (default saved_eval_export_trainval_ema; "
        "SegTrackv2 saved_eval_export_ema)",
    )
    parser.add_argument(
        "--crf-backend",
        default="torch",
        choices=["torch", "pydensecrf"],
        help="dense CRF implementation (default torch: vos_common's, on GPU when present)",
    )
    parser.add_argument(
        "--crf-iterations", type=int, default=50, help="mean-field iterations (default 50)"
    )
    parser.add_argument(
        "--crf-sxy",
        type=float,
        default=60.0,
        help="bilateral spatial std in pixels (default 60 at 480p)",
    )
    parser.add_argument(
        "--ncut-steps", type=int, default=10, help="Adam steps of the NCut refinement (default 10)"
    )
    parser.add_argument(
        "--ncut-lr", type=float, default=0.45, help="NCut refinement learning rate (default 0.45)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing pseudo-labels")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_vit_arguments(parser)
    return parser


def pseudo_label(
    head,
    crf_first: TrainingCRF,
    crf_second: TrainingCRF,
    image: np.ndarray,
    mask: np.ndarray,
    umi_threshold: int | None,
    steps: int = 10,
    lr: float = 0.45,
) -> np.ndarray:
    """One frame's pseudo-label in {0, 1} ``(H, W)``; ``image`` float RGB, ``mask`` in [0, 1]."""
    device = head.device
    image_t = torch.as_tensor(image, device=device)
    image_u8 = (
        (image_t * 255.0).clamp(0.0, 255.0).to(torch.uint8)[None]
    )  # as the original's CRF head
    mask_t = torch.as_tensor(mask, device=device, dtype=torch.float32)[None]
    first = crf_first(image_u8, mask_t)[0]
    refined = head.refine(image, mask, steps=steps, learning_rate=lr, weight_decay=1e-6)
    second = crf_second(image_u8, refined[None].to(device))[0]
    if umi_threshold is not None:
        a, b = first.cpu().numpy() > 0.5, second.cpu().numpy() > 0.5
        if np.logical_xor(a, b).sum() > umi_threshold:
            return first.cpu().numpy().astype(np.float32)
    return (first * second).cpu().numpy().astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    from rcf.inference.ncut import KeyFeatureHead
    from rcf.runtime import default_device

    args = build_parser().parse_args(argv)
    info = DATASETS[args.dataset]
    if not 0 <= args.object_channel < args.num_channels:
        raise VOSDataError(
            None,
            f"--object-channel {args.object_channel} is out of range for "
            f"{args.num_channels} slots (0..{args.num_channels - 1})",
        )
    export_name = args.export_dir_name or info.sc_export_dir
    pred_dir = Path(args.pretrain_dir) / export_name / str(args.object_channel)
    if not pred_dir.is_dir():
        raise VOSDataError(
            pred_dir, "EMA export of the object slot does not exist (run the trainval EMA export)"
        )
    out_dir = Path(args.pretrain_dir) / (export_name + PL_SUFFIX) / str(args.object_channel)
    device = default_device(args.device)
    head = KeyFeatureHead(build_vit_from_args(args), device)
    base = CRFHeadConfig(
        sxy=args.crf_sxy, refine_iters=args.crf_iterations, backend=args.crf_backend
    )
    crf_first = TrainingCRF(base, scale=0.7)
    crf_second = TrainingCRF(base, scale=0.5)
    sequences = split_sequences(args.data_path or info.data_path, args.split or info.all_split)
    frames = [
        (seq, frame)
        for seq in sequences
        for frame in (seq.frame_paths[:1] if args.first_frames_only else seq.frame_paths)
    ]
    print(f"Dataset: {args.dataset}; {len(frames)} frames; pseudo-labels -> {out_dir}")
    written = 0
    for seq, frame in tqdm(
        frames, desc="semantic constraints", unit="frame", disable=args.no_progress
    ):
        name = export_file_name(seq.name, frame.stem, 0)
        target = out_dir / name
        if target.exists() and not args.overwrite:
            raise VOSDataError(target, "pseudo-label already exists (use --overwrite)")
        image = read_image_float(frame)
        mask = read_export_channel0(pred_dir / name, image.shape[:2]).astype(np.float32) / 255.0
        label = pseudo_label(
            head,
            crf_first,
            crf_second,
            image,
            mask,
            info.umi_threshold,
            args.ncut_steps,
            args.ncut_lr,
        )
        out = (label * 255.0).astype(np.uint8)
        atomic_save(target, lambda tmp, out=out: Image.fromarray(out, "L").save(tmp, format="PNG"))
        written += 1
    print(f"wrote {written} pseudo-labels to {out_dir}")
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(entry())
