"""Turn test_vos colour masks into DAVIS indexed PNGs: the original ``convert_davis.py``.

    python -m sfc.convert_davis --in_folder results/ --out_folder converted/ --dataset DAVIS/

Sequence ``i`` of ``<dataset>/ImageSets/2017/val.txt`` takes ``<in_folder>/<i>_<j>_mask.png`` for
every annotation PNG ``j`` of ``Annotations/480p/<seq>/`` (frame 0 included), maps each colour
to the palette index with exactly that RGB value (unknown colours → 0), resizes the id map to
the size of ``00000.png`` with nearest neighbour and writes ``<out_folder>/<seq>/<j:05d>.png``
with the SFC palette. The filelist given to test_vos must list the sequences in val.txt order.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm
from vos_common.datasets.base import read_list_file, require_dir
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import frame_size, read_frame, write_label_map

from sfc.inference.labels import SFC_PALETTE, color_image_to_ids, resize_ids

PROG = "python -m sfc.convert_davis"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "-i",
        "--in_folder",
        required=True,
        help="test_vos --save-path folder holding <i>_<j>_mask.png",
    )
    parser.add_argument(
        "-o", "--out_folder", required=True, help="output folder; gets <sequence>/<j:05d>.png"
    )
    parser.add_argument(
        "-d",
        "--dataset",
        required=True,
        help="DAVIS root (with ImageSets/<year>/<split>.txt and Annotations/<resolution>/)",
    )
    parser.add_argument("--year", default="2017", help="ImageSets sub-folder")
    parser.add_argument("--split", default="val", help="sequence list ImageSets/<year>/<split>.txt")
    parser.add_argument("--resolution", default="480p", help="Annotations sub-folder")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="sequences converted in parallel (the original uses 10 processes)",
    )
    return parser


def convert_mask(in_path: Path, size: tuple[int, int], out_path: Path) -> None:
    """One test_vos colour mask → DAVIS id PNG of ``size`` ``(H, W)``."""
    if not in_path.is_file():
        raise VOSDataError(
            in_path,
            "prediction mask not found (is the test_vos filelist in "
            "the same order as the split list?)",
        )
    stored = read_frame(in_path)  # RGB of the file = the annotation colour with R and B swapped
    ids = color_image_to_ids(stored[..., ::-1], SFC_PALETTE)
    write_label_map(out_path, resize_ids(ids, size), SFC_PALETTE)


def plan(
    in_folder: Path,
    out_folder: Path,
    dataset: Path,
    year: str = "2017",
    split: str = "val",
    resolution: str = "480p",
) -> list[tuple[Path, tuple[int, int], Path]]:
    """Every (input mask, size, output PNG) of the split, checked before anything is written."""
    names = read_list_file(dataset / "ImageSets" / year / f"{split}.txt", "sequence list")
    jobs = []
    for i, name in enumerate(names):
        gt = require_dir(dataset / "Annotations" / resolution / name, "annotation folder")
        count = sum(1 for p in gt.iterdir() if p.name.endswith(".png"))
        reference = gt / "00000.png"
        if not reference.is_file():
            raise VOSDataError(
                reference, "first annotation missing (its size sets the output size)"
            )
        size = frame_size(reference)
        for j in range(count):
            mask = in_folder / f"{i}_{j}_mask.png"
            if not mask.is_file():
                raise VOSDataError(
                    mask,
                    f"prediction mask of sequence {name!r} frame {j} not found "
                    f"(is the test_vos filelist in {split}.txt order?)",
                )
            jobs.append((mask, size, out_folder / name / f"{j:05d}.png"))
    return jobs


def convert(
    in_folder,
    out_folder,
    dataset,
    *,
    year: str = "2017",
    split: str = "val",
    resolution: str = "480p",
    workers: int = 2,
    progress: bool = True,
) -> int:
    """Convert a whole split; returns the number of PNGs written."""
    in_folder = require_dir(Path(in_folder).expanduser(), "input folder")
    dataset = require_dir(Path(dataset).expanduser(), "DAVIS root folder")
    out_folder = Path(out_folder).expanduser()
    jobs = plan(in_folder, out_folder, dataset, year, split, resolution)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda job: convert_mask(*job), jobs)
        for _ in tqdm(
            results,
            total=len(jobs),
            desc="convert",
            unit="png",
            disable=not progress,
            file=sys.stderr,
        ):
            pass
    return len(jobs)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    count = convert(
        args.in_folder,
        args.out_folder,
        args.dataset,
        year=args.year,
        split=args.split,
        resolution=args.resolution,
        workers=args.workers,
    )
    print(f"[sfc.convert_davis] wrote {count} PNGs to {args.out_folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
