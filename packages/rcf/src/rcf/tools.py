"""Shared pieces of the offline tools (MAA, semantic constraints, CRF, evaluation)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vos_common.errors import VOSDataError


@dataclass(frozen=True)
class DatasetDefaults:
    data_path: str
    maa_split: str  # sequences scored by MAA (the original's hard-coded lists)
    all_split: str  # every training sequence (semantic constraints)
    sc_export_dir: str  # EMA trainval export read by the semantic constraints
    skip_frames_without_gt: bool
    umi_threshold: int | None


DATASETS = {
    "davis": DatasetDefaults(
        "data/data_davis", "val.txt", "trainval.txt", "saved_eval_export_trainval_ema", False, None
    ),
    "stv2": DatasetDefaults(
        "data/data_SegTrackv2_resized",
        "trainval.txt",
        "trainval.txt",
        "saved_eval_export_ema",
        False,
        None,
    ),
    "fbms59": DatasetDefaults(
        "data/data_fbms59_resized",
        "val.txt",
        "trainval.txt",
        "saved_eval_export_trainval_ema",
        True,
        10000,
    ),
}
PL_SUFFIX = "_torchcrf_ncut_torchcrf"


def add_vit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("DINO ViT (key features)")
    group.add_argument(
        "--dino-weights",
        metavar="FILE",
        default=None,
        help="DINO checkpoint to load (dino_deitsmall8_300ep_pretrain.pth for ViT-S/8); "
        "nothing is downloaded",
    )
    group.add_argument(
        "--vit-arch",
        default="vit_small",
        choices=["vit_small", "vit_tiny", "vit_base", "vit_test"],
        help="ViT size (default vit_small = ViT-S/8 as RCF; vit_test is a tiny random net)",
    )
    group.add_argument("--patch-size", type=int, default=8, help="ViT patch size (default 8)")
    group.add_argument(
        "--random-vit",
        action="store_true",
        help="use a randomly initialised ViT (seeded) instead of DINO weights: for tests and "
        "smoke runs only, the results mean nothing",
    )
    group.add_argument("--vit-seed", type=int, default=0, help="seed of --random-vit (default 0)")


def build_vit_from_args(args):
    from rcf.model.vit import build_vit

    if args.dino_weights is None and not args.random_vit:
        raise VOSDataError(None, "give --dino-weights FILE (DINO ViT-S/8 weights) or --random-vit")
    if args.dino_weights is not None and not Path(args.dino_weights).is_file():
        raise VOSDataError(args.dino_weights, "DINO weight file does not exist")
    return build_vit(
        args.vit_arch,
        args.patch_size,
        None if args.random_vit else args.dino_weights,
        seed=args.vit_seed,
    )


def read_image_float(path) -> np.ndarray:
    from vos_common.io import read_frame

    return read_frame(path).astype(np.float32) / 255.0


def split_sequences(data_path: str | Path, split: str):
    from rcf.data.dataset import SplitSequences

    return SplitSequences(data_path, split).sequences


def run_cli(main, argv=None, error_status: int = 2) -> int:
    """Run ``main(argv)``; user errors print one line on stderr and exit with ``error_status``."""
    try:
        return main(argv)
    except VOSDataError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(error_status) from None
    except FileNotFoundError as err:
        print(f"error: {err.filename or err}: no such file or directory", file=sys.stderr)
        raise SystemExit(error_status) from None
