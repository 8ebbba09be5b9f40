"""Train RDE-VOS: stage 0 (static images), 1 (BL30K), 2/3 (DAVIS 2017 + YouTube-VOS 2019).

    accelerate launch -m rde.train --id s0 --stage 0
    accelerate launch -m rde.train --id s03 --stage 3 --load_network saves/s0/model_75000.pth
    accelerate launch -m rde.train --id s1 --stage 1 --load_network saves/s0/model_75000.pth
    accelerate launch -m rde.train --id s2 --stage 2 --load_network saves/s1/model_500000.pth
    python -m rde.train --id tiny --config tiny_synthetic.yaml --davis_root DIR

The stage's YAML (``rde/configs/s<stage>.yaml``) holds the README's values; the original flags
override it (``--lr --steps --iterations --batch_size --start_warm --end_warm --klloss_weight
--decoder_f2_weight --decoder_f4_weight --perturb_min --perturb_max ...``), and so does
``--opts key value``. ``--batch_size`` is per process, as in the original (the config's
``train.batch_size`` is the global batch). The run folder is ``<out_root>/<id>`` (or
``--output``); it receives ``model_<it>.pth`` (the released format) every ``--save_interval``
iterations and at the end, resumable checkpoint folders ``checkpoints/step_<it>``
(``--resume``), ``config.yaml`` and ``metrics.csv``. ``--load_network`` loads weights only (the
iteration counter restarts, so the bootstrapped-CE warm-up repeats, as in the original); a
stage-0 file gets the 4 → 5 channel surgery and leaves SAM at its initialisation.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset
from vos_common.config import load_config
from vos_common.datasets.base import read_list_file
from vos_common.errors import VOSDataError, cli_errors
from vos_common.stm import SkipCurriculum
from vos_common.training import StepContext, TrainConfig, Trainer
from vos_common.training.optim import build_optimizer

from rde.data.clips import VideoClips
from rde.data.static import StaticPseudoVideos, static_pairs
from rde.model.checkpoint import load_imagenet_trunks, load_network_for_training
from rde.model.losses import LossConfig, training_pass
from rde.model.network import ModelSpec, RDETrainingNetwork

CONFIG_PACKAGE = "rde.configs"


@dataclass
class ModelConfig:
    """``width_div`` 1 = the released network; ``repeat`` = SE blocks per SAM branch."""

    width_div: int = 1
    repeat: int = 0
    key_dim: int | None = None             # smoke scale only: key channels (None: 64 / width_div)
    imagenet_resnet50: str | None = None  # torchvision resnet50 file (key encoder init)
    imagenet_resnet18: str | None = None  # torchvision resnet18 file (value encoder init)
    # From-scratch aids for the CPU smoke scale (off = the original's initialisation):
    sam_init: str = "original"             # "average": identity non-local, averaging collapse
    bn_calibration_batches: int = 0        # BN statistics measured on N batches, then frozen
    mask_input_gain: float = 1.0           # value stem's mask-channel weights scaled at init
    freeze_bn: bool = True                 # false: BatchNorm trains (from-scratch smoke runs)
    sam_lr_scale: float = 1.0              # SAM's learning rate = lr x this (recurrent stability)


@dataclass
class DataConfig:
    static_root: str = "../static"
    bl_root: str = "../BL30K"
    davis_root: str = "../DAVIS/2017"      # holds trainval/
    yv_root: str = "../YouTube"            # holds train_480p/
    yv_folder: str = "train_480p"
    davis_subset: str | None = None     # util/davis_subset.txt of the original
    davis_split: str | None = None      # instead: trainval/ImageSets/2017/<split>.txt (e.g. train)
    yv_subset: str | None = None        # util/yv_subset.txt of the original
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
    crop: int | list[int] = 384         # square side (the original), or [height, width]
    perturb_min: float = 0.85
    perturb_max: float = 1.0
    perturb_group: int = 1
    frame_affine: bool = True           # per-frame rotation/shear (false: smoke runs only)
    skip_values: list[int] = field(default_factory=lambda: [5, 10, 15, 20, 25, 5])
    skip_fractions: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.9])
    static_folders: list[str] = field(default_factory=lambda: [
        "fss", "DUTS-TR", "DUTS-TE", "ecssd", "BIG_small", "HRSOD_small"])
    static_repeat: dict[str, int] = field(default_factory=lambda: {"BIG_small": 5,
                                                                   "HRSOD_small": 5})


@dataclass
class RDETrainConfig:
    train: TrainConfig
    stage: int = 3
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)


# original flag -> (config key, type)
FLAG_KEYS = {
    "lr": "train.optimizer.lr", "gamma": "train.schedule.gamma", "iterations": "train.max_steps",
    "seed": "train.seed", "save_interval": "train.checkpoint_every",
    "start_warm": "loss.start_warm", "end_warm": "loss.end_warm", "top_p": "loss.top_p",
    "klloss_weight": "loss.klloss_weight", "decoder_f2_weight": "loss.decoder_f2_weight",
    "decoder_f4_weight": "loss.decoder_f4_weight", "temperature": "loss.temperature",
    "perturb_min": "data.perturb_min", "perturb_max": "data.perturb_max",
    "perturb_group": "data.perturb_group", "repeat": "model.repeat",
    "static_root": "data.static_root", "bl_root": "data.bl_root", "yv_root": "data.yv_root",
    "davis_root": "data.davis_root",
}


def default_config(stage: int) -> Path:
    return Path(str(resources.files(CONFIG_PACKAGE) / f"s{stage}.yaml"))


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(prog="python -m rde.train", description=doc[0],
                                     epilog="\n\n".join(doc[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    p = parser.add_argument
    p("--id", required=True, help="experiment name: the run folder is <out_root>/<id>")
    p("--stage", type=int, choices=[0, 1, 2, 3], default=None,
      help="0 static images, 1 BL30K, 2 DAVIS+YouTube-VOS after BL30K, 3 the same without BL30K")
    p("--config", default=None, help="YAML config (default: rde/configs/s<stage>.yaml)")
    p("--opts", nargs="+", default=[], metavar="KEY VALUE",
      help="override config values, e.g. --opts train.log_every 10 data.crop 256")
    p("--load_network", default=None, help="initial weights only (a previous stage's model_*.pth)")
    p("--resume", "--load_model", dest="resume", default=None, metavar="DIR",
      help="continue exactly from <run>/checkpoints/step_<n> (optimizer, schedule, data order)")
    p("--output", default=None, help="run folder (default: <out_root>/<id>)")
    p("--out_root", default="saves", help="parent of the run folder (default saves)")
    p("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    group = parser.add_argument_group("the original's hyper-parameters (override the config)")
    g = group.add_argument
    g("--no_amp", action="store_true", help="train in fp32 (AMP is on by default on GPUs)")
    g("--benchmark", action="store_true", help="torch.backends.cudnn.benchmark")
    g("--seed", type=int, help="random seed (default 14159265)")
    g("--perturb_max", type=float, help="upper IoU of the perturbed first-frame mask (default 1)")
    g("--perturb_min", type=float, help="lower IoU of the perturbed first-frame mask (default 0.85)")
    g("--perturb_group", type=int, help="perturbed masks drawn per object (only the first is used)")
    g("--klloss_weight", type=float,
      help="weight of the mask-consistency (self-correction) KL on first-frame values")
    g("--decoder_f2_weight", type=float,
      help="weight of the unbiased-guidance KL on frame 2's decoder input (SAM vs STM bank)")
    g("--decoder_f4_weight", type=float,
      help="weight of the unbiased-guidance KL on frame 4's decoder input (SAM vs STM bank)")
    g("--temperature", type=float, help="KL temperature (default 1)")
    g("--start_warm", type=int, help="iteration where bootstrapped CE starts")
    g("--end_warm", type=int, help="iteration where bootstrapped CE reaches top_p")
    g("--warm_up", action="store_true", help="linear LR warm-up over iterations/100 steps")
    g("--top_p", type=float, help="final fraction of hardest pixels kept (default 0.15)")
    g("--save_interval", type=int, help="iterations between saved networks/checkpoints")
    g("--repeat", type=int, help="SE blocks inside each SAM branch (0 for released models)")
    g("--temporal_shuffle", action="store_true", help="accepted; no effect (as in the original)")
    g("--norm", action="store_true", help="accepted; no effect (as in the original)")
    g("--static_root", help="static image datasets root (stage 0)")
    g("--bl_root", help="BL30K root (stage 1)")
    g("--yv_root", help="YouTube-VOS root holding train_480p/ (stages 2/3)")
    g("--davis_root", help="DAVIS 2017 root holding trainval/ (stages 2/3)")
    g("-b", "--batch_size", type=int, help="batch size PER PROCESS (as the original)")
    g("-i", "--iterations", type=int, help="total iterations")
    g("--steps", type=int, nargs="*", help="LR decay milestones (iterations)")
    g("--lr", type=float, help="initial learning rate")
    g("--gamma", type=float, help="LR factor at every milestone (default 0.1)")
    g("--debug", action="store_true", help="log every iteration")
    g("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def config_overrides(args: argparse.Namespace) -> list[str]:
    """``--opts``-style overrides from the original flags (only those given)."""
    opts: list[str] = []
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            opts += [key, str(value)]
    if args.steps is not None:
        opts += ["train.schedule.milestones", "[" + ",".join(map(str, args.steps)) + "]"]
    if args.batch_size is not None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        opts += ["train.batch_size", str(args.batch_size * world)]
    if args.no_amp:
        opts += ["train.mixed_precision", "no"]
    if args.debug:
        opts += ["train.log_every", "1"]
    if args.stage is not None:
        opts += ["stage", str(args.stage)]
    return opts


def _subset(path: str | None) -> list[str] | None:
    return None if path is None else read_list_file(path, "video subset list")


def build_dataset(cfg: RDETrainConfig, run_dir: str | os.PathLike | None = None):
    """The stage's training set and the parts that follow the max-skip curriculum."""
    d = cfg.data
    perturb = {"perturb_min": d.perturb_min, "perturb_max": d.perturb_max}
    if cfg.stage == 0:
        parts = []
        for folder in d.static_folders:
            images = static_pairs(Path(d.static_root) / folder, per_class_folders=folder == "fss")
            side = d.crop if isinstance(d.crop, int) else min(d.crop)  # square crops only
            parts += [StaticPseudoVideos(images, side, **perturb)] * d.static_repeat.get(folder, 1)
        return ConcatDataset(parts), []
    clip_options = dict(crop=d.crop, perturb_group=d.perturb_group, frame_affine=d.frame_affine,
                        **perturb)
    if cfg.stage == 1:
        root = Path(d.bl_root)
        bl = VideoClips(root / "JPEGImages", root / "Annotations", is_bl=True, **clip_options)
        return bl, [bl]
    davis_root = Path(d.davis_root) / "trainval"
    subset = _subset(d.davis_subset)
    if d.davis_split is not None:
        split_file = davis_root / "ImageSets" / "2017" / f"{d.davis_split}.txt"
        if not split_file.is_file():
            raise VOSDataError(split_file, f"data.davis_split {d.davis_split!r}: no such list file")
        subset = _subset(str(split_file))
    davis = VideoClips(davis_root / "JPEGImages" / "480p", davis_root / "Annotations" / "480p",
                       subset=subset, **clip_options)
    parts, curriculum = [davis] * d.davis_repeat, [davis]
    if d.synthetic_videos > 0:
        from vos_common.stm.synthetic import write_training_videos

        images, masks = write_training_videos(
            Path(run_dir if run_dir is not None else ".") / "synthetic_train", d.synthetic_videos,
            seed=d.synthetic_seed, size=tuple(d.synthetic_size), frames=d.synthetic_frames,
            num_objects=tuple(d.synthetic_objects))
        synthetic = VideoClips(images, masks, **clip_options)
        parts.append(synthetic)
        curriculum.append(synthetic)
    if d.use_youtube:
        yv_root = Path(d.yv_root) / d.yv_folder
        yv = VideoClips(yv_root / "JPEGImages", yv_root / "Annotations",
                        subset=_subset(d.yv_subset), skip_divisor=5, **clip_options)
        parts.append(yv)
        curriculum.append(yv)
    return ConcatDataset(parts), curriculum


