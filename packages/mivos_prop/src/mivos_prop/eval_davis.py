"""DAVIS 2017 val / test-dev propagation, as the original ``eval_davis.py``.

    python -m mivos_prop.eval_davis --model saves/propagation_model.pth --davis ../DAVIS/2017 \\
        --output out/d17 [--split val|testdev] [--use_km] [--no_top]

``--davis`` is the DAVIS 2017 folder holding ``trainval/`` (val) and ``test-dev/`` (testdev),
each with ``JPEGImages/480p``, ``Annotations/480p`` and ``ImageSets/2017/<split>.txt``. Objects
are the distinct non-zero ids of each sequence's frame-0 annotation. Every frame is written as
``<output>/<sequence>/%05d.png``: an indexed PNG at the annotation size with the dataset's
palette (``trainval/Annotations/480p/blackswan/00000.png`` as the original, else the
sequence's own first annotation).

Like the original, the PNG value is the object's *position* in the sorted list of frame-0 ids
(identical to the id when the ids are 1..K, as in DAVIS); ``--keep-ids`` writes the ids
themselves (the fix, for annotations with gaps in their ids).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm
from vos_common.datasets import DAVIS2017
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import write_label_map
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from mivos_prop.runner import (
    Timer,
    add_network_arguments,
    build_network,
    check_consecutive,
    log,
    propagate_sequence,
    read_palette,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.eval_davis",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(parser)
    parser.add_argument(
        "--davis",
        default="../DAVIS/2017",
        help="DAVIS 2017 folder containing trainval/ and test-dev/",
    )
    parser.add_argument(
        "--output", required=True, help="output folder (one sub-folder per sequence)"
    )
    parser.add_argument(
        "--split",
        default="val",
        choices=["val", "testdev"],
        help="val (trainval/ImageSets/2017/val.txt) or testdev "
        "(test-dev/ImageSets/2017/test-dev.txt)",
    )
    parser.add_argument("--sequences", nargs="+", default=None, help="only these sequences")
    parser.add_argument(
        "--keep-ids",
        action="store_true",
        help="write object ids instead of their positions in the sorted id list",
    )
    add_overlay_arguments(parser)
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    davis = Path(args.davis).expanduser()
    root = davis / ("trainval" if args.split == "val" else "test-dev")
    split = "val" if args.split == "val" else "test-dev"
    dataset = DAVIS2017(root, split=split, sequences=args.sequences)
    palette = read_palette(
        [
            davis / "trainval/Annotations/480p/blackswan/00000.png",
            dataset[0].annotation_paths.get(0),
        ]
    )
    net, device = build_network(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log.info("DAVIS 2017 %s: %d sequences from %s -> %s", split, len(dataset), root, out)
    timer = Timer()
    for sequence in tqdm(dataset, desc="sequences", unit="seq"):
        check_consecutive(sequence.frame_names, sequence.frame_paths[0].parent)
        first = sequence.read_mask(0)
        ids = sorted(int(i) for i in np.unique(first) if i != 0)
        if not ids:
            raise VOSDataError(sequence.annotation_paths[0], "first-frame annotation has no object")
        size = first.shape
        frames = (s.frame for s in iter_samples(sequence, masks=False, workers=2))
        labels_all = []
        for t, labels in tqdm(
            propagate_sequence(
                net,
                device,
                frames,
                lambda t, first=first: first if t == 0 else None,
                ids,
                args,
                timer,
                output_size=size,
                ids=ids if args.keep_ids else None,
            ),
            total=len(sequence),
            desc=sequence.name,
            unit="frame",
            leave=False,
        ):
            write_label_map(out / sequence.name / f"{t:05d}.png", labels, palette)
            if args.save_overlay:
                labels_all.append(labels)
        if args.save_overlay:
            save_overlays(
                args.save_overlay / sequence.name,
                sequence,
                labels_all,
                palette=palette,
                **overlay_options(args),
            )
    log.info(timer.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
