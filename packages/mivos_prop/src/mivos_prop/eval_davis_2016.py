"""DAVIS 2016 val propagation (single object), as the original ``eval_davis_2016.py``.

    python -m mivos_prop.eval_davis_2016 --model saves/propagation_model.pth \\
        --davis ../DAVIS/2016 --output out/d16 [--no_top]

``--davis`` is the DAVIS 2016 folder (``JPEGImages/480p``, ``Annotations/480p``). As in the
original, the sequence list is ``ImageSets/2016/val.txt`` of the DAVIS 2017 trainval folder
next to it (``<davis>/../2017/trainval/ImageSets/2016/val.txt``); ``--imset`` names another
list. The frame-0 annotation is binarised (any non-zero pixel is the object), K = 1, top-k 50
(or ``--no_top``), no kernelized memory. Every frame is written as a grey 0/255 PNG
``<output>/<sequence>/%05d.png`` at the frame size (the original's behaviour since commit
8081c90).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm
from vos_common.datasets.base import VideoSequence, binary_mask_loader, list_frames, read_list_file
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import write_binary_mask
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from mivos_prop.runner import (
    Timer,
    add_network_arguments,
    build_network,
    check_consecutive,
    log,
    propagate_sequence,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.eval_davis_2016",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(parser, km=False)
    parser.add_argument("--davis", default="../DAVIS/2016", help="DAVIS 2016 folder")
    parser.add_argument(
        "--output", required=True, help="output folder (one sub-folder per sequence)"
    )
    parser.add_argument(
        "--imset",
        default=None,
        help="sequence list (default: <davis>/../2017/trainval/ImageSets/2016/val.txt)",
    )
    parser.add_argument("--sequences", nargs="+", default=None, help="only these sequences")
    add_overlay_arguments(parser)
    return parser


def davis2016_sequences(davis: Path, imset: Path, wanted: list[str] | None) -> list[VideoSequence]:
    names = read_list_file(imset, "DAVIS 2016 sequence list")
    if wanted is not None:
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise VOSDataError(imset, f"unknown sequence(s): {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    sequences = []
    for name in names:
        frames = list_frames(davis / "JPEGImages" / "480p" / name, (".jpg", ".jpeg"))
        mask = davis / "Annotations" / "480p" / name / "00000.png"
        if not mask.is_file():
            raise VOSDataError(mask, "first-frame annotation does not exist")
        sequences.append(
            VideoSequence(
                name=name,
                frame_paths=frames,
                annotation_paths={0: mask},
                mask_loader=binary_mask_loader,
                object_ids=[1],
            )
        )
    return sequences


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    davis = Path(args.davis).expanduser()
    imset = (
        Path(args.imset)
        if args.imset
        else davis / ".." / "2017" / "trainval" / "ImageSets" / "2016" / "val.txt"
    )
    sequences = davis2016_sequences(davis, imset, args.sequences)
    net, device = build_network(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log.info(
        "DAVIS 2016 val: %d sequences from %s (list %s) -> %s", len(sequences), davis, imset, out
    )
    timer = Timer()
    for sequence in tqdm(sequences, desc="sequences", unit="seq"):
        check_consecutive(sequence.frame_names, sequence.frame_paths[0].parent)
        first = sequence.read_mask(0)
        if not first.any():
            raise VOSDataError(sequence.annotation_paths[0], "first-frame annotation has no object")
        frames = (s.frame for s in iter_samples(sequence, masks=False, workers=2))
        labels_all = []
        for t, labels in tqdm(
            propagate_sequence(
                net,
                device,
                frames,
                lambda t, first=first: first if t == 0 else None,
                [1],
                args,
                timer,
            ),
            total=len(sequence),
            desc=sequence.name,
            unit="frame",
            leave=False,
        ):
            write_binary_mask(out / sequence.name / f"{t:05d}.png", labels, value=255)
            if args.save_overlay:
                labels_all.append(labels)
        if args.save_overlay:
            save_overlays(
                args.save_overlay / sequence.name, sequence, labels_all, **overlay_options(args)
            )
    log.info(timer.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
