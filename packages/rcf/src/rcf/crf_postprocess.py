"""Dense-CRF post-processing of exported masks (the original pydenseCRF/crf.py), process pool.

    python -m rcf.crf_postprocess --input data/data_davis/JPEGImages/480p \\
        --annotation-dir saved/saved_rcf_stage2.2/saved_eval_export --step 4320 --workers 8

For each frame ``<input>/<seq>/<frame>.jpg`` with an export
``<annotation-dir>/pred_seg_<seq>_<frame>_<step>.png``: the PNG is resized to the frame (Pillow's
default filter), channel 0 stretched by 1 / 0.8 into uint8, max-normalised into a two-class
unary, refined by pydensecrf with the bilateral kernel only (sxy 60, srgb 5, compat 5, 50
iterations) and saved as a 0/255 grey PNG under the sibling folder ``<annotation-dir>_crf``
(``<parent>_crf/<slot>`` when the export folder is a slot folder), same file name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vos_common.errors import VOSDataError

from rcf.inference.crf import POSTPROCESS_SCALE, PostprocessJob, postprocess_jobs
from rcf.inference.export import export_file_name
from rcf.tools import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.crf_postprocess",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, help="frame folder holding one sub-folder per sequence"
    )
    parser.add_argument(
        "--annotation-dir", required=True, help="folder of exported masks (pred_seg_*.png)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="output folder (default: the original's rule, <annotation-dir>_crf)",
    )
    parser.add_argument(
        "--allow_skip",
        action="store_true",
        help="skip frames without an exported mask (FBMS-59) instead of stopping",
    )
    parser.add_argument(
        "--step", type=int, default=0, help="step in the export file names (4320 after DAVIS 2.2)"
    )
    parser.add_argument("--seq", default="*", help="sequence name or glob (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument(
        "--sxy", type=float, default=60.0, help="bilateral spatial std (default 60 at 480p)"
    )
    parser.add_argument("--srgb", type=float, default=5.0, help="bilateral colour std (default 5)")
    parser.add_argument("--compat", type=float, default=5.0, help="bilateral weight (default 5)")
    parser.add_argument(
        "--iterations", type=int, default=50, help="mean-field iterations (default 50)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def output_dir_for(annotation_dir: Path) -> Path:
    if len(annotation_dir.name) > 1:
        return annotation_dir.with_name(annotation_dir.name + "_crf")
    return (
        annotation_dir.parent.with_name(annotation_dir.parent.name + "_crf") / annotation_dir.name
    )


def plan_jobs(
    input_dir: Path, annotation_dir: Path, output_dir: Path, step: int, seq: str, allow_skip: bool
) -> tuple[list[PostprocessJob], int]:
    if not input_dir.is_dir():
        raise VOSDataError(input_dir, "frame folder does not exist")
    if not annotation_dir.is_dir():
        raise VOSDataError(annotation_dir, "export folder does not exist")
    frames = sorted(input_dir.glob(f"{seq}/*.jpg"))
    if not frames:
        raise VOSDataError(input_dir, f"no frames matching {seq}/*.jpg")
    jobs, skipped = [], 0
    for frame in frames:
        name = export_file_name(frame.parent.name, frame.stem, step)
        mask = annotation_dir / name
        if not mask.is_file():
            if allow_skip:
                skipped += 1
                continue
            raise VOSDataError(
                mask, "exported mask does not exist (use --allow_skip to skip such frames)"
            )
        jobs.append(PostprocessJob(frame, mask, output_dir / name))
    return jobs, skipped


def main(argv: list[str] | None = None) -> int:
    from vos_common.crf.params import CRFParams

    args = build_parser().parse_args(argv)
    annotation_dir = Path(args.annotation_dir)
    output_dir = Path(args.output) if args.output else output_dir_for(annotation_dir)
    jobs, skipped = plan_jobs(
        Path(args.input), annotation_dir, output_dir, args.step, args.seq, args.allow_skip
    )
    params = CRFParams(
        iterations=args.iterations,
        bilateral_sxy=args.sxy,
        bilateral_srgb=args.srgb,
        bilateral_compat=args.compat,
    )
    print(f"CRF post-processing {len(jobs)} frames with {args.workers} process(es) -> {output_dir}")
    postprocess_jobs(
        jobs, params, POSTPROCESS_SCALE, workers=args.workers, progress=not args.no_progress
    )
    if skipped:
        print(f"skipped {skipped} frames without an exported mask")
    print(f"wrote {len(jobs)} masks to {output_dir}")
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(entry())
