"""Segment your own video with RDE-VOS from a first-frame mask.

    python -m rde.segment --video clip.mp4 --mask first.png --model model_s012_final.pth \\
        --out DIR [--save-overlay [DIR]] [--mode two-frames-compress] [--mem_every 3] [--top 40]

``--video`` is a video file (decoded with OpenCV) or a folder of frames. ``--mask`` is the
mask of the first frame: an indexed (palette) PNG with one id per object, or a binary image
(one object). Writes ``DIR/00000.png ...`` (indexed, original ids, DAVIS palette) at the frame
size; frames are processed one at a time at a shorter side of ``--res`` (480; -1 keeps the
size), so memory does not grow with the video length. ``--save-overlay`` also writes coloured
overlays and a GIF preview (default ``DIR/overlay``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from vos_common.datasets import open_dataset
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io.masks import DAVIS_PALETTE, check_mask_size, write_label_map
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from rde.evaluation import (
    Timer,
    add_common_arguments,
    labels_at,
    log,
    make_core,
    normalise_frame,
    resize_shorter,
    setup,
    staged_folder,
)

_DEFAULT_OVERLAY = Path("__default__")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rde.segment",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", required=True, help="video file or folder of frames")
    parser.add_argument("--mask", required=True, help="first-frame mask (indexed PNG or binary)")
    parser.add_argument("--out", required=True, help="folder for the predicted masks")
    parser.add_argument("--res", type=int, default=480,
                        help="shorter side used for inference (-1 keeps the size; default 480)")
    add_common_arguments(parser, top=40)
    parser._option_string_actions["--output"].required = False
    add_overlay_arguments(parser)
    action = parser._option_string_actions["--save-overlay"]
    action.nargs, action.const = "?", _DEFAULT_OVERLAY
    action.help = "also write overlays and a preview (default folder: <out>/overlay)"
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.output = args.out
    source = Path(args.video)
    if not source.exists():
        raise VOSDataError(source, "video does not exist")
    kind = "frames" if source.is_dir() else "video"
    sequence = open_dataset(kind, source, first_mask=args.mask)[0]
    net, device = setup(args, "rde.segment")
    first = sequence.read_mask(0, check_size=False)
    rgb0 = sequence.read_frame(0)
    check_mask_size(first, rgb0.shape[:2], args.mask)
    ids = [int(v) for v in np.unique(first) if v != 0]
    if not ids:
        raise VOSDataError(args.mask, "mask has no object (all pixels are background)")
    backward = np.zeros(len(ids) + 1, dtype=np.uint8)
    backward[1:] = ids
    onehot = torch.from_numpy(np.stack([first == v for v in ids]).astype(np.float32))
    onehot = resize_shorter(onehot, args.res, nearest=True)
    annotation = {i + 1: onehot[i] for i in range(len(ids))}
    core = make_core(net, args, len(ids), "absolute")
    out = Path(args.out)
    timer = Timer(device)
    total = len(sequence)
    log(f"video: {source} ({total} frames, {rgb0.shape[1]}x{rgb0.shape[0]}), objects {ids} -> {out}")
    labels = [] if args.save_overlay else None
    with staged_folder(out) as folder:
        for t in tqdm(range(total), desc=sequence.name, dynamic_ncols=True):
            rgb = rgb0 if t == 0 else sequence.read_frame(t)
            frame = resize_shorter(normalise_frame(rgb), args.res)
            with timer:
                prob = core.step(frame, annotation if t == 0 else None, last=t == total - 1)
                pred = backward[labels_at(prob, core, rgb.shape[:2])]
            timer.frames += 1
            write_label_map(folder / f"{t:05d}.png", pred, DAVIS_PALETTE)
            if labels is not None:
                labels.append(pred)
    timer.report()
    log(f"memory at the end: {core.memory_positions()} entries per query position, "
        f"{core.memory_bytes() / 2**20:.2f} MiB")
    if labels is not None:
        target = out / "overlay" if args.save_overlay == _DEFAULT_OVERLAY else args.save_overlay
        saved = save_overlays(target, sequence, labels, **overlay_options(args))
        log(f"overlays: {len(saved.frames)} PNGs in {target}" +
            (f", preview {saved.preview}" if saved.preview else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
