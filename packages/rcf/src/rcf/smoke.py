"""The smoke-scale synthetic benchmark of spec §8.1, in RCF's DAVIS layout.

Two sequences of 8 frames at 96x160 from :mod:`vos_common.synth` (one textured object over a
moving textured background, exact forward/backward ``.npy`` flows under ``Flows_NewCT`` /
``BackwardFlows_NewCT``), split files ``train.txt`` / ``val.txt`` / ``trainval.txt``. The second
("val") sequence's object moves faster than 20 px per frame, so the +-20 px clamp of the flow
head is exercised. Deterministic in ``seed``.

    python -m rcf.smoke --out /tmp/rcf_smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from vos_common.errors import cli_errors
from vos_common.synth import SynthConfig, generate_video, write_benchmark

SMOKE_SIZE = (96, 160)
SMOKE_FRAMES = 8


def smoke_videos(
    seed: int = 0,
    frames: int = SMOKE_FRAMES,
    size: tuple[int, int] = SMOKE_SIZE,
    fast_speed_px: float = 20.0,
):
    """Two synthetic videos: a slow one and one whose object moves faster than ``fast_speed_px``."""
    base = SynthConfig(
        height=size[0],
        width=size[1],
        frames=frames,
        num_objects=1,
        late_objects=0,
        object_size=(0.22, 0.3),
        max_speed=0.06,
        max_rotation=1.0,
        deformation=0.03,
        camera_speed=0.015,
        camera_zoom=0.0,
        camera_rotation=0.0,
        brightness_change=0.0,
        seed=seed,
        name_prefix="smoke",
    )
    slow = generate_video(base, 0)
    fast_cfg = dataclasses.replace(base, max_speed=0.32)
    for index in range(1, 200):
        fast = generate_video(fast_cfg, index)
        flow = fast.flow("forward", 1)[:-1]
        moving = fast.masks[:-1] > 0
        if (
            moving.any()
            and np.nanmax(np.abs(flow[moving])) > fast_speed_px
            and (fast.masks > 0).all(axis=(1, 2)).__invert__().all()
            and (fast.masks > 0).any(axis=(1, 2)).all()
        ):
            return [slow, fast]
    raise RuntimeError("could not draw a fast synthetic sequence")


def make_smoke_benchmark(out: str | Path, seed: int = 0) -> Path:
    """Write the smoke benchmark to ``out`` (DAVIS 2016 layout + RCF split files and flows)."""
    out = Path(out)
    write_benchmark(smoke_videos(seed), format="davis2016", out=out)
    return out


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.smoke", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--out", required=True, help="output folder (the data_path of the smoke configs)"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic benchmark seed (default 0)")
    args = parser.parse_args(argv)
    path = make_smoke_benchmark(args.out, args.seed)
    print(f"smoke benchmark written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
