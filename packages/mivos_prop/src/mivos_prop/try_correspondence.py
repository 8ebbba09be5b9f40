"""Click-free ``try_correspondence``: transfer a point (or a mask) from one frame to another.

    python -m mivos_prop.try_correspondence --model propagation_model.pth \\
        --src examples/00015.jpg --tgt examples/00020.jpg --point 200,150 --out corr.png

Writes a picture: the source with the point marked, and the target with the transferred map
(divided by its maximum) as a heat overlay. ``--mask`` transfers a whole source mask instead
(averaged to the 1/16 grid). Both frames must have the same size after padding to 16.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import read_frame, read_mask, write_frame
from vos_common.stm import pad_divide_by

from mivos_prop.correspondence import correspondence_affinity, transfer, transfer_point
from mivos_prop.inference.postprocess import normalise_frame
from mivos_prop.runner import add_network_arguments, build_network, log, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.try_correspondence",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(parser, km=False)
    parser.add_argument("--src", required=True, help="source frame")
    parser.add_argument("--tgt", required=True, help="target frame")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--point", help="x,y pixel on the source frame")
    where.add_argument("--mask", help="binary mask of the source frame to transfer")
    parser.add_argument("--out", required=True, help="output picture (PNG)")
    return parser


def heat_overlay(rgb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    colour = cv2.applyColorMap((np.clip(heat, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return (0.5 * rgb + 0.5 * colour[..., ::-1]).astype(np.uint8)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    src, tgt = read_frame(args.src), read_frame(args.tgt)
    net, device = build_network(args)
    marked = src.copy()
    if args.point:
        try:
            x, y = (int(v) for v in args.point.split(","))
        except ValueError:
            raise VOSDataError(None, f"--point must be x,y in pixels, got {args.point!r}") from None
        heat = transfer_point(net, src, tgt, x, y)
        cv2.circle(marked, (x, y), 6, (255, 0, 0), 2)
    else:
        mask = read_mask(args.mask, binary=True).astype(np.float32)
        if mask.shape != src.shape[:2]:
            raise VOSDataError(args.mask, "mask size differs from the source frame")
        weights, grid, pad = correspondence_affinity(
            net, normalise_frame(src).to(device), normalise_frame(tgt).to(device)
        )
        padded = pad_divide_by(torch.from_numpy(mask)[None, None], 16)[0]
        on_grid = F.avg_pool2d(padded, 16).to(device)
        moved = transfer(weights, on_grid, grid, pad)[0, 0]
        heat = (moved / moved.max().clamp_min(1e-12)).cpu().numpy()
        marked = heat_overlay(src, mask)
    picture = np.concatenate([marked, heat_overlay(tgt, heat)], axis=1)
    write_frame(Path(args.out), picture)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
