"""DAVIS 2017 (val / test-dev) evaluation with RDE-VOS, the original ``eval_davis.py`` flags.

    python -m rde.eval_davis --output prediction/DAVIS-2017-val --davis_path DAVIS/2017 \\
        --model model_s012_final.pth --mode two-frames-compress --mem_every 3 [--top 40] \\
        [--split val|testdev] [--amp] [--include_last]

Reads ``<davis_path>/trainval`` (``ImageSets/2017/val.txt``) or ``<davis_path>/test-dev``
(``ImageSets/2017/test-dev.txt``); objects are the ids of frame 0. Writes
``<output>/<video>/00000.png ...`` (frame 0 included): indexed PNGs with the palette of
``trainval/Annotations/480p/blackswan/00000.png``, values 0..K, from the unpadded
probabilities resized bilinearly to the 480p size and arg-maxed. Memory frames: index
``t % mem_every == 0`` (never the last frame). Prints the FPS over propagation + unpad +
resize + argmax. Each video folder appears only when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from vos_common.datasets import DAVIS2017
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io.masks import write_label_map

from rde.evaluation import (
    Timer,
    add_common_arguments,
    labels_at,
    log,
    make_core,
    normalise_frame,
    read_palette,
    setup,
    staged_folder,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rde.eval_davis", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--davis_path", default="../DAVIS/2017",
                        help="DAVIS 2017 root holding trainval/ (and test-dev/)")
    parser.add_argument("--split", default="val", choices=("val", "testdev"),
                        help="val (trainval, 2017/val.txt) or testdev (test-dev, 2017/test-dev.txt)")
    parser.add_argument("--include_last", action="store_true",
                        help="write every frame to memory (a SAM step per frame in compress modes)")
    add_common_arguments(parser, top=40)
    return parser


def first_frame_objects(sequence) -> tuple[list[int], np.ndarray]:
    mask = sequence.read_mask(0)
    labels = [int(v) for v in np.unique(mask) if v != 0]
    if not labels:
        raise VOSDataError(sequence.annotation_paths[0], "first-frame annotation has no object")
    return labels, mask


def run_davis(args, open_data, binary: bool, prog: str) -> None:
    net, device = setup(args, prog)
    dataset = open_data()
    palette = None if binary else read_palette(
        Path(args.davis_path) / "trainval" / "Annotations" / "480p" / "blackswan" / "00000.png")
    out_root = Path(args.output)
    out_root.mkdir(parents=True, exist_ok=True)
    timer = Timer(device)
    log(f"data: {dataset.root} ({dataset.meta.get('split')}, {len(dataset)} videos) -> {out_root}")
    for sequence in tqdm(dataset, desc="videos", dynamic_ncols=True):
        labels, mask0 = first_frame_objects(sequence)
        if binary:
            labels, mask0 = [1], (mask0 > 0).astype(np.uint8)
        size = mask0.shape
        core = make_core(net, args, len(labels), "absolute", getattr(args, "include_last", False))
        first = {i + 1: torch.from_numpy((mask0 == label).astype(np.float32))
                 for i, label in enumerate(labels)}
        with staged_folder(out_root / sequence.name) as folder:
            for t in range(len(sequence)):
                rgb = sequence.read_frame(t)
                if rgb.shape[:2] != size:
                    raise VOSDataError(sequence.frame_paths[t], f"frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                                                                f"the first mask {size[1]}x{size[0]}")
                frame = normalise_frame(rgb)
                with timer:
                    prob = core.step(frame, first if t == 0 else None, last=t == len(sequence) - 1)
                    out = labels_at(prob, core, None if binary else size)
                timer.frames += 1
                if binary:
                    write_binary(folder / f"{t:05d}.png", out)
                else:
                    write_label_map(folder / f"{t:05d}.png", out, palette)
    timer.report()


def write_binary(path: Path, labels: np.ndarray) -> None:
    from vos_common.io.masks import write_binary_mask

    write_binary_mask(path, labels, value=255)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path(args.davis_path) / ("trainval" if args.split == "val" else "test-dev")
    split = "val" if args.split == "val" else "test-dev"
    run_davis(args, lambda: DAVIS2017(root, split=split), binary=False, prog="rde.eval_davis")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
