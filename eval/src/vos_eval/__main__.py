"""Command line: ``python -m vos_eval <protocol> ...`` (also installed as ``vos-eval``).

Subcommands: ``davis`` (DAVIS 2017 semi-supervised / unsupervised, DAVIS 2016 with
``--year 2016``), ``rcf-davis2016``, ``segtrack``, ``fbms`` (RCF's protocols), ``youtube``
(local J/F), ``youtube-pack`` / ``youtube-check`` (server submission), ``oast`` (OAST's
training-time IoU over two mask folders).

Every run prints the protocol in words, the official tables, and writes the official CSVs
plus a JSON with per-object per-frame values, atomically, only when the run succeeded.
Bad input prints one line naming the file, the sequence and the frame, and exits with 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vos_common.errors import VOSDataError, cli_errors

from vos_eval.metrics import BOUND_TH
from vos_eval.parallel import default_workers


def _common(
    parser: argparse.ArgumentParser, results_help: str = "folder with the predictions"
) -> None:
    parser.add_argument("--results-path", "--results_path", required=True, help=results_help)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"processes, one sequence per task (this machine: {default_workers()} CPUs)",
    )
    parser.add_argument("--sequences", nargs="+", help="score only these sequences / videos")
    parser.add_argument(
        "--output-dir", help="where the CSV / JSON go (default: the results folder)"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write results-<set>.json")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vos_eval", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    davis = commands.add_parser("davis", help="DAVIS 2017 (semi-supervised / unsupervised) or 2016")
    davis.add_argument(
        "--task", choices=["semi-supervised", "unsupervised"], default="semi-supervised"
    )
    davis.add_argument(
        "--davis-path",
        "--davis_path",
        required=True,
        help="DAVIS root (JPEGImages, Annotations, ImageSets)",
    )
    davis.add_argument("--set", default="val", help="image set (default val)")
    davis.add_argument("--year", type=int, choices=[2016, 2017], default=2017)
    davis.add_argument("--resolution", default="480p")
    davis.add_argument(
        "--gt-source",
        choices=["auto", "original", "2017"],
        default="auto",
        help="2016 only: original 2016 release or sets derived from 2017 (auto: by layout)",
    )
    davis.add_argument(
        "--bound-th", type=float, default=BOUND_TH, help="F tolerance (fraction of the diagonal)"
    )
    davis.add_argument(
        "--official-decay-wrap",
        action="store_true",
        help="reproduce the official uint8 Decay bins (differs only for >= 257 frames)",
    )
    davis.add_argument(
        "--reuse-csv",
        action="store_true",
        help="print existing CSVs instead of evaluating (never done silently)",
    )
    _common(davis)

    rcf = commands.add_parser(
        "rcf-davis2016", help="RCF's DAVIS 2016 protocol (all frames, J-FrameMean)"
    )
    rcf.add_argument(
        "--davis-path", "--davis_path", required=True, help="DAVIS 2016 root (original release)"
    )
    rcf.add_argument("--set", default="val")
    rcf.add_argument("--step", type=int, default=0, help="step in RCF's prediction names")
    rcf.add_argument("--resolution", default="480p")
    rcf.add_argument("--pred-layout", choices=["auto", "rcf", "folders"], default="auto")
    rcf.add_argument("--gt-source", choices=["auto", "original", "2017"], default="auto")
    _common(rcf, "RCF's prediction folder (pred_seg_<seq>_<frame>_<step>.png) or <seq>/<frame>.png")

    for name, label in (("segtrack", "SegTrackv2"), ("fbms", "FBMS-59")):
        sub = commands.add_parser(name, help=f"RCF's {label} frame-weighted IoU protocol")
        sub.add_argument(
            "--data-path",
            required=True,
            help=f"RCF's data folder with its list file, or the original {label} release",
        )
        sub.add_argument(
            "--list-file", help="RCF list file (default trainval.txt / val_all.txt in --data-path)"
        )
        sub.add_argument("--step", type=int, default=0)
        sub.add_argument("--pred-layout", choices=["auto", "rcf", "folders"], default="auto")
        if name == "fbms":
            sub.add_argument(
                "--split", default="test", help="original release: train, test or trainval"
            )
        _common(
            sub, "RCF's prediction folder (pred_seg_<seq>_<index>_<step>.png) or <seq>/<frame>.png"
        )

    youtube = commands.add_parser(
        "youtube", help="local J/F on YouTube-VOS-format data with full GT"
    )
    youtube.add_argument(
        "--data-path", required=True, help="root holding <split>/Annotations and <split>/meta.json"
    )
    youtube.add_argument("--split", default="train")
    youtube.add_argument("--meta", help="meta.json (default <data-path>/<split>/meta.json)")
    youtube.add_argument(
        "--gt-dir",
        help="full ground truth <video>/<frame>.png (default <data-path>/<split>/Annotations)",
    )
    youtube.add_argument(
        "--seen-categories", help="file with one seen category per line, or a train meta.json"
    )
    youtube.add_argument(
        "--include-first-frame", action="store_true", help="also score each object's given frame"
    )
    _common(youtube)

    pack = commands.add_parser("youtube-pack", help="build the YouTube-VOS server zip")
    pack.add_argument("--meta", required=True, help="meta.json of the split (valid or test)")
    pack.add_argument(
        "--predictions", required=True, help="<dir>/<video>/<frame>.png (or <dir>/Annotations/...)"
    )
    pack.add_argument("--output", required=True, help="zip to write")
    pack.add_argument("--annotations", help="the split's Annotations folder, to check sizes")
    pack.add_argument(
        "--keep-extra-frames", action="store_true", help="also pack frames that are not required"
    )
    pack.add_argument("--no-pixel-check", action="store_true", help="skip decoding every PNG")

    check = commands.add_parser(
        "youtube-check", help="check a YouTube-VOS submission zip or folder"
    )
    check.add_argument("--meta", required=True)
    check.add_argument("--submission", required=True)

    oast = commands.add_parser("oast", help="OAST's training-time IoU over two folders of masks")
    oast.add_argument("--gt-dir", required=True)
    oast.add_argument("--pred-dir", required=True)
    return parser


def _seen_categories(path: str | None) -> set[str] | None:
    if path is None:
        return None
    file = Path(path)
    if file.suffix == ".json":
        from vos_common.datasets import read_ytvos_meta

        return {
            obj["category"]
            for objects in read_ytvos_meta(file).values()
            for obj in objects.values()
            if obj["category"] is not None
        }
    if not file.is_file():
        raise VOSDataError(file, "seen-categories file does not exist")
    return {line.strip() for line in file.read_text().splitlines() if line.strip()}


def _report(result, args, subset: str, start: float) -> None:
    from vos_eval.report import console_report, write_reports

    output = Path(args.output_dir or args.results_path)
    written = write_reports(result, output, subset, write_json=not args.no_json)
    print(console_report(result, subset))
    print()
    for path in written:
        print(f"Saved {path}")
    print(f"Total time: {time.perf_counter() - start:.2f} s")


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    progress = not getattr(args, "no_progress", True)
    if args.command == "davis":
        if args.reuse_csv:
            from vos_eval.report import console_from_csv, csv_paths, read_csv_reports

            output = Path(args.output_dir or args.results_path)
            global_text, sequence_text = read_csv_reports(output, args.set)
            stamp = time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(csv_paths(output, args.set)[0].stat().st_mtime)
            )
            print(
                f"REUSING precomputed results from {output} (written {stamp}); nothing was "
                f"evaluated. "
                "Run without --reuse-csv after changing predictions."
            )
            print(console_from_csv(global_text, sequence_text, args.set))
            return 0
        from vos_eval.davis import evaluate_davis

        result = evaluate_davis(
            args.davis_path,
            args.results_path,
            task=args.task,
            subset=args.set,
            year=args.year,
            resolution=args.resolution,
            sequences=args.sequences,
            workers=args.workers,
            progress=progress,
            bound_th=args.bound_th,
            official_uint8_wrap=args.official_decay_wrap,
            gt_source=args.gt_source,
        )
        _report(result, args, args.set, start)
    elif args.command == "rcf-davis2016":
        from vos_eval.rcf import evaluate_rcf_davis2016

        result = evaluate_rcf_davis2016(
            args.davis_path,
            args.results_path,
            subset=args.set,
            step=args.step,
            resolution=args.resolution,
            pred_layout=args.pred_layout,
            gt_source=args.gt_source,
            sequences=args.sequences,
            workers=args.workers,
            progress=progress,
        )
        _report(result, args, args.set, start)
    elif args.command in ("segtrack", "fbms"):
        from vos_eval.rcf import evaluate_rcf_iou

        dataset = "segtrackv2" if args.command == "segtrack" else "fbms59"
        result = evaluate_rcf_iou(
            dataset,
            args.data_path,
            args.results_path,
            step=args.step,
            list_file=args.list_file,
            split=getattr(args, "split", None),
            pred_layout=args.pred_layout,
            sequences=args.sequences,
            workers=args.workers,
            progress=progress,
        )
        _report(result, args, dataset, start)
    elif args.command == "youtube":
        from vos_eval.youtube import evaluate_youtube

        result = evaluate_youtube(
            args.data_path,
            args.results_path,
            split=args.split,
            meta_path=args.meta,
            gt_dir=args.gt_dir,
            seen_categories=_seen_categories(args.seen_categories),
            include_first_frame=args.include_first_frame,
            sequences=args.sequences,
            workers=args.workers,
            progress=progress,
        )
        _report(result, args, args.split, start)
    elif args.command in ("youtube-pack", "youtube-check"):
        return _youtube_submission(args)
    elif args.command == "oast":
        _oast(args)
    return 0


def _youtube_submission(args) -> int:
    from vos_eval.youtube import SubmissionIncomplete, check_submission, pack_submission

    try:
        if args.command == "youtube-pack":
            report = pack_submission(
                args.meta,
                args.predictions,
                args.output,
                annotations=args.annotations,
                keep_extra_frames=args.keep_extra_frames,
                check_pixels=not args.no_pixel_check,
            )
            print(
                f"Wrote {report.output}: {report.videos} videos, {report.frames} frames "
                f"({report.extra_frames} not required) under Annotations/"
            )
        else:
            total = check_submission(args.meta, args.submission)
            print(
                f"{args.submission}: complete, all {total} required frames present under "
                f"Annotations/"
            )
    except SubmissionIncomplete as err:
        print(f"error: {err}", file=sys.stderr)
        print("missing frames:", file=sys.stderr)
        print("\n".join(err.details()), file=sys.stderr)
        return 2
    return 0


def _oast(args) -> None:
    import numpy as np

    from vos_eval.inputs import read_labels
    from vos_eval.oast import DESCRIPTION, oast_iou

    gt_dir, pred_dir = Path(args.gt_dir), Path(args.pred_dir)
    if not gt_dir.is_dir():
        raise VOSDataError(gt_dir, "ground-truth folder does not exist")
    values = []
    for gt_path in sorted(gt_dir.rglob("*.png")):
        relative = gt_path.relative_to(gt_dir)
        sequence, frame = str(relative.parent), gt_path.stem
        gt = read_labels(gt_path, sequence, frame, "ground truth")
        pred = read_labels(pred_dir / relative, sequence, frame, "prediction")
        gt_fg = (gt > 0).astype(np.uint8)
        values.append(oast_iou(pred > 0, gt_fg))
    if not values:
        raise VOSDataError(gt_dir, "no PNG masks found")
    print(
        f"Protocol: {DESCRIPTION} Here each frame is one batch of one mask (non-zero = foreground)."
    )
    print(f"OAST IoU: {float(np.mean(values)):.4f} over {len(values)} frames")


if __name__ == "__main__":
    sys.exit(main())
