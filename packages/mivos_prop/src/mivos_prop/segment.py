"""Segment your own video from a first-frame mask.

    python -m mivos_prop.segment --video clip.mp4 --mask first.png --model propagation_model.pth \\
        --out DIR [--save-overlay DIR] [--max-memory-frames 20]

``--video`` is a video file (mp4, avi, ...) or a folder of frames. ``--mask`` is the mask of
frame 0: an indexed (palette) PNG of object ids, or a grey/colour image whose non-zero pixels
are one object. It must have the frame's size. Masks are written as indexed PNGs
``DIR/%05d.png`` with the mask's own palette (DAVIS palette otherwise). Frames are decoded one
at a time and only the memory stays in memory; ``--max-memory-frames`` bounds it for long
videos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm
from vos_common.datasets.folder import first_mask_loader, read_frame_folder, read_video
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import write_label_map
from vos_common.io.masks import open_mask_image
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from mivos_prop.runner import (
    Timer,
    add_network_arguments,
    build_network,
    log,
    propagate_sequence,
    read_palette,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.segment",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--video", required=True, help="video file or folder of frames")
    parser.add_argument("--mask", required=True, help="mask of the first frame (PNG)")
    parser.add_argument("--out", required=True, help="output folder for the masks")
    add_network_arguments(parser, default_model="propagation_model.pth")
    add_overlay_arguments(parser)
    return parser


def read_first_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Object ids of the first-frame mask, checked against the frame size and its palette."""
    image = open_mask_image(path)
    ids = first_mask_loader(path)
    if ids.shape != tuple(size):
        raise VOSDataError(
            path,
            f"mask is {ids.shape[1]}x{ids.shape[0]} but the first frame is "
            f"{size[1]}x{size[0]} (WxH)",
        )
    if image.mode == "P":
        palette = image.getpalette() or []
        colours = len(palette) // 3
        if ids.size and int(ids.max()) >= colours:
            raise VOSDataError(
                path, f"mask uses id {int(ids.max())} but its palette has only {colours} colours"
            )
    if not ids.any():
        raise VOSDataError(path, "mask has no object (every pixel is 0)")
    return ids


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    source, mask_path = Path(args.video), Path(args.mask)
    if not mask_path.is_file():
        raise VOSDataError(mask_path, "first-frame mask does not exist")
    sequence = (
        read_frame_folder(source, mask_path) if source.is_dir() else read_video(source, mask_path)
    )
    first = read_first_mask(mask_path, sequence.original_size)
    ids = sorted(int(i) for i in np.unique(first) if i != 0)
    palette = read_palette([mask_path])
    net, device = build_network(args)
    out = Path(args.out)
    log.info(
        "video %s (%d frames, %dx%d), objects %s -> %s",
        source,
        len(sequence),
        sequence.original_size[1],
        sequence.original_size[0],
        ids,
        out,
    )
    timer = Timer()
    frames = (s.frame for s in iter_samples(sequence, masks=False, workers=2))
    labels_all = []
    for t, labels in tqdm(
        propagate_sequence(
            net, device, frames, lambda t: first if t == 0 else None, ids, args, timer, ids=ids
        ),
        total=len(sequence),
        desc=sequence.name,
        unit="frame",
    ):
        write_label_map(out / f"{t:05d}.png", labels, palette)
        if args.save_overlay:
            labels_all.append(labels)
    if args.save_overlay:
        saved = save_overlays(
            args.save_overlay, sequence, labels_all, palette=palette, **overlay_options(args)
        )
        log.info("overlays: %d PNGs, preview %s", len(saved.frames), saved.preview)
    log.info(timer.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
