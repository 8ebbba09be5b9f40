"""Plumbing shared by OAST's training entry points (Accelerate, logs, checkpoints, monitoring IoU).

OAST trains two networks with two optimizers in a fixed order per iteration (spec §3), which
``vos_common.training.Trainer`` (one loss, one optimizer) does not express, so the two training
scripts drive Accelerate themselves and reuse vos_common's pieces: config loading, seeding,
the deterministic global-batch data order, optimizers, schedules, the EMA teacher and the
metric logger.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm
from vos_common.config import config_to_dict, dump_config, format_config, load_config
from vos_common.errors import VOSDataError
from vos_common.training.logs import console_logger

from oast.checkpoint import load_backbone, load_weights, read_checkpoint, save_checkpoint
from oast.model.network import MobileViTVOS

__all__ = [
    "make_accelerator",
    "log_start",
    "build_network",
    "evaluate_iou",
    "save_run_checkpoint",
    "collate",
    "load_phase_config",
    "add_common_flags",
    "flag_overrides",
    "world_size",
]


def world_size() -> int:
    """Processes of this launch (``accelerate launch`` / torchrun set ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def make_accelerator(mixed_precision: str = "no"):
    """An Accelerator on the GPU when there is one, else on the CPU (gloo for several processes).

    Mixed precision is requested only where it exists (the release asks for autocast always; on
    a CPU it is off, as the release's autocast disables itself there).
    """
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    acc = Accelerator(
        cpu=not cuda,
        mixed_precision=mixed_precision if cuda else "no",
        step_scheduler_with_optimizer=False,
    )
    if world_size() > 1 and acc.num_processes != world_size():
        raise RuntimeError(
            f"launched as {world_size()} processes but Accelerate set up "
            f"{acc.num_processes}; use accelerate launch --multi_gpu (also on CPU)"
        )
    return acc


def log_start(
    log: logging.Logger, accelerator, config: Any, argv: Sequence[str], what: str
) -> None:
    """Say what is run, with which config, on which processes and versions."""
    import accelerate

    lines = [
        f"{what}",
        f"command: {shlex.join(argv)}",
        f"processes: {accelerator.num_processes} ({accelerator.distributed_type.value}), "
        f"device {accelerator.device}, precision {accelerator.mixed_precision}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, "
        f"accelerate {accelerate.__version__}",
        "resolved config:\n" + format_config(config).rstrip(),
    ]
    log.info("\n".join(lines))


def build_network(cfg_model, log: logging.Logger | None = None) -> MobileViTVOS:
    """The network of ``cfg_model``, from ``finetune`` (strict) or ``pretrained`` (backbone)."""
    model = MobileViTVOS(cfg_model.scale, cfg_model.dropout)
    if cfg_model.finetune:
        load_weights(model, cfg_model.finetune)
        if log:
            log.info("loaded OAST weights from %s", cfg_model.finetune)
    elif cfg_model.pretrained:
        n = load_backbone(model, cfg_model.pretrained)
        if log:
            log.info(
                "loaded the MobileViT-%s backbone from %s (%d encoder tensors)",
                cfg_model.scale,
                cfg_model.pretrained,
                n,
            )
    elif log:
        log.warning("no --pretrained backbone and no --finetune checkpoint: training from scratch")
    return model


def collate(samples: list[dict]) -> dict:
    """Stack tensors and ints; keep strings as lists."""
    out: dict = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if torch.is_tensor(values[0]):
            out[key] = torch.stack(values)
        elif isinstance(values[0], int):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


@torch.no_grad()
def evaluate_iou(
    model: nn.Module, loader, device: torch.device, *, progress: bool = True, desc: str = "eval"
) -> tuple[float, int]:
    """The release's monitoring IoU (vos_eval.oast) of ``model`` in eval mode over ``loader``:
    sigmoid ≥ 0.5 against the resized ground truth at the network resolution, mean of the
    per-batch means; frames without ground truth are skipped. Returns (IoU, frames)."""
    from vos_eval.oast import OASTIoUMeter

    was_training = model.training
    model.eval()
    meter, frames = OASTIoUMeter(), 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True):
        keep = batch["has_mask"].bool()
        if not keep.any():
            continue
        logits = model(batch["image"][keep].to(device), batch["flow"][keep].to(device))[0]
        pred = (torch.sigmoid(logits) >= 0.5).float().cpu().numpy()
        meter.update(pred, batch["mask"][keep].numpy())
        frames += int(keep.sum())
    model.train(was_training)
    return meter.value, frames


