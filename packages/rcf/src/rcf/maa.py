"""Motion-appearance alignment: choose the object slot without labels (the original maa.py).

    python -m rcf.maa --pretrain_dir saved/saved_rcf_stage1 --first-frames-only --step 43200 \\
        --dino-weights dino_deitsmall8_300ep_pretrain.pth

Every slot's exported mask
(``<pretrain_dir>/saved_eval_export/<slot>/pred_seg_<seq>_<frame>_<step>.png``)
is scored by ``-NCut`` on DINO ViT-S/8 key features of its frame; the slot with the highest mean
score is the object. The slot is printed (``object channel: N``), written to
``<pretrain_dir>/object_channel.txt`` (``--output``) with the per-slot scores in
``maa_scores.json`` beside it, and, as in the original, returned as the exit status
(``OBJECT_CHANNEL=$?``; ``--exit-zero`` returns 0). Errors exit with status 255, which no slot
index uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

from rcf.inference.crf import read_export_channel0
from rcf.inference.export import export_file_name
from rcf.tools import (
    DATASETS,
    add_vit_arguments,
    build_vit_from_args,
    read_image_float,
    run_cli,
    split_sequences,
)

ERROR_STATUS = 255


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.maa",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pretrain_dir", required=True, help="the run folder (checkpoints_dir) holding the export"
    )
    parser.add_argument(
        "--first-frames-only",
        action="store_true",
        help="score only the first (annotated, for FBMS) frame of each sequence (README usage)",
    )
    parser.add_argument(
        "--num-channels", type=int, default=4, help="number of slots (4; 3 for FBMS-59)"
    )
    parser.add_argument(
        "--object-channel",
        type=int,
        default=None,
        help="score only this slot (then nothing is returned as exit status)",
    )
    parser.add_argument(
        "--dataset", default="davis", choices=sorted(DATASETS), help="dataset (default davis)"
    )
    parser.add_argument(
        "--step",
        type=int,
        default=0,
        help="step in the export file names (43200 after DAVIS stage 1; 0 for --test exports)",
    )
    parser.add_argument(
        "--data-path", default=None, help="dataset root (default: the dataset's data/ folder)"
    )
    parser.add_argument(
        "--split",
        default=None,
        help="split file naming the scored sequences (default: val.txt; SegTrackv2 trainval.txt)",
    )
    parser.add_argument(
        "--export-dir-name", default="saved_eval_export", help="export folder inside --pretrain_dir"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="file receiving the object slot (default <pretrain_dir>/object_channel.txt)",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit with status 0 instead of the slot index"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_vit_arguments(parser)
    return parser


def score_slots(
    head,
    sequences,
    pred_dir: Path,
    channels: list[int],
    step: int,
    first_frames_only: bool,
    skip_without_gt: bool,
    progress: bool = True,
) -> dict[int, list[float]]:
    scores: dict[int, list[float]] = {}
    cache: dict = {}
    for channel in channels:
        values = []
        for seq in tqdm(sequences, desc=f"MAA slot {channel}", disable=not progress):
            for index, frame in enumerate(seq.frame_paths):
                if skip_without_gt and index not in seq.annotation_paths:
                    continue
                key = str(frame)
                if key not in cache:
                    image = read_image_float(frame)
                    cache[key] = (image, head.keys(image))
                image, (keys, grid) = cache[key]
                path = pred_dir / str(channel) / export_file_name(seq.name, frame.stem, step)
                mask = read_export_channel0(path, image.shape[:2]).astype(np.float32) / 255.0
                from rcf.inference.ncut import soft_ncut_value

                values.append(-float(soft_ncut_value(keys, head.mask_to_grid(mask, grid))))
                if first_frames_only:
                    break
        if not values:
            raise VOSDataError(pred_dir, "no frame to score")
        scores[channel] = values
    return scores


def main(argv: list[str] | None = None) -> int:
    from rcf.inference.ncut import KeyFeatureHead
    from rcf.runtime import default_device

    args = build_parser().parse_args(argv)
    info = DATASETS[args.dataset]
    if args.num_channels < 1:
        raise VOSDataError(None, "--num-channels must be at least 1")
    if args.object_channel is not None and not 0 <= args.object_channel < args.num_channels:
        raise VOSDataError(
            None,
            f"--object-channel {args.object_channel} is out of range for {args.num_channels} slots",
        )
    pretrain_dir = Path(args.pretrain_dir)
    pred_dir = pretrain_dir / args.export_dir_name
    if not pred_dir.is_dir():
        raise VOSDataError(
            pred_dir, "export folder does not exist (run the stage-1 test export first)"
        )
    print(f"Dataset: {args.dataset}; masks: {pred_dir} (step {args.step})")
    sequences = split_sequences(args.data_path or info.data_path, args.split or info.maa_split)
    channels = (
        [args.object_channel] if args.object_channel is not None else list(range(args.num_channels))
    )
    head = KeyFeatureHead(build_vit_from_args(args), default_device(args.device))
    scores = score_slots(
        head,
        sequences,
        pred_dir,
        channels,
        args.step,
        args.first_frames_only,
        info.skip_frames_without_gt,
        progress=not args.no_progress,
    )
    means = {c: float(np.mean(v)) for c, v in scores.items()}
    for channel, value in means.items():
        print(f"frame MAA with object channel {channel}: {value * 100:.2f}")
    best = max(means, key=lambda c: (means[c], -c))
    output = Path(args.output) if args.output else pretrain_dir / "object_channel.txt"
    atomic_write_text(output, f"{best}\n")
    atomic_write_text(
        output.with_name("maa_scores.json"),
        json.dumps(
            {
                "object_channel": best,
                "frame_maa": {str(c): v for c, v in means.items()},
                "frames": len(next(iter(scores.values()))),
                "step": args.step,
                "dataset": args.dataset,
                "first_frames_only": args.first_frames_only,
                "vit": "random (test only)" if args.random_vit else args.dino_weights,
            },
            indent=2,
        )
        + "\n",
    )
    print(f"object channel: {best}")
    print(f"written to {output}")
    if len(channels) > 1 and not args.exit_zero:
        return best
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv, ERROR_STATUS)


if __name__ == "__main__":
    sys.exit(entry())