@torch.no_grad()
def calibrate_batchnorm(net: RDETrainingNetwork, dataset, cfg: RDETrainConfig, single: bool) -> None:
    """Set every BatchNorm's running statistics to the average over a few training batches.

    A from-scratch network whose BatchNorms are frozen at mean 0 / variance 1 lets activations
    grow through the ResNet stages; measuring the statistics once (cumulative average) and then
    freezing them, as the original freezes ImageNet statistics, keeps features normalised.
    """
    import numpy as np
    from torch.utils.data import DataLoader

    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    state = np.random.get_state()
    torch_state = torch.get_rng_state()
    np.random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    loader = DataLoader(dataset, batch_size=max(1, cfg.train.batch_size), shuffle=True)
    torch.nn.Module.train(net, True)
    for index, batch in enumerate(loader):
        if index >= cfg.model.bn_calibration_batches:
            break
        training_pass(net, batch, 0, cfg.loss, single)
    net.train()
    for bn in bns:
        bn.momentum = 0.1
    np.random.set_state(state)
    torch.set_rng_state(torch_state)


def parameter_groups(net: RDETrainingNetwork, cfg: RDETrainConfig) -> list[dict]:
    """One group for everything, or SAM (``mem_compress``) apart at ``lr · model.sam_lr_scale``.

    SAM's non-local block is cubic in its input and is applied recurrently, so at the large
    learning rates of a from-scratch smoke run it explodes within a few steps; the released
    recipe (lr 1e-5..2e-5 on pretrained features) keeps the scale at 1.
    """
    scale = cfg.model.sam_lr_scale
    if scale == 1.0:
        return [{"params": list(net.parameters())}]
    sam = [p for n, p in net.named_parameters() if n.startswith("mem_compress.")]
    rest = [p for n, p in net.named_parameters() if not n.startswith("mem_compress.")]
    return [{"params": rest}, {"params": sam, "lr": cfg.train.optimizer.lr * scale}]


