"""``python -m vos_common.datasets KIND ROOT``: read a dataset and say what is there, or what is wrong.

Use it to check a download or a conversion before a long run: every sequence is listed with
its frames, annotated frames, objects, size and pre-computed flows; ``--validate`` also
checks that every listed file exists and decodes every mask against its frame's size.
"""

from __future__ import annotations

import argparse
import sys

from vos_common.datasets import DATASET_KINDS, open_dataset
from vos_common.datasets.summary import format_table, summarize
from vos_common.errors import cli_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vos_common.datasets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=DATASET_KINDS, help="dataset layout")
    parser.add_argument("root", help="dataset root folder (or a video file for kind 'video')")
    parser.add_argument("--split", help="split: DAVIS train/val/test-dev, YouTube-VOS train/valid, "
                        "FBMS train/test, OAST train/val (default: the reader's)")
    parser.add_argument("--task", choices=("semi-supervised", "unsupervised"),
                        help="DAVIS 2017 annotations: Annotations or Annotations_unsupervised")
    parser.add_argument("--resolution", help="DAVIS resolution folder (default 480p)")
    parser.add_argument("--gt-source", choices=("auto", "davis2016-original", "davis2017-binarised"),
                        help="DAVIS 2016: the original release, or the 2016 sets of a 2017 root")
    parser.add_argument("--flow-root", help="folder with forward_gap<g>/ and backward_gap<g>/ flows")
    parser.add_argument("--all-frames", action="store_true", default=None,
                        help="YouTube-VOS: read <split>_all_frames (every 30 fps frame)")
    parser.add_argument("--gt-root", help="YouTube-VOS: folder with full ground truth for local scoring")
    parser.add_argument("--first-mask", help="frames/video: the first frame's mask PNG")
    parser.add_argument("--validate", action="store_true",
                        help="check every file exists and decode every mask (slower)")
    parser.add_argument("--per-sequence", action="store_true", help="one row per sequence")
    return parser


OPTION_NAMES = {"split": "split", "task": "task", "resolution": "resolution",
                "gt_source": "gt_source", "flow_root": "flow_root", "all_frames": "all_frames",
                "gt_root": "gt_root", "first_mask": "first_mask"}


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {name: getattr(args, attr) for attr, name in OPTION_NAMES.items()}
    dataset = open_dataset(args.kind, args.root, **options)
    header = ["sequence", "frames", "annotated", "objects", "size", "flow files"]
    rows = []
    if args.per_sequence:
        from vos_common.datasets.base import SequenceDataset

        for sequence in dataset:
            one = summarize(SequenceDataset(dataset.root, [sequence]), validate=args.validate)
            rows.append([sequence.name, str(one.frames), str(one.annotated_frames), str(one.objects),
                         one.size_text(), str(one.flow_files)])
    total = summarize(dataset, validate=args.validate and not args.per_sequence)
    rows.append([f"all {total.sequences}", str(total.frames), str(total.annotated_frames),
                 str(total.objects), total.size_text(), str(total.flow_files)])
    meta = ", ".join(f"{k}={v}" for k, v in dataset.meta.items() if isinstance(v, (str, int)))
    print(f"{args.kind} at {args.root}" + (f" ({meta})" if meta else ""))
    print(format_table(rows, header))
    if args.validate:
        print("validated: every listed file exists and every mask matches its frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
