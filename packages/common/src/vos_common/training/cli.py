"""The command line every method's ``train`` entry point shares.

``python -m PKG.train CONFIG [--opts KEY VALUE ...] [--resume DIR] [--output DIR] [--seed N]``,
also under ``accelerate launch [...] -m PKG.train CONFIG ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import TypeVar

from vos_common.config import load_config
from vos_common.training.config import TrainConfig

T = TypeVar("T")

__all__ = ["build_train_parser", "load_train_config"]


def build_train_parser(prog: str, description: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``prog CONFIG [--opts K V ...] [--resume DIR] [--output DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="Multi-process: accelerate launch --multi_gpu --num_processes N -m "
        f"{prog} CONFIG ... (see vos_common docs/training.md).",
    )
    parser.add_argument("config", help="YAML config of the training stage (may name a 'base')")
    parser.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY VALUE",
        help="override config values: dotted keys and YAML values, e.g. --opts train.lr 1e-5",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        help="continue exactly from a checkpoint folder <run>/checkpoints/step_<n>",
    )
    parser.add_argument(
        "--output",
        metavar="DIR",
        help="run folder (default: the resumed run's folder, else runs/<config name>)",
    )
    parser.add_argument(
        "--seed", type=int, help="same as --opts train.seed N (process p uses seed + p)"
    )
    return parser


def load_train_config(args: argparse.Namespace, schema: type[T]) -> T:
    """Load ``args.config`` into ``schema`` with ``--opts`` and ``--seed`` applied.

    ``schema`` must have a ``train: TrainConfig`` field; ``--seed N`` becomes ``train.seed N``.
    """
    hints = typing.get_type_hints(schema)
    names = {f.name for f in dataclasses.fields(schema)}
    if "train" not in names or hints["train"] is not TrainConfig:
        raise TypeError(f"{schema.__name__} needs a field 'train: TrainConfig'")
    opts: Sequence[str] = list(args.opts or [])
    if args.seed is not None:
        opts = [*opts, "train.seed", str(args.seed)]
    return load_config(args.config, schema, overrides=opts)
