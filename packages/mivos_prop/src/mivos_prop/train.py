"""Train MiVOS propagation: stage 0 (static images), 1 (BL30K) or 2 (DAVIS + YouTube-VOS).

    accelerate launch -m mivos_prop.train --stage 0 --id s0
    accelerate launch -m mivos_prop.train --stage 1 --id s01 --load_network saves/s0/s0_300000.pth
    accelerate launch -m mivos_prop.train --stage 2 --id s012 --load_network saves/s01/s01_500000.pth
    python -m mivos_prop.train --config tiny_synthetic.yaml --id tiny --opts data.davis_root DIR

``--config`` defaults to the stage's YAML in ``mivos_prop/configs/`` (``stage0.yaml`` ...), which
holds the original hyperparameters; ``--opts key value ...`` overrides any of them. The run
folder is ``--output`` (default ``saves/<id>``); ``--resume <run>/checkpoints/step_<n>``
continues exactly (optimizer, schedule, iteration counter, data order), like the original's
``--load_model``. ``--load_network`` loads weights only (the iteration counter restarts at 0, so
the bootstrapped-CE warm-up repeats, as in the original), widening a stage-0 (4-channel) value
encoder to 5 channels. At the end (and every ``train.checkpoint_every`` steps) the network is
also written in the released format, ``<run>/<id>_<step>.pth`` (a bare state_dict).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset
from vos_common.backbones import freeze_batchnorm_stats
from vos_common.config import load_config
from vos_common.datasets.base import read_list_file
from vos_common.errors import VOSDataError, cli_errors
from vos_common.stm import SkipCurriculum
from vos_common.training import StepContext, TrainConfig, Trainer, run_dir_for

from mivos_prop.data import StaticPseudoVideos, VideoTriplets, folder_sequences, static_pairs
from mivos_prop.model import ModelSpec, TrainingNetwork
from mivos_prop.model.checkpoint import load_imagenet, load_network_for_training
from mivos_prop.model.losses import BootstrappedCE, LossConfig, compute_losses, forward_three_frames

CONFIG_PACKAGE = "mivos_prop.configs"


@dataclass
class ModelConfig:
    """Network widths (``resnet50``/128/512 = the released model) and the ImageNet file."""

    arch: str = "resnet50"
    key_dim: int = 128
    value_dim: int = 512
    decoder: list[int] = field(default_factory=lambda: [512, 256, 256])
    imagenet: str | None = None  # torchvision ResNet state_dict file (V1 for ResNet-50)
    freeze_bn: bool = True  # the original: BN statistics frozen, gamma/beta trained
    # From-scratch aid (off = the original): without ``imagenet``, start both encoders from one
    # random torchvision ResNet (as the ImageNet init shares one trunk) and ``kv_m_f16`` as a
    # copy of ``kv_q_f16``, so memory and query keys are comparable from step 0.
    shared_init: bool = False
    # scale of the extra (mask, others) input channels of the value encoder's first conv when
    # ``shared_init`` (1 = the reference's orthogonal init, gain 1)
    mask_channel_gain: float = 1.0
    # From-scratch aid (0 = off): measure BatchNorm statistics on this many training batches
    # before the first step, then keep them frozen (use with freeze_bn true), so that training
    # and evaluation normalise alike (a random network has no statistics worth freezing)
    bn_calibration_batches: int = 0

    def spec(self) -> ModelSpec:
        return ModelSpec(self.arch, self.key_dim, self.value_dim, tuple(self.decoder))


@dataclass
class DataConfig:
    """Data roots (the original's defaults are siblings of the repository) and sampling."""

    static_root: str = "../static"
    bl_root: str = "../BL30K"
    davis_root: str = "../DAVIS"  # holds 2017/trainval
    yv_root: str = "../YouTube"  # holds train_480p
    yv_folder: str = "train_480p"
    davis_subset: str | None = None  # list file of DAVIS videos (util/davis_subset.txt)
    yv_subset: str | None = None  # list file of YouTube-VOS videos (util/yv_subset.txt)
    # instead of davis_subset: trainval/ImageSets/2017/<split>.txt (e.g. train); None = every
    # video under trainval/ (the original with davis_subset unset)
    davis_split: str | None = None
    davis_repeat: int = 5
    use_youtube: bool = True
    # From-scratch aid (0 = off, the original): this many extra videos of vos_common.synth
    # (seed synthetic_seed, never the evaluated benchmark's as long as the seeds differ),
    # rendered once into <run>/synthetic_train and trained on next to DAVIS
    synthetic_videos: int = 0
    synthetic_seed: int = 1000
    synthetic_size: list[int] = field(default_factory=lambda: [64, 96])
    synthetic_frames: int = 10
    synthetic_objects: list[int] = field(default_factory=lambda: [1, 2])
    crop: int | list[int] = 384  # square side (the original), or [height, width]
    skip_values: list[int] = field(default_factory=lambda: [5, 10, 15, 20, 25, 5])
    skip_fractions: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.9])
    static_folders: list[str] = field(
        default_factory=lambda: ["fss", "DUTS-TR", "DUTS-TE", "ecssd", "BIG_small", "HRSOD_small"]
    )
    static_repeat: dict[str, int] = field(
        default_factory=lambda: {"BIG_small": 5, "HRSOD_small": 5}
    )


