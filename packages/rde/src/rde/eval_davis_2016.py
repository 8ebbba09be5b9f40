"""DAVIS 2016 val evaluation with RDE-VOS, the original ``eval_davis_2016.py`` flags.

    python -m rde.eval_davis_2016 --output prediction/DAVIS-2016-val --davis_path DAVIS/2017 \\
        --model model_s012_final.pth --mode two-frames-compress --mem_every 3 --top 40 \\
        [--split testdev] [--amp]

Reads the 2017 ``trainval`` folder with the 2016 image set (``ImageSets/2016/val.txt``) and all
object ids merged into one foreground (as the original); writes grey 0/255 PNGs
``<output>/<video>/00000.png ...`` at the frame size (no resize, no palette).
``--split`` is accepted because the README's command passes ``--split testdev``, which the
original script rejects; it has no effect (DAVIS 2016 has only the val set here).
Default top-k is 20 (the script's default; the README passes 40).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vos_common.datasets import DAVIS2016
from vos_common.errors import cli_errors

from rde.eval_davis import run_davis
from rde.evaluation import add_common_arguments, log


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rde.eval_davis_2016",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--davis_path", default="../DAVIS/2017",
                        help="DAVIS 2017 root holding trainval/ (read with ImageSets/2016/val.txt)")
    parser.add_argument("--split", default=None,
                        help="accepted for the README's command (--split testdev); ignored")
    add_common_arguments(parser, top=20, repeat=False)
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.split is not None:
        log(f"--split {args.split}: ignored, DAVIS 2016 is evaluated on ImageSets/2016/val.txt "
            "(the original script rejects this flag)")
    args.repeat = None
    root = Path(args.davis_path) / "trainval"
    run_davis(args, lambda: DAVIS2016(root, split="val", gt_source="davis2017-binarised"),
              binary=True, prog="rde.eval_davis_2016")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
