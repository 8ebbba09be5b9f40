"""Write an RCF split file listing every frame folder under a dataset root.

    python -m rcf.split_file data/youtube-vos train_all_frames/JPEGImages ytb2019_train.txt

One line per sequence folder: ``<images dir>/<seq>/ 00000.jpg 00001.jpg ...`` (frames sorted
naturally), the format RCF's loaders read (spec §4.1). Written atomically into the root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vos_common.datasets import list_frames
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import atomic_write_text


def make_split_file(root: str | Path, images: str, name: str, min_frames: int = 2) -> Path:
    root = Path(root)
    folder = root / images
    if not folder.is_dir():
        raise VOSDataError(folder, "frame folder does not exist")
    lines = []
    for seq in sorted(p for p in folder.iterdir() if p.is_dir()):
        frames = list_frames(seq)
        if len(frames) >= min_frames:
            lines.append(" ".join([f"{images.strip('/')}/{seq.name}/", *(f.name for f in frames)]))
    if not lines:
        raise VOSDataError(folder, f"no sequence with at least {min_frames} frames")
    target = root / name
    atomic_write_text(target, "\n".join(lines) + "\n")
    return target


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.split_file", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", help="dataset root (the data_path of the config)")
    parser.add_argument(
        "images", help="frame folder relative to the root, e.g. train_all_frames/JPEGImages"
    )
    parser.add_argument(
        "name", help="split file name written into the root, e.g. ytb2019_train.txt"
    )
    parser.add_argument(
        "--min-frames", type=int, default=2, help="skip shorter sequences (default 2)"
    )
    args = parser.parse_args(argv)
    print(f"wrote {make_split_file(args.root, args.images, args.name, args.min_frames)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