class RDETrainer(Trainer):
    """Also writes the released-format ``model_<it>.pth`` with every checkpoint."""

    def save_checkpoint(self):
        folder = super().save_checkpoint()
        self.save_weights(self.run_dir / f"model_{self.step}.pth")
        return folder


def iou_value(i, u) -> float:
    return float((i + 1) / (u + 1))


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.config is None and args.stage is None:
        raise VOSDataError(None, "give --stage (the shipped config of that stage) or --config")
    config_path = args.config or default_config(args.stage)
    if args.config and not Path(config_path).is_file():
        shipped = Path(str(resources.files(CONFIG_PACKAGE) / args.config))
        config_path = shipped if shipped.is_file() else config_path
    cfg = load_config(config_path, RDETrainConfig, overrides=config_overrides(args) + args.opts)
    if args.warm_up:
        warm = max(1, cfg.train.max_steps // 100)
        cfg.train.schedule.warmup_iters = warm
        cfg.train.schedule.warmup_start_factor = 1 / warm
    if args.benchmark:
        torch.backends.cudnn.benchmark = True
    run_dir = Path(args.output or Path(args.out_root) / args.id)
    trainer = RDETrainer(cfg.train, run_dir, config=cfg, resume=args.resume)
    single = cfg.stage == 0
    spec = ModelSpec(cfg.model.width_div, cfg.model.repeat, cfg.model.key_dim)
    net = RDETrainingNetwork(single_object=single, spec=spec, sam_train_mode=cfg.stage in (2, 3),
                              freeze_bn=cfg.model.freeze_bn)
    for note in load_imagenet_trunks(net, cfg.model.imagenet_resnet50, cfg.model.imagenet_resnet18):
        trainer.log.info("initialised %s", note)
    if args.load_network:
        trainer.log.info("initial weights: %s", load_network_for_training(net, args.load_network))
    trainer.log.info("stage %d, loss weights: klloss %g (mask consistency), decoder_f2 %g and "
                     "decoder_f4 %g (unbiased guidance)", cfg.stage, cfg.loss.klloss_weight,
                     cfg.loss.decoder_f2_weight, cfg.loss.decoder_f4_weight)
    if cfg.model.mask_input_gain != 1.0 and not args.load_network and not args.resume:
        with torch.no_grad():  # a random value encoder barely sees the masks otherwise
            net.value_encoder.conv1.weight[:, 3:] *= cfg.model.mask_input_gain
    if cfg.model.sam_init == "average" and not single:
        net.mem_compress.init_average()
    elif cfg.model.sam_init not in ("original", "average"):
        raise VOSDataError(None, f"model.sam_init must be original or average, got {cfg.model.sam_init!r}")
    dataset, curriculum_parts = build_dataset(cfg, run_dir)
    if cfg.model.bn_calibration_batches and not args.resume and not args.load_network:
        calibrate_batchnorm(net, dataset, cfg, single)
        trainer.log.info("BatchNorm statistics measured on %d batches (from-scratch run)",
                         cfg.model.bn_calibration_batches)
    trainer.setup(net, dataset, optimizer=build_optimizer(parameter_groups(net, cfg),
                                                          cfg.train.optimizer))
    if curriculum_parts:
        skips = SkipCurriculum.for_iterations(trainer.total_steps, trainer.steps_per_epoch,
                                              values=cfg.data.skip_values,
                                              fractions=cfg.data.skip_fractions)
        set_epoch = trainer.sampler.set_epoch

        def set_epoch_with_curriculum(epoch: int, start_step: int = 0) -> None:
            value = skips.max_skip(epoch)
            for part in curriculum_parts:
                if part.max_skip != value // part.skip_divisor:
                    trainer.log.info("epoch %d: max skip %d", epoch, value)
                part.set_max_skip(value)
            set_epoch(epoch, start_step)

        trainer.sampler.set_epoch = set_epoch_with_curriculum

    def training_step(batch: dict, ctx: StepContext):
        ctx.model.train()  # keeps BatchNorm frozen (see RDETrainingNetwork.train)
        losses, _ = training_pass(ctx.model, batch, ctx.step, cfg.loss, single)
        metrics = {k: v for k, v in losses.items()
                   if k != "total_loss" and not k.startswith("hide_iou")}
        metrics["iou"] = iou_value(losses["hide_iou/i"], losses["hide_iou/u"])
        if "hide_iou/sec_i" in losses:
            metrics["sec_iou"] = iou_value(losses["hide_iou/sec_i"], losses["hide_iou/sec_u"])
        return losses["total_loss"], metrics

    trainer.fit(training_step)
    final = run_dir / f"model_{trainer.step}.pth"
    trainer.save_weights(final)
    trainer.log.info("network saved to %s", final)
    trainer.close()
    return 0


def train_synthetic(davis_root: str | os.PathLike, output: str | os.PathLike,
                    config: str | os.PathLike = "tiny_synthetic.yaml",
                    overrides: dict | None = None, threads: int | None = None) -> Path:
    """Train a config (default: the tiny CPU one) on a DAVIS-2017-layout root; weights path.

    ``davis_root`` holds ``trainval/`` (e.g. ``python -m vos_common.synth --format davis2017
    --out ROOT/trainval``); ``output`` becomes the run folder; ``overrides`` maps config keys
    to values (``{"train.max_steps": 100}``). Returns ``output/model_<steps>.pth``, loadable by
    every evaluation entry point (``python -m rde.eval_davis --model ...``).
    """
    opts = ["data.davis_root", str(davis_root)]
    for key, value in (overrides or {}).items():
        opts += [key, str(value).lower() if isinstance(value, bool) else str(value)]
    argv = ["--id", Path(output).name, "--config", str(config), "--output", str(output)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if main([*argv, "--opts", *opts]) != 0:
        raise RuntimeError(f"training {config} on {davis_root} failed (see the log above)")
    weights = sorted(Path(output).glob("model_*.pth"), key=lambda p: int(p.stem.split("_")[1]))
    return weights[-1]


if __name__ == "__main__":
    raise SystemExit(main())
