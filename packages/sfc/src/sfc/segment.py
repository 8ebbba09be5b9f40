"""Propagate a first-frame mask through your own video with SFC.

    python -m sfc.segment --video clip.mp4 --mask first.png --out masks/ --save-overlay

``--video`` is a video file (mp4, avi, mov, ...) or a folder of frames; ``--mask`` is frame 0's
mask: an indexed (palette) PNG of object ids, or a black/white mask for one object. Writes
``<out>/<frame>.png`` (DAVIS-palette indexed PNGs at the video's size) for every frame, and with
``--save-overlay`` the overlays and an MP4 preview (default ``<out>/overlay/``). Frames are
streamed: memory holds frame 0 and the last ``--videoLen`` frames, whatever the video's length.
Defaults are the README's SFC settings (fine-grained + MoCo-v1, top-k 15, radius 15, τ 0.1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from vos_common.datasets import open_dataset
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import resize_frame, resize_mask, size_for_height, write_label_map
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from sfc.inference.propagation import PropagationConfig
from sfc.inference.video import build_extractor, segment_video
from sfc.model.checkpoints import ENCODERS

PROG = "python -m sfc.segment"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--video", required=True, help="video file or folder of frames")
    parser.add_argument(
        "--mask", required=True, help="frame 0's mask: indexed PNG of object ids, or a binary mask"
    )
    parser.add_argument("--out", required=True, help="output folder for <frame>.png id maps")
    models = sorted(ENCODERS)
    parser.add_argument(
        "--fc-model",
        choices=models + ["none"],
        default="fine-grained",
        help="fine-grained correspondence encoder ('none': semantic only)",
    )
    parser.add_argument(
        "--semantic-model",
        choices=models + ["none"],
        default="mocov1",
        help="semantic encoder ('none': FC only)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default="./checkpoints",
        help="folder holding the official checkpoint files",
    )
    parser.add_argument("--topk", type=int, default=15, help="candidates per query position")
    parser.add_argument("--videoLen", type=int, default=20, help="short-term context length")
    parser.add_argument(
        "--radius", type=float, default=15, help="short-term radius in feature cells"
    )
    parser.add_argument("--temperature", type=float, default=0.1, help="softmax temperature")
    parser.add_argument("--lambd", type=float, default=1.75, help="FC feature weight in the fusion")
    parser.add_argument(
        "--height",
        type=int,
        default=480,
        help="propagate at this frame height (the DAVIS 480p rule; 0 = native); "
        "masks are written at the video's size",
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device"
    )
    add_overlay_arguments(parser)
    for action in parser._actions:  # `--save-overlay` alone means <out>/overlay
        if "--save-overlay" in action.option_strings:
            action.nargs, action.const = "?", Path("__default__")
            action.help = "write overlay PNGs and a preview to DIR (default <out>/overlay)"
    parser.set_defaults(overlay_preview="mp4")
    return parser


def log(message: str) -> None:
    print(f"[sfc.segment] {message}", file=sys.stderr, flush=True)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fc = None if args.fc_model == "none" else args.fc_model
    semantic = None if args.semantic_model == "none" else args.semantic_model
    if fc is None and semantic is None:
        raise VOSDataError(None, "give --fc-model, --semantic-model, or both")
    source = Path(args.video).expanduser()
    kind = "frames" if source.is_dir() else "video"
    sequence = open_dataset(kind, source, first_mask=args.mask)[0]
    first = sequence.read_mask(0)  # checks that the mask has the frame's size
    if not first.any():
        raise VOSDataError(args.mask, "mask has no object (every pixel is background)")
    size = sequence.original_size
    work = (
        size if args.height <= 0 or size[0] == args.height else size_for_height(size, args.height)
    )
    config = PropagationConfig(
        topk=args.topk, video_len=args.videoLen, radius=args.radius, temperature=args.temperature
    )
    extractor = build_extractor(
        fc, semantic, lambd=args.lambd, checkpoint_dir=args.checkpoint_dir, device=args.device
    )
    log(
        f"{sequence.name}: {len(sequence)} frames {size[1]}x{size[0]}, propagated at "
        f"{work[1]}x{work[0]}; objects {sorted(set(np.unique(first).tolist()) - {0})}; "
        f"{extractor.describe()}; topk={config.topk} videoLen={config.video_len} "
        f"radius={config.radius} temperature={config.temperature}"
    )
    out = Path(args.out).expanduser()
    frames = (resize_frame(sample.frame, work) for sample in iter_samples(sequence, masks=False))
    labels = []
    start = time.time()
    results = segment_video(
        frames, resize_mask(first, work), extractor, config, num_frames=len(sequence)
    )
    with torch.no_grad():
        for result in tqdm(
            results, total=len(sequence), desc=sequence.name, unit="frame", file=sys.stderr
        ):
            ids = resize_mask(result.ids, size)
            write_label_map(out / f"{sequence.frame_names[result.index]}.png", ids)
            if args.save_overlay is not None:
                labels.append(ids)
    elapsed = time.time() - start
    log(f"wrote {len(sequence)} masks to {out} ({len(sequence) / max(elapsed, 1e-9):.2f} frames/s)")
    if args.save_overlay is not None:
        target = out / "overlay" if args.save_overlay == Path("__default__") else args.save_overlay
        saved = save_overlays(target, sequence, labels, **overlay_options(args))
        log(f"overlays in {target}" + (f", preview {saved.preview}" if saved.preview else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
