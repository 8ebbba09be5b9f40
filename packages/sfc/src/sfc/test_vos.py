"""Label propagation on a filelist of videos: the original ``test_vos.py`` with the same flags.

    python -m sfc.test_vos --filelist davis_vallist.txt --fc-model fine-grained \\
        --semantic-model mocov1 --topk 15 --videoLen 20 --radius 15 --temperature 0.1 \\
        --cropSize -1 --lambd 1.75 --save-path results/ --checkpoint-dir checkpoints/

For filelist line ``i`` and frame ``t`` it writes ``<save-path>/<i>_<t>_mask.png`` (the class
colour of the annotation, stored with R and B swapped, as the original does) and
``<i>_<t>_blend.jpg``; ``python -m sfc.convert_davis`` turns the masks into DAVIS PNGs, or
``--davis-out DIR`` writes ``DIR/<sequence>/<t:05d>.png`` directly. Frames are streamed: memory
holds frame 0 and the last ``videoLen`` frames, not the whole video.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import atomic_write_text, read_frame, write_frame, write_label_map

from sfc.data.vos import (
    FilelistVideo,
    first_annotation,
    iter_unit_frames,
    read_filelist,
    unit_frame,
)
from sfc.inference.features import FeatureExtractor, normalize_unit_frames
from sfc.inference.labels import (
    SFC_PALETTE,
    class_colors,
    class_map,
    colors_to_ids,
    downsample_onehot,
    grid_size,
    onehot_from_colors,
    resize_ids,
)
from sfc.inference.propagation import PropagationConfig
from sfc.inference.video import build_extractor, propagate_soft
from sfc.model.checkpoints import ENCODERS, FC_MODEL_TYPES, SEMANTIC_MODEL_TYPES

PROG = "python -m sfc.test_vos"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    models = sorted(ENCODERS)
    original = parser.add_argument_group("options of the original test_vos.py")
    original.add_argument(
        "--filelist",
        required=True,
        help="text file, one '<frame folder> <annotation folder>' line per video "
        "(~ expanded; relative paths are relative to the working directory)",
    )
    original.add_argument(
        "--fc-model",
        choices=models,
        default=None,
        help=f"fine-grained correspondence encoder ({', '.join(FC_MODEL_TYPES)})",
    )
    original.add_argument(
        "--semantic-model",
        choices=models,
        default=None,
        help=f"semantic encoder ({', '.join(SEMANTIC_MODEL_TYPES)}); omit for FC-only propagation",
    )
    original.add_argument("--topk", type=int, default=10, help="candidates kept per query position")
    original.add_argument(
        "--videoLen", type=int, default=20, help="short-term context: the previous videoLen frames"
    )
    original.add_argument(
        "--radius",
        type=float,
        default=12,
        help="short-term search radius in feature cells (strict <; 8 px per cell)",
    )
    original.add_argument("--temperature", type=float, default=0.07, help="softmax temperature")
    original.add_argument(
        "--cropSize",
        type=int,
        default=320,
        help="-1 keeps the native resolution (use this); a positive value resizes "
        "frames and labels to a square, as the original (see --fix-crop-labels)",
    )
    original.add_argument(
        "--lambd",
        type=float,
        default=1.75,
        help="weight of the normalised FC features before fusion "
        "(FC affinity weight lambd^2/(1+lambd^2))",
    )
    original.add_argument(
        "--save-path",
        default="./results",
        help="output folder of <i>_<t>_mask.png and <i>_<t>_blend.jpg",
    )
    original.add_argument("--workers", type=int, default=2, help="frame-decoding threads")
    original.add_argument(
        "--long-mem",
        type=int,
        nargs="+",
        default=[0],
        help="long-term context entries (0 = frame 0, searched over the whole frame)",
    )
    original.add_argument(
        "--norm_mask",
        action="store_true",
        help="min-max normalise each output over classes (see --fix-norm-mask)",
    )
    original.add_argument(
        "--manualSeed",
        type=int,
        default=777,
        help="seed (only the random18/random50 encoders draw random numbers)",
    )
    for flag, kind in (
        ("--batchSize", int),
        ("--resume", str),
        ("--round", int),
        ("--finetune", int),
    ):
        original.add_argument(
            flag,
            type=kind,
            default=None,
            help="accepted for compatibility; unused by the original script",
        )
    original.add_argument(
        "--no-l2",
        action="store_true",
        help="accepted for compatibility; unused by the original script",
    )

    ours = parser.add_argument_group("vos-suite options")
    ours.add_argument(
        "--checkpoint-dir",
        default="./checkpoints",
        help="folder holding the official checkpoint files under their official names",
    )
    ours.add_argument(
        "--fc-checkpoint",
        default=None,
        help="explicit file for --fc-model instead of its official name",
    )
    ours.add_argument(
        "--semantic-checkpoint",
        default=None,
        help="explicit file for --semantic-model instead of its official name",
    )
    ours.add_argument(
        "--davis-out",
        default=None,
        help="also write DAVIS indexed PNGs <davis-out>/<sequence>/<t:05d>.png "
        "(what convert_davis would make), for every annotated frame",
    )
    ours.add_argument(
        "--mode",
        choices=("stream", "whole"),
        default="stream",
        help="stream: features of frame 0 and the last videoLen frames only; "
        "whole: every frame's features first, like the original (same results)",
    )
    ours.add_argument(
        "--search",
        choices=("local", "dense"),
        default="local",
        help="local: short-term candidates searched in radius windows (fast); "
        "dense: the original's full computation (same results)",
    )
    ours.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device"
    )
    ours.add_argument(
        "--fix-norm-mask",
        action="store_true",
        help="with --norm_mask, do not also normalise frame 0's long-term label "
        "(the original does, in place)",
    )
    ours.add_argument(
        "--fix-crop-labels",
        action="store_true",
        help="with --cropSize > 0, resize the label image with nearest neighbour "
        "(the original uses bilinear, inventing blended colours)",
    )
    ours.add_argument("--no-blend", action="store_true", help="do not write the *_blend.jpg images")
    ours.add_argument(
        "--no-bn-refresh",
        action="store_true",
        help="skip the BatchNorm refresh the original does after loading "
        "(changes features; for ablations only)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> PropagationConfig:
    return PropagationConfig(
        topk=args.topk,
        video_len=args.videoLen,
        radius=args.radius,
        temperature=args.temperature,
        long_mem=tuple(args.long_mem),
        norm_mask=args.norm_mask,
        fix_norm_mask=args.fix_norm_mask,
        search=args.search,
    )


def log(message: str) -> None:
    print(f"[sfc.test_vos] {message}", file=sys.stderr, flush=True)


def run_video(
    video: FilelistVideo,
    extractor: FeatureExtractor,
    config: PropagationConfig,
    args: argparse.Namespace,
    save: Path,
    davis_out: Path | None,
) -> int:
    """Propagate frame 0's annotation through one video and write its outputs; returns frames."""
    bgr0 = first_annotation(video, args.cropSize, args.fix_crop_labels)
    size = bgr0.shape[:2]
    colors = class_colors(bgr0)  # (K, 3) BGR, np.unique order
    soft0 = downsample_onehot(onehot_from_colors(bgr0, colors), grid_size(size))
    ids = colors_to_ids(colors[:, ::-1], SFC_PALETTE)  # what convert_davis maps each colour to
    annotated = min(len(video.annotations), len(video.frames))
    original_size = video.size

    features = (
        extractor(normalize_unit_frames(unit))[0].cpu()
        for unit in iter_unit_frames(video, args.cropSize, args.workers)
    )
    outputs = propagate_soft(
        (),
        soft0,
        extractor,
        config,
        mode=args.mode,
        num_frames=len(video.frames),
        features=features,
    )
    bar = tqdm(
        outputs,
        total=len(video.frames),
        desc=f"{video.index}:{video.name}",
        unit="frame",
        leave=False,
        file=sys.stderr,
    )
    for t, soft in enumerate(bar):
        index = class_map(soft.numpy(), size)
        color = colors[index]  # BGR triplets, written as if RGB (the original's R/B swap)
        prefix = save / f"{video.index}_{t}"
        write_frame(f"{prefix}_mask.png", color)
        if not args.no_blend:
            display = unit_frame(read_frame(video.frames[t]), args.cropSize) * 255
            blend = np.float32(display) * 0.5 + np.float32(color) * 0.5
            write_frame(f"{prefix}_blend.jpg", np.uint8(blend), quality=75)
        if davis_out is not None and t < annotated:
            write_label_map(
                davis_out / video.name / f"{t:05d}.png",
                resize_ids(ids[index], original_size),
                SFC_PALETTE,
            )
    return len(video.frames)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.fc_model and not args.semantic_model:
        raise VOSDataError(None, "give --fc-model, --semantic-model, or both")
    try:
        config = config_from_args(args)
    except ValueError as err:
        raise VOSDataError(None, f"invalid option: {err}") from None
    videos = read_filelist(args.filelist)
    for video in videos:  # check every input before any compute or output
        first_annotation(video, -1)
        if max(config.long_mem) >= len(video.frames):
            raise VOSDataError(
                video.frame_dir,
                f"--long-mem {max(config.long_mem)} is outside "
                f"the video ({len(video.frames)} frames)",
            )
    torch.manual_seed(args.manualSeed)
    extractor = build_extractor(
        args.fc_model,
        args.semantic_model,
        lambd=args.lambd,
        checkpoint_dir=args.checkpoint_dir,
        fc_checkpoint=args.fc_checkpoint,
        semantic_checkpoint=args.semantic_checkpoint,
        refresh_bn=not args.no_bn_refresh,
        device=args.device,
        seed=args.manualSeed,
    )
    save = Path(args.save_path).expanduser()
    save.mkdir(parents=True, exist_ok=True)
    davis_out = Path(args.davis_out).expanduser() if args.davis_out else None
    encoders = {
        e.model_type: (str(e.report) if e.report else "random initialisation")
        for e in extractor.encoders
    }
    run = {
        "command": PROG,
        "arguments": vars(args),
        "propagation": config.__dict__,
        "encoders": encoders,
        "videos": len(videos),
    }
    log(
        f"{extractor.describe()}; topk={config.topk} videoLen={config.video_len} "
        f"radius={config.radius} temperature={config.temperature} cropSize={args.cropSize} "
        f"long_mem={list(config.long_mem)} mode={args.mode} search={config.search} "
        f"device={args.device}"
    )
    for name, report in encoders.items():
        log(f"{name}: {report}")
    atomic_write_text(save / "sfc_test_vos.json", json.dumps(run, indent=2, default=str) + "\n")
    start, frames = time.time(), 0
    with torch.no_grad():
        for video in tqdm(videos, desc="videos", unit="video", file=sys.stderr):
            frames += run_video(video, extractor, config, args, save, davis_out)
    elapsed = time.time() - start
    log(
        f"{len(videos)} video(s), {frames} frames in {elapsed:.1f} s "
        f"({frames / max(elapsed, 1e-9):.2f} frames/s); masks in {save}"
        + (f", DAVIS PNGs in {davis_out}" if davis_out else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
