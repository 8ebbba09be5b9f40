"""Render ``synth_contact_sheet.png``: a few frames of synthetic videos, their instance masks
over the frame, and their exact forward flow (Middlebury colours), one row per frame.

    python packages/common/docs/make_contact_sheet.py [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vos_common.io import DAVIS_PALETTE, flow_to_color, write_frame
from vos_common.synth import SynthConfig, generate_video

HERE = Path(__file__).resolve().parent


def overlay(frame: np.ndarray, ids: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Frame with each object tinted in its DAVIS palette colour, ``(H, W, 3)`` uint8."""
    colours = DAVIS_PALETTE[ids].astype(np.float32)
    tint = np.where((ids > 0)[..., None], (1 - alpha) * frame + alpha * colours, frame)
    return tint.astype(np.uint8)


def contact_sheet(config: SynthConfig, rows: list[tuple[int, int]], gap: int = 4) -> np.ndarray:
    """Stack ``(video index, frame)`` rows of [frame | mask overlay | forward flow colour]."""
    videos = {index: generate_video(config, index) for index, _ in rows}
    # One colour scale per video so the flow colours of its rows are comparable.
    scales = {index: float(np.nanmax(np.linalg.norm(v.flow("forward", 1), axis=-1))) for index, v in videos.items()}
    lines = []
    for index, t in rows:
        video = videos[index]
        flow = video.flow("forward", 1)[t]
        cells = [video.frames[t], overlay(video.frames[t], video.masks[t]), flow_to_color(flow, scales[index])]
        spacer = np.full((config.height, gap, 3), 255, np.uint8)
        lines.append(np.concatenate([cells[0], spacer, cells[1], spacer, cells[2]], axis=1))
    spacer = np.full((gap, lines[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([part for line in lines for part in (line, spacer)][:-1], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "synth_contact_sheet.png", help="PNG to write")
    args = parser.parse_args()
    config = SynthConfig(height=144, width=240, frames=12, num_objects=(2, 3), seed=0)
    sheet = contact_sheet(config, rows=[(0, 0), (0, 6), (1, 3), (2, 9)])
    write_frame(args.out, sheet)
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