@dataclass
class MiVOSTrainConfig:
    train: TrainConfig
    stage: int = 2
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)


def default_config(stage: int) -> Path:
    return Path(str(resources.files(CONFIG_PACKAGE) / f"stage{stage}.yaml"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--stage",
        type=int,
        choices=[0, 1, 2],
        default=None,
        help="0 static images (single object), 1 BL30K, 2 DAVIS + YouTube-VOS",
    )
    parser.add_argument("--id", required=True, help="experiment name (run folder saves/<id>)")
    parser.add_argument(
        "--config",
        default=None,
        help="YAML config (default: the stage's config shipped with the package)",
    )
    parser.add_argument(
        "--load_network",
        default=None,
        help="initial weights (previous stage), SO->MO first conv widened",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue exactly from <run>/checkpoints/step_<n> (the original's --load_model)",
    )
    parser.add_argument("--output", default=None, help="run folder (default: saves/<id>)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument(
        "--opts",
        nargs="+",
        default=[],
        metavar="KEY VALUE",
        help="override config values, e.g. --opts train.max_steps 1000",
    )
    return parser


def _subset(path: str | None) -> list[str] | None:
    return None if path is None else read_list_file(path, "video subset list")


def build_dataset(cfg: MiVOSTrainConfig, run_dir: Path | None = None):
    data, stage = cfg.data, cfg.stage
    if stage == 0:
        parts = []
        for folder in data.static_folders:
            pairs = static_pairs(Path(data.static_root) / folder, per_class_folders=folder == "fss")
            side = data.crop if isinstance(data.crop, int) else min(data.crop)  # square only
            parts += [StaticPseudoVideos(pairs, side)] * data.static_repeat.get(folder, 1)
        return ConcatDataset(parts), []
    if stage == 1:
        bl = VideoTriplets(
            folder_sequences(Path(data.bl_root) / "JPEGImages", Path(data.bl_root) / "Annotations"),
            data.crop,
            is_bl=True,
        )
        return bl, [bl]
    davis_root = Path(data.davis_root) / "2017" / "trainval"
    subset = _subset(data.davis_subset)
    if data.davis_split is not None:
        split_file = davis_root / "ImageSets" / "2017" / f"{data.davis_split}.txt"
        if not split_file.is_file():
            raise VOSDataError(
                split_file, f"data.davis_split {data.davis_split!r}: no such list file"
            )
        subset = read_list_file(split_file, "video subset list")
    davis = VideoTriplets(
        folder_sequences(
            davis_root / "JPEGImages" / "480p",
            davis_root / "Annotations" / "480p",
            subset,
        ),
        data.crop,
    )
    parts, curriculum = [davis] * data.davis_repeat, [davis]
    if data.synthetic_videos > 0:
        from vos_common.stm.synthetic import write_training_videos

        images, masks = write_training_videos(
            Path(run_dir if run_dir is not None else ".") / "synthetic_train",
            data.synthetic_videos,
            seed=data.synthetic_seed,
            size=tuple(data.synthetic_size),
            frames=data.synthetic_frames,
            num_objects=tuple(data.synthetic_objects),
        )
        synthetic = VideoTriplets(folder_sequences(images, masks), data.crop)
        parts.append(synthetic)
        curriculum.append(synthetic)
    if data.use_youtube:
        yv_root = Path(data.yv_root) / data.yv_folder
        yv = VideoTriplets(
            folder_sequences(
                yv_root / "JPEGImages", yv_root / "Annotations", _subset(data.yv_subset)
            ),
            data.crop,
            jump_divisor=5,
        )
        parts.append(yv)
        curriculum.append(yv)
    return ConcatDataset(parts), curriculum


def random_trunk(arch: str) -> dict[str, torch.Tensor]:
    """A randomly initialised torchvision ResNet state_dict (``model.shared_init``)."""
    from torchvision.models import resnet18, resnet50

    return {"resnet50": resnet50, "resnet18": resnet18}[arch](weights=None).state_dict()


@torch.no_grad()
def share_key_projection(net: TrainingNetwork, mask_channel_gain: float = 1.0) -> None:
    """``model.shared_init``: memory key/value projection = the query's; mask channels scaled."""
    net.kv_m_f16.load_state_dict(net.kv_q_f16.state_dict())
    net.mask_rgb_encoder.conv1.weight[:, 3:] *= mask_channel_gain


@torch.no_grad()
def calibrate_batchnorm(net: TrainingNetwork, dataset, cfg: MiVOSTrainConfig) -> None:
    """BatchNorm running statistics = the average over ``model.bn_calibration_batches``
    training batches (forward passes only; global RNG states are restored afterwards)."""
    import numpy as np
    from torch.utils.data import DataLoader

    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    np.random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    loader = DataLoader(dataset, batch_size=max(1, cfg.train.batch_size), shuffle=True)
    net.train()
    for index, batch in enumerate(loader):
        if index >= cfg.model.bn_calibration_batches:
            break
        forward_three_frames(
            net, batch["rgb"], batch["gt"], batch.get("sec_gt"), batch.get("selector")
        )
    for bn in bns:
        bn.momentum = 0.1
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def iou(prob: torch.Tensor, gt: torch.Tensor) -> float:
    seg, truth = prob > 0.5, gt > 0.5
    return float(((seg & truth).sum() + 1e-6) / ((seg | truth).sum() + 1e-6))


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_grad_enabled(True)
    if args.config is None and args.stage is None:
        raise VOSDataError(None, "give --stage (to use the shipped config) or --config")
    config_path = args.config or default_config(args.stage)
    opts = list(args.opts)
    if args.stage is not None:
        opts += ["stage", str(args.stage)]
    cfg = load_config(config_path, MiVOSTrainConfig, overrides=opts)
    if args.output:
        run_dir = Path(args.output)
    elif args.resume:
        run_dir = run_dir_for(config_path, None, args.resume)  # the resumed run's folder
    else:
        run_dir = Path("saves") / args.id
    if args.threads:
        torch.set_num_threads(args.threads)
    trainer = Trainer(cfg.train, run_dir, config=cfg, resume=args.resume)
    single = cfg.stage == 0
    imagenet = load_imagenet(cfg.model.imagenet, cfg.model.arch) if cfg.model.imagenet else None
    if imagenet is None and cfg.model.shared_init:
        imagenet = random_trunk(cfg.model.arch)
    net = TrainingNetwork(single_object=single, spec=cfg.model.spec(), imagenet=imagenet)
    if cfg.model.shared_init:
        share_key_projection(net, cfg.model.mask_channel_gain)
    if args.load_network:
        report = load_network_for_training(net, args.load_network)
        trainer.log.info("initial weights: %s", report)
    dataset, curriculum_parts = build_dataset(cfg, run_dir)
    if cfg.model.bn_calibration_batches and not args.resume and not args.load_network:
        calibrate_batchnorm(net, dataset, cfg)
        trainer.log.info(
            "BatchNorm statistics measured on %d batches", cfg.model.bn_calibration_batches
        )
    if cfg.model.freeze_bn:
        freeze_batchnorm_stats(net)  # BN frozen at its loaded statistics; gamma/beta still train
    trainer.setup(net, dataset)
    if curriculum_parts:
        skips = SkipCurriculum.for_iterations(
            trainer.total_steps,
            trainer.steps_per_epoch,
            values=cfg.data.skip_values,
            fractions=cfg.data.skip_fractions,
        )
        set_epoch = trainer.sampler.set_epoch

        def set_epoch_with_curriculum(epoch: int, start_step: int = 0) -> None:
            value = skips.max_skip(epoch)
            for part in curriculum_parts:
                if part.max_skip != value:
                    trainer.log.info("epoch %d: max skip %d", epoch, value)
                part.set_max_skip(value)
            set_epoch(epoch, start_step)

        trainer.sampler.set_epoch = set_epoch_with_curriculum
    loss_fn = BootstrappedCE(cfg.loss)

    def training_step(batch: dict, ctx: StepContext):
        out = forward_three_frames(
            ctx.model, batch["rgb"], batch["gt"], batch.get("sec_gt"), batch.get("selector")
        )
        losses = compute_losses(out, batch["cls_gt"], batch.get("selector"), ctx.step, loss_fn)
        metrics = {
            "loss_1": losses["loss_1"],
            "loss_2": losses["loss_2"],
            "p": losses["p"],
            "iou": iou(out["mask_2"].detach(), batch["gt"][:, 2]),
        }
        return losses["total_loss"], metrics

    trainer.fit(training_step)
    trainer.save_weights(run_dir / f"{args.id}_{trainer.step}.pth")
    trainer.log.info("network saved to %s", run_dir / f"{args.id}_{trainer.step}.pth")
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
