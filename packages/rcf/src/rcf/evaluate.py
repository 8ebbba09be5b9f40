"""Score exported RCF masks with vos_eval under RCF's protocols (spec §5.6, evaluation.md §2.9).

    python -m rcf.evaluate --dataset davis --data-path data/data_davis \\
        --results saved/saved_rcf_stage2.2/saved_eval_export --step 4320 \\
        [--results saved/saved_rcf_stage2.2/saved_eval_export_crf]

DAVIS 2016: RCF's protocol (all frames, prediction resized bilinearly, foreground > 0.35 x 256;
headline **J-FrameMean**, the README's "mIoU") side by side with the standard DAVIS-2016 J&F
(first/last frames dropped, sequence-averaged) on the same binarised masks. SegTrackv2 /
FBMS-59: RCF's frame-weighted IoU at the original resolution (``--data-path`` = the original
dataset with RCF's list file).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

from rcf.tools import run_cli


def _binarise_for_davis(data_path: Path, results: Path, step: int, subset: str, out: Path) -> None:
    """RCF predictions -> ``<out>/<seq>/<frame>.png`` 0/255 by RCF's DAVIS rule (standard J&F)."""
    from vos_common.datasets import open_dataset
    from vos_eval.davis2016 import BinaryJob, read_pred_binary
    from vos_eval.rcf import evaluate_rcf_davis2016  # noqa: F401  (same protocol module)

    dataset = open_dataset("davis2016", data_path, split=subset)
    for seq in dataset:
        for index in seq.annotated_frames:
            frame = seq.frame_paths[index].stem
            pred = results / f"pred_seg_{seq.name}_{frame}_{step:07d}.png"
            gt_shape = seq.original_size
            job = BinaryJob(
                seq.name, (frame,), (seq.annotation_paths[index],), (pred,), pred_rule="rcf-davis"
            )
            mask = read_pred_binary(job, 0, gt_shape)
            target = out / seq.name / f"{frame}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255, "L").save(target)


def evaluate_davis(
    data_path: str | Path, results: str | Path, step: int, subset: str = "val", workers: int = 1
) -> dict:
    """``{"rcf": {...}, "davis2016": {...}}`` global scores of one export folder."""
    from vos_eval import evaluate_davis2016, evaluate_rcf_davis2016

    data_path, results = Path(data_path), Path(results)
    rcf = evaluate_rcf_davis2016(
        data_path, results, subset=subset, step=step, pred_layout="rcf", workers=workers
    )
    with tempfile.TemporaryDirectory(prefix="rcf_davis2016_") as tmp:
        _binarise_for_davis(data_path, results, step, subset, Path(tmp))
        standard = evaluate_davis2016(
            data_path, tmp, task="unsupervised", subset=subset, workers=workers
        )
    return {
        "rcf": {"protocol": rcf.protocol, **{k: float(v) for k, v in rcf.global_scores.items()}},
        "davis2016": {
            "protocol": standard.protocol,
            **{k: float(v) for k, v in standard.global_scores.items()},
        },
    }


def evaluate_iou(
    dataset: str,
    data_path: str | Path,
    results: str | Path,
    step: int,
    list_file: str | None = None,
    workers: int = 1,
) -> dict:
    from vos_eval import evaluate_rcf_iou

    name = {"stv2": "segtrackv2", "fbms59": "fbms59"}[dataset]
    result = evaluate_rcf_iou(
        name, data_path, results, step=step, list_file=list_file, pred_layout="rcf", workers=workers
    )
    return {
        "rcf": {
            "protocol": result.protocol,
            **{k: float(v) for k, v in result.global_scores.items()},
        }
    }


def format_table(rows: list[tuple[str, dict]]) -> str:
    """One line per results folder, RCF's headline and the standard DAVIS numbers side by side."""
    lines = []
    for label, scores in rows:
        rcf = scores.get("rcf", {})
        std = scores.get("davis2016")
        if "J-FrameMean" in rcf:
            text = (
                f"{label:<34} RCF J-FrameMean {100 * rcf['J-FrameMean']:6.2f} | "
                f"RCF J-Mean(all frames) "
                f"{100 * rcf['J-Mean']:6.2f}"
            )
            if std:
                text += (
                    f" | DAVIS-2016 J&F {100 * std['J&F-Mean']:6.2f} J {100 * std['J-Mean']:6.2f} "
                    f"F {100 * std['F-Mean']:6.2f}"
                )
        else:
            text = f"{label:<34} RCF frame-weighted mIoU {100 * rcf['mIoU']:6.2f}"
        lines.append(text)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="davis", choices=["davis", "stv2", "fbms59"], help="protocol family"
    )
    parser.add_argument(
        "--data-path",
        required=True,
        help="DAVIS 2016 root (ImageSets/480p, Annotations/480p); SegTrackv2/FBMS: the "
        "original-resolution dataset",
    )
    parser.add_argument(
        "--results",
        action="append",
        required=True,
        help="folder of pred_seg_*.png (repeat to compare, e.g. before and after CRF)",
    )
    parser.add_argument(
        "--step", type=int, default=0, help="step in the file names (4320 after DAVIS 2.2)"
    )
    parser.add_argument("--subset", default="val", help="DAVIS image set (default val)")
    parser.add_argument(
        "--list-file",
        default=None,
        help="SegTrackv2 / FBMS list file (default trainval.txt / val_all.txt)",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = []
    for folder in args.results:
        if not Path(folder).is_dir():
            raise VOSDataError(folder, "results folder does not exist")
        if args.dataset == "davis":
            scores = evaluate_davis(args.data_path, folder, args.step, args.subset, args.workers)
        else:
            scores = evaluate_iou(
                args.dataset, args.data_path, folder, args.step, args.list_file, args.workers
            )
        rows.append((folder, scores))
    print(format_table(rows))
    if args.json:
        atomic_write_text(args.json, json.dumps({k: v for k, v in rows}, indent=2) + "\n")
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(entry())
