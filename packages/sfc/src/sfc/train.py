"""Fine-grained correspondence (FC) pre-training: the original ``train.py`` on vos_common's Trainer.

    accelerate launch -m sfc.train --data-path YTVOS_ROOT --output-dir runs/fc
    python -m sfc.train --data-path YTVOS_ROOT --resume runs/fc/checkpoints/step_1000

The original flags (``--batch-size``, ``--lr``, ``--epochs``, ...) override the YAML config
(default: ``configs/fc_pretrain.yaml``, the original defaults); ``--opts KEY VALUE`` overrides any
config key. Data: YouTube-VOS ``train_all_frames`` with ``ytvos.csv`` (generated into the run
folder if missing) or, with ``--dataset KIND``, the frames of any vos_common dataset. At the end
the network is exported as ``<output-dir>/pretrained_fc.pth`` in the original container
(``{'model', 'epoch', 'args'}``), which ``test_vos --fc-model fine-grained`` loads.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vos_common.config import config_to_dict
from vos_common.datasets import DATASET_KINDS, open_dataset
from vos_common.errors import VOSDataError, cli_errors
from vos_common.training import StepContext, Trainer, load_train_config, run_dir_for
from vos_common.training.config import TrainConfig

CONFIG_DIR = Path(__file__).with_name("configs")
DEFAULT_CONFIG = CONFIG_DIR / "fc_pretrain.yaml"
PROG = "python -m sfc.train"


@dataclass
class FCModelConfig:
    arch: str = "resnet18"
    projection_hidden_dim: int = 2048
    projection_dim: int = 256
    prediction_hidden_dim: int = 2048
    momentum_target: float = 0.99
    pos_radius: float = 0.5
    remove_stride_layers: list[str] = field(default_factory=lambda: ["layer3", "layer4"])


@dataclass
class FCDataConfig:
    data_path: str = ""
    dataset: str = "ytvos"  # 'ytvos': train_all_frames + ytvos.csv; else a vos_common kind
    split: str | None = None  # split for vos_common kinds (their default if null)
    img_size: int = 256
    min_crop: float = 0.0
    max_crop: float = 1.0
    frame_rate: int = 30
    clip_len: int = 1
    clips_per_video: int = 80


@dataclass
class FCPretrainConfig:
    train: TrainConfig
    model: FCModelConfig = field(default_factory=FCModelConfig)
    data: FCDataConfig = field(default_factory=FCDataConfig)
    save_ckpt_freq: int = 10  # epochs between checkpoints (0: use train.checkpoint_every)


# original flag -> (config key, type)
ORIGINAL_FLAGS = {
    "--arch": ("model.arch", str),
    "--batch-size": ("train.batch_size", int),
    "--epochs": ("train.epochs", int),
    "--projection-hidden-dim": ("model.projection_hidden_dim", int),
    "--projection-dim": ("model.projection_dim", int),
    "--prediction-hidden-dim": ("model.prediction_hidden_dim", int),
    "--momentum-target": ("model.momentum_target", float),
    "--pos-radius": ("model.pos_radius", float),
    "--lr": ("train.optimizer.lr", float),
    "--weight-decay": ("train.optimizer.weight_decay", float),
    "--img-size": ("data.img_size", int),
    "--min-crop": ("data.min_crop", float),
    "--max-crop": ("data.max_crop", float),
    "--data-path": ("data.data_path", str),
    "--frame-rate": ("data.frame_rate", int),
    "--clip-len": ("data.clip_len", int),
    "--clips-per-video": ("data.clips_per_video", int),
    "--workers": ("train.num_workers", int),
    "--save-ckpt-freq": ("save_ckpt_freq", int),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "config",
        nargs="?",
        default=str(DEFAULT_CONFIG),
        help="YAML config (may name a 'base'); the default holds the original defaults",
    )
    original = parser.add_argument_group(
        "options of the original train.py (each overrides its config key; default: the config's)"
    )
    for flag, (key, kind) in ORIGINAL_FLAGS.items():
        original.add_argument(flag, type=kind, default=None, help=f"sets {key}")
    original.add_argument(
        "--remove-stride-layers",
        nargs="+",
        default=None,
        help="sets model.remove_stride_layers (only 'layer3 layer4' is supported)",
    )
    original.add_argument(
        "--output-dir",
        "--output",
        dest="output",
        default=None,
        help="run folder: config, metrics.csv, checkpoints/, pretrained_fc.pth "
        "(default: the resumed run's folder, else runs/<config name>)",
    )
    original.add_argument("--seed", type=int, default=None, help="sets train.seed")
    original.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default=None,
        help="cpu forces the CPU; default: a GPU when present",
    )
    original.add_argument(
        "--enable-wandb",
        default=None,
        help="accepted for compatibility; metrics go to metrics.csv and TensorBoard",
    )
    original.add_argument(
        "--project", default=None, help="accepted for compatibility (W&B project)"
    )
    ours = parser.add_argument_group("vos-suite options")
    ours.add_argument(
        "--dataset",
        choices=("ytvos", *DATASET_KINDS),
        default=None,
        help="sets data.dataset: 'ytvos' = train_all_frames + ytvos.csv, or the "
        "frames of any vos_common dataset",
    )
    ours.add_argument("--split", default=None, help="sets data.split (vos_common datasets)")
    ours.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY VALUE",
        help="override config values: dotted keys and YAML values",
    )
    ours.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue exactly from <run>/checkpoints/step_<n>",
    )
    return parser


def overrides(args: argparse.Namespace) -> list[str]:
    """The original flags given on the command line as ``--opts`` pairs (then ``--opts`` itself)."""
    opts: list[str] = []
    for flag, (key, _) in ORIGINAL_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            opts += [key, str(value)]
            if key == "train.epochs":
                opts += ["train.max_steps", "null"]
    if args.remove_stride_layers is not None:
        opts += ["model.remove_stride_layers", "[" + ",".join(args.remove_stride_layers) + "]"]
    if args.dataset is not None:
        opts += ["data.dataset", args.dataset]
    if args.split is not None:
        opts += ["data.split", args.split]
    return opts + list(args.opts)


def training_videos(cfg: FCDataConfig, run_dir: Path, log=print) -> list[list[Path]]:
    """Frame paths of every training video."""
    from sfc.data.ytvos import ytvos_videos

    if not cfg.data_path:
        raise VOSDataError(
            None, "no training data: give --data-path (and --dataset for non-YouTube-VOS data)"
        )
    if cfg.dataset == "ytvos":
        return ytvos_videos(cfg.data_path, csv_fallback_dir=run_dir, log=log)
    options = {} if cfg.split is None else {"split": cfg.split}
    dataset = open_dataset(cfg.dataset, cfg.data_path, **options)
    return [list(sequence.frame_paths) for sequence in dataset]


def export_args(cfg: FCPretrainConfig) -> argparse.Namespace:
    """An ``args`` Namespace with the original flag names, for the exported container."""
    tree = config_to_dict(cfg)
    values = {}
    for flag, (key, _) in ORIGINAL_FLAGS.items():
        node = tree
        for part in key.split("."):
            node = node[part]
        values[flag.lstrip("-").replace("-", "_")] = node
    values["remove_stride_layers"] = list(cfg.model.remove_stride_layers)
    values["seed"] = cfg.train.seed
    return argparse.Namespace(**values)


def log(message: str) -> None:
    print(f"[sfc.train] {message}", file=sys.stderr, flush=True)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    from sfc.data.pairs import FramePairs
    from sfc.model.fine_grained import FineGrained, target_momentum

    args = build_parser().parse_args(argv)
    args.opts = overrides(args)
    cfg = load_train_config(args, FCPretrainConfig)
    if cfg.data.frame_rate < 1 or cfg.data.clip_len < 1:
        raise VOSDataError(None, "data.frame_rate and data.clip_len must be at least 1")
    run_dir = run_dir_for(args.config, args.output, args.resume)
    if args.enable_wandb is not None or args.project is not None:
        log("W&B is not used: metrics go to metrics.csv and TensorBoard in the run folder")
    videos = training_videos(cfg.data, run_dir, log)
    dataset = FramePairs(
        videos,
        cfg.data.img_size,
        cfg.data.min_crop,
        cfg.data.max_crop,
        cfg.data.clip_len,
        max(1, round(30 / cfg.data.frame_rate)),
        cfg.data.clips_per_video,
        seed=cfg.train.seed,
    )
    if cfg.save_ckpt_freq > 0:
        steps_per_epoch = max(1, len(dataset) // cfg.train.batch_size)
        cfg.train.checkpoint_every = cfg.save_ckpt_freq * steps_per_epoch
    command = ["python", "-m", "sfc.train", *(sys.argv[1:] if argv is None else argv)]
    trainer = Trainer(
        cfg.train,
        run_dir,
        config=cfg,
        resume=args.resume,
        argv=command,
        cpu=True if args.device == "cpu" else None,
    )
    model = FineGrained(
        cfg.model.arch,
        cfg.model.projection_hidden_dim,
        cfg.model.projection_dim,
        cfg.model.prediction_hidden_dim,
        cfg.model.pos_radius,
        tuple(cfg.model.remove_stride_layers),
    )
    trainer.setup(model, dataset)
    dataset.epoch_source = trainer.sampler
    total = trainer.total_steps

    def fc_step(batch: dict, ctx: StepContext):
        momentum = target_momentum(ctx.step, total, cfg.model.momentum_target)
        loss = ctx.model(
            batch["view1"], batch["view2"], batch["box1"], batch["box2"], momentum=momentum
        )
        return loss, {"momentum": momentum}

    trainer.fit(fc_step)
    if trainer.is_main:
        from vos_common.checkpoint import save_checkpoint

        state = {k: v.detach().cpu() for k, v in trainer.unwrapped_model().state_dict().items()}
        out = run_dir / "pretrained_fc.pth"
        save_checkpoint({"model": state, "epoch": trainer.epoch, "args": export_args(cfg)}, out)
        log(
            f"exported {out} ({len(state)} tensors); use it with "
            f"`python -m sfc.test_vos --fc-model fine-grained --checkpoint-dir {run_dir}`"
        )
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
