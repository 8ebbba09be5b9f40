"""``python -m vos_common.synth`` / ``vos-synth``: write the synthetic benchmark in a dataset layout.

Example: ``python -m vos_common.synth --format davis2017 --out /tmp/synth --sequences 4``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vos_common.errors import cli_errors
from vos_common.synth.config import SynthConfig
from vos_common.synth.video import LazyVideos
from vos_common.synth.writers import FORMATS, write_benchmark

DEFAULTS = SynthConfig()


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line on stderr (no usage block), status 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def frame_size(text: str) -> tuple[int, int]:
    """``"96x160"`` -> ``(96, 160)`` (height x width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 96x160, got {text!r}")
    height, width = (int(part) for part in parts)
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError(f"height and width must be >= 16, got {text!r}")
    return height, width


def object_range(text: str) -> tuple[int, int]:
    """``"2"`` -> ``(2, 2)``; ``"1-3"`` -> ``(1, 3)``."""
    parts = text.split("-")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH such as 1-3, got {text!r}")
    low, high = int(parts[0]), int(parts[-1])
    if low < 1 or high < low:
        raise argparse.ArgumentTypeError(f"expected 1 <= LOW <= HIGH, got {text!r}")
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m vos_common.synth",
        description="Generate the seeded synthetic VOS benchmark (textured objects with exact masks and "
                    "exact optical flow) and write it in a dataset layout. Layouts: "
                    "packages/common/docs/synth.md.",
    )
    parser.add_argument("--format", required=True, choices=(*FORMATS, "all"),
                        help="dataset layout to write; 'all' writes every layout into OUT/<format>/")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--sequences", type=positive_int, metavar="N", default=4,
                        help="number of videos; the first ~2/3 are train, the rest val (default: 4)")
    parser.add_argument("--frames", type=positive_int, metavar="N", default=DEFAULTS.frames,
                        help=f"frames per video (default: {DEFAULTS.frames})")
    parser.add_argument("--size", type=frame_size, default=(DEFAULTS.height, DEFAULTS.width), metavar="HxW",
                        help=f"frame size, height x width, each >= 16 (default: {DEFAULTS.height}x{DEFAULTS.width})")
    parser.add_argument("--seed", type=int, metavar="S", default=DEFAULTS.seed,
                        help="base seed; video i depends only on (seed, i) (default: 0)")
    low, high = DEFAULTS.object_range
    parser.add_argument("--objects", type=object_range, default=(low, high), metavar="N|LOW-HIGH",
                        help=f"objects per video, fixed or an inclusive range (default: {low}-{high})")
    parser.add_argument("--late-objects", type=non_negative_int, metavar="N", default=DEFAULTS.late_objects,
                        help="objects per video that enter or appear after frame 0 "
                             f"(default: {DEFAULTS.late_objects})")
    parser.add_argument("--fbms-every", type=positive_int, metavar="N", default=DEFAULTS.fbms_every,
                        help="FBMS-style sparse annotation step: frame 1 then every N-th "
                             f"(default: {DEFAULTS.fbms_every})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    height, width = args.size
    try:
        config = SynthConfig(height=height, width=width, frames=args.frames, num_objects=args.objects,
                             seed=args.seed, late_objects=args.late_objects, fbms_every=args.fbms_every)
    except ValueError as err:
        parser.error(str(err))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    summary = write_benchmark(LazyVideos(config, args.sequences), format=args.format, out=args.out,
                              progress=not args.no_progress)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