def save_run_checkpoint(path: str | os.PathLike, **entries) -> Path:
    """Atomically write a checkpoint dict (weights_only-loadable: tensors and plain data only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, **entries)
    return path


def add_common_flags(parser: argparse.ArgumentParser, default_config: str) -> None:
    """Flags shared by the training scripts: config, --opts, data and model choices."""
    parser.add_argument(
        "--config",
        default=default_config,
        help=f"YAML config (a packaged name or a file; default {default_config}); "
        "the flags below override it",
    )
    parser.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY VALUE",
        help="dotted config overrides applied last, e.g. --opts train.epochs 2",
    )
    parser.add_argument(
        "--data_dir",
        "--data-dir",
        dest="data_dir",
        help="folder holding <Dataset>/<split>/{images,flows,labels} (data.data_dir)",
    )
    parser.add_argument(
        "--model_scale",
        choices=("xxs", "xs", "s"),
        help="MobileViT scale of the network (model.scale; s for phases A/B, xxs for C "
        "in the release's first upload; the weights must match)",
    )
    parser.add_argument(
        "--dropout", type=float, help="dropout before the head (model.dropout; released 0)"
    )
    parser.add_argument(
        "--img_size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="network input size, multiples of 64 (data.img_size; 384 640)",
    )
    parser.add_argument("--mean", type=float, nargs=3, help="image mean (data.mean; ImageNet)")
    parser.add_argument("--std", type=float, nargs=3, help="image std (data.std; ImageNet)")
    parser.add_argument(
        "--test_datasets",
        nargs="+",
        help="datasets for the monitoring IoU / tuned in phase C (data.test_datasets; "
        "DAVIS-2016 FBMS)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="number of epochs (train.epochs; release: 30 phase A, 25 phase B, 10 phase C)",
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        help="samples per process and iteration, as in the release (the config's "
        "train.batch_size is the global batch = this x processes)",
    )
    parser.add_argument(
        "--lr_g", type=float, help="segmentation network learning rate (train.optimizer.lr)"
    )
    parser.add_argument(
        "--lr_d", type=float, help="discriminator learning rate (disc_optimizer.lr)"
    )
    parser.add_argument(
        "--weight_decay", type=float, help="AdamW weight decay of both optimizers (1e-2)"
    )
    parser.add_argument(
        "--lambda_adv", type=float, help="adversarial weight (loss.lambda_adv; 1e-4)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="random seed (train.seed; 0); every process and sample derives its own",
    )
    parser.add_argument("--num_workers", type=int, help="data loader workers (train.num_workers)")
    parser.add_argument("--save_dir", help="folder for checkpoints and logs (save_dir)")
    parser.add_argument(
        "--experiment", help="run name, prefix of the checkpoint files (experiment)"
    )
    parser.add_argument("--max_iters_per_epoch", type=int, help="cut epochs short (smoke runs)")
    parser.add_argument(
        "--selection",
        choices=("last", "test_gt"),
        help="checkpoint rule: last (default, no test labels) or test_gt (the "
        "release's choice of the epoch on the test ground truth)",
    )
    parser.add_argument("--local_rank", "--local-rank", type=int, help=argparse.SUPPRESS)


_COMMON = {
    "data_dir": "data.data_dir",
    "model_scale": "model.scale",
    "dropout": "model.dropout",
    "img_size": "data.img_size",
    "mean": "data.mean",
    "std": "data.std",
    "test_datasets": "data.test_datasets",
    "epochs": "train.epochs",
    "lr_g": "train.optimizer.lr",
    "lr_d": "disc_optimizer.lr",
    "lambda_adv": "loss.lambda_adv",
    "seed": "train.seed",
    "num_workers": "train.num_workers",
    "save_dir": "save_dir",
    "experiment": "experiment",
    "max_iters_per_epoch": "max_iters_per_epoch",
    "selection": "selection",
}


def _yaml_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)


def flag_overrides(args: argparse.Namespace, mapping: dict[str, str]) -> list[str]:
    """``--opts``-style pairs for every given flag of ``mapping`` (plus the common ones)."""
    pairs: list[str] = []
    for flag, key in {**_COMMON, **mapping}.items():
        value = getattr(args, flag, None)
        if value is not None:
            pairs += [key, _yaml_value(value)]
    if getattr(args, "weight_decay", None) is not None:
        pairs += [
            "train.optimizer.weight_decay",
            repr(args.weight_decay),
            "disc_optimizer.weight_decay",
            repr(args.weight_decay),
        ]
    if getattr(args, "batch_size", None) is not None:
        pairs += ["train.batch_size", str(args.batch_size * world_size())]
    return pairs + list(args.opts or [])


def load_phase_config(args: argparse.Namespace, schema, mapping: dict[str, str]):
    """The config file of ``args.config`` with the given flags and ``--opts`` applied."""
    from oast.config import config_path

    path = config_path(args.config)
    try:
        return load_config(path, schema, overrides=flag_overrides(args, mapping))
    except (ValueError, TypeError) as err:
        if isinstance(err, VOSDataError):
            raise
        raise VOSDataError(path, str(err)) from None


def resume_state(path: str | os.PathLike) -> dict:
    """A ``*_last.pth`` written by a training script, for ``--resume``."""
    state = read_checkpoint(path)
    for key in ("model", "epoch", "optimizer_G", "optimizer_D"):
        if key not in state:
            raise VOSDataError(path, f"not a resumable OAST training checkpoint (no {key!r})")
    return state


def write_config(run_dir: Path, config: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, run_dir / f"{getattr(config, 'experiment', 'config')}.yaml")


def plain_config(config: Any) -> dict:
    return config_to_dict(config)


def get_logger(accelerator) -> logging.Logger:
    return console_logger(accelerator.is_main_process, accelerator.process_index)


def argv_for_log() -> list[str]:
    return [Path(sys.argv[0]).name, *sys.argv[1:]]
