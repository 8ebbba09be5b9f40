"""Train RCF / AMD, or export masks with ``--test`` - the original ``main.py`` interface.

    accelerate launch -m rcf.train configs/rcf/rcf_stage1.yaml [--opts key value ...]
    python -m rcf.train configs/rcf/rcf_eval.yaml --test --test-override-pretrained CKPT \\
        --test-override-object-channel C [--opts ...]

Configs are the shipped copies of the original YAML files (resolvable by their relative name
from any folder) or any file on disk. Training writes ``<checkpoints_dir>/last.ckpt`` (a
Lightning-1.7.7-shaped container the original code also reads), the Accelerate state under
``<checkpoints_dir>/checkpoints/``, ``config.yaml`` and ``metrics.csv``, then (unless
``--no-test``) exports the test split with arg-max scoring at the final step, as the original.
``--test`` writes only ``<folder of the checkpoint>/<saved_eval_export_dir_name>/``.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

import torch
from vos_common.errors import VOSDataError, cli_errors

from rcf.config import RCFConfig, config_text, load_rcf_config, resolve_config_path
from rcf.runtime import (
    LOG,
    build_model,
    default_device,
    load_pretrained_into,
    resolve_object_channel,
    setup_logging,
    test_data_root,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.train",
        description="Train RCF (or AMD) with a config, or export masks of a model with --test.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Shipped configs: configs/rcf/*, configs/rcf_stv2/*, configs/rcf_fbms59/*, "
        "configs/amd/*, "
        "configs/smoke/* (see README). Example: --opts object_channel 2 "
        "train_dataset_kwargs.pl_root saved/x/0 export_all_seg false",
    )
    parser.add_argument(
        "config",
        metavar="CONFIG",
        nargs="?",
        default="configs/rcf/rcf_stage1.yaml",
        help="config file or shipped config name (default: configs/rcf/rcf_stage1.yaml)",
    )
    parser.add_argument(
        "--test",
        action="store_true",
        help="do not train: run the model on the test split and export its masks",
    )
    parser.add_argument(
        "--test-override-pretrained",
        metavar="CKPT",
        default=None,
        help="with --test: load this checkpoint and use its folder as checkpoints_dir "
        "(the export goes to <folder>/<saved_eval_export_dir_name>/)",
    )
    parser.add_argument(
        "--test-override-object-channel",
        metavar="C",
        type=int,
        default=None,
        help="with --test: the object slot (needed when export_all_seg is false)",
    )
    parser.add_argument(
        "--no-test",
        action="store_true",
        help="after training, skip the final export / scoring of the test split",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    parser.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue a run exactly from <checkpoints_dir>/checkpoints/step_<n> (weights, "
        "optimizer, schedule, RNG states and data position)",
    )
    parser.add_argument(
        "--opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="config overrides as 'key value' pairs with the original dotted key names; "
        "must come last",
    )
    return parser


def _log_start(config: RCFConfig, config_path: Path, argv: list[str], full: bool = True) -> None:
    LOG.info("command: %s", shlex.join(["python", "-m", "rcf.train", *argv]))
    LOG.info("config: %s", config_path)
    if full:
        LOG.info("resolved config:\n%s", config_text(config).rstrip())


def run_test(
    config: RCFConfig,
    object_channel: int | None,
    step: int = 0,
    model=None,
    out_dir: Path | None = None,
    device=None,
    progress: bool = True,
) -> dict:
    """Export (and score) the test split; returns a summary dict."""
    from rcf.data.dataset import FrameDataset
    from rcf.inference.export import run_export

    device = device or default_device(config.device)
    if model is None:
        model = build_model(config, object_channel, with_crf=False)
        load_pretrained_into(model, config, config.pretrained_model)
    if config.model_cls == "RCFModel":
        model.use_ema_for_eval = config.eval_on_ema
    model.to(device)
    export = config.eval_save and config.eval_export
    if export and not config.export_all_seg and object_channel is None:
        raise VOSDataError(
            None,
            "export_all_seg is false but no object channel is set "
            "(--test-override-object-channel C or --opts object_channel C)",
        )
    dataset = FrameDataset(
        test_data_root(config), config.test_dataset_kwargs, config.test_transform_kwargs
    )
    out_dir = out_dir or Path(config.checkpoints_dir) / config.saved_eval_export_dir_name
    if export:
        LOG.info(
            "exporting %d frames of %s to %s (step %d, %s, %s)",
            len(dataset),
            config.test_dataset_kwargs.split,
            out_dir,
            step,
            "all slots" if config.export_all_seg else f"object slot {object_channel}",
            "EMA teacher" if config.eval_on_ema else "main network",
        )
    else:
        LOG.info(
            "scoring %d frames of %s (eval_export is false: nothing written)",
            len(dataset),
            config.test_dataset_kwargs.split,
        )
    result = run_export(
        model,
        dataset,
        out_dir,
        step=step,
        export_all_seg=config.export_all_seg,
        object_channel=object_channel,
        eval_pos_th=config.eval_pos_th,
        batch_size=config.batch_size,
        workers=0,
        device=device,
        export=export,
        progress=progress,
    )
    summary = {"frames": result.frames, "export_dir": str(out_dir), "files": len(result.written)}
    if result.ious:
        miou, frame_avg = result.miou()
        summary.update(test_miou=miou, test_miou_frame_avg=frame_avg)
        LOG.info(
            "in-code metric (logging only; use rcf.evaluate for the protocols): test_miou %.2f, "
            "test_miou_frame_avg %.2f",
            100 * miou,
            100 * frame_avg,
        )
        if object_channel is None and result.best_channel_counts:
            best = result.best_channel_counts.most_common(1)[0][0]
            summary["gt_best_channel"] = best
            LOG.info(
                "slot most often best against ground truth: %d (a GT leak: logging only; "
                "use rcf.maa to choose the object slot)",
                best,
            )
    return summary


def run_training(
    config: RCFConfig, config_path: Path, argv: list[str], no_test: bool, resume: str | None = None
) -> dict:
    from vos_common.training import ScheduleConfig, TrainConfig, Trainer
    from vos_common.training.config import OptimizerConfig
    from vos_common.training.optim import build_optimizer
    from vos_common.training.schedules import PerEpoch, PolySchedule, ScheduledLR

    from rcf.data.dataset import PairDataset
    from rcf.model.checkpoint import save_lightning_checkpoint

    run_dir = Path(config.checkpoints_dir)
    if (
        resume is None
        and run_dir.exists()
        and any(run_dir.iterdir())
        and not config.allow_overwriting_checkpoints_dir
    ):
        raise VOSDataError(
            run_dir,
            "checkpoints_dir already exists and is not empty "
            "(set allow_overwriting_checkpoints_dir true or choose another folder)",
        )
    epochs_run = config.override_max_epochs or config.epochs
    precision = {32: "no", 16: "fp16"}.get(config.trainer_kwargs.precision)
    if precision is None:
        raise VOSDataError(
            None,
            f"trainer_kwargs.precision must be 32 or 16, got {config.trainer_kwargs.precision}",
        )
    train_cfg = TrainConfig(
        seed=config.seed,
        batch_size=config.batch_size,
        epochs=None if config.max_steps else epochs_run,
        max_steps=config.max_steps,
        mixed_precision=precision,
        num_workers=config.workers,
        checkpoint_every=0,
        keep_checkpoints=1,
        log_every=max(1, min(config.loss_log_interval, 1000)),
        tensorboard=config.tensorboard,
        optimizer=OptimizerConfig(
            name="adam", lr=config.learning_rate, weight_decay=config.weight_decay
        ),
        schedule=ScheduleConfig(
            name="poly",
            unit="epoch",
            total=config.epochs,
            power=config.lr_scheduler_kwargs.power,
            min_lr=config.lr_scheduler_kwargs.min_lr,
        ),
    )
    trainer = Trainer(
        train_cfg, run_dir, config=config, resume=resume, argv=["python", "-m", "rcf.train", *argv]
    )
    acc = trainer.accelerator
    # the original's batch_size is per process (8 x 2 GPUs = 16); the trainer's is global
    trainer.cfg.batch_size = config.batch_size * acc.num_processes
    object_channel = resolve_object_channel(config)
    model = build_model(config, object_channel)
    load_pretrained_into(model, config, config.pretrained_model)
    if acc.num_processes > 1 and acc.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if config.model_cls == "RCFModel" and not config.train_dataset_kwargs.load_flow:
        raise VOSDataError(None, "train_dataset_kwargs.load_flow must be true to train RCF")
    dataset = PairDataset(
        config.data_path, config.train_dataset_kwargs, config.train_transform_kwargs
    )
    steps_per_epoch = len(dataset) // trainer.cfg.batch_size
    if steps_per_epoch < 1:
        raise VOSDataError(
            config.data_path,
            f"the training split has {len(dataset)} samples, fewer than one "
            f"global batch ({trainer.cfg.batch_size})",
        )
    optimizer = build_optimizer(model.parameters(), train_cfg.optimizer)
    schedule = PerEpoch(
        PolySchedule(
            config.epochs, config.lr_scheduler_kwargs.power, config.lr_scheduler_kwargs.min_lr
        ),
        steps_per_epoch,
    )
    scheduler = ScheduledLR(optimizer, schedule)
    trainer.cfg.checkpoint_every = steps_per_epoch  # resumable state once per epoch (as last.ckpt)
    trainer.setup(model, dataset, optimizer=optimizer, scheduler=scheduler)
    if trainer.is_main:
        LOG.info(
            "%s: %d training samples (%s), %d steps per epoch, object channel %s",
            config.model_cls,
            len(dataset),
            config.train_dataset_kwargs.split,
            steps_per_epoch,
            object_channel,
        )

    def training_step(batch, ctx):
        if config.model_cls == "AMDModel":
            out = ctx.model(batch["imgs"])
        else:
            out = ctx.model(
                batch["imgs"], batch["gt_fw_flows"], batch["gt_bw_flows"], batch.get("pl_masks")
            )
        losses = out["losses"]
        return losses["loss"], {k: v for k, v in losses.items() if k != "loss"}

    trainer.fit(training_step)
    net = trainer.unwrapped_model()
    summary = {"steps": trainer.step, "checkpoint": str(run_dir / "last.ckpt")}
    if trainer.is_main:
        from vos_common.config import config_to_dict

        save_lightning_checkpoint(
            run_dir / "last.ckpt",
            net,
            epoch=max(0, math.ceil(trainer.step / steps_per_epoch) - 1),
            global_step=trainer.step,
            hyper_parameters=config_to_dict(config),
            optimizer=trainer.optimizer,
            scheduler=trainer.scheduler,
        )
        LOG.info("saved %s (global step %d)", run_dir / "last.ckpt", trainer.step)
        if not no_test:
            test_config = config
            import dataclasses

            test_config = dataclasses.replace(
                config, saved_eval_dir_name="saved_eval_test", eval_pos_th=-1.0
            )
            summary["test"] = run_test(
                test_config, object_channel, step=trainer.step, model=net, device=acc.device
            )
    trainer.close()
    return summary


@cli_errors
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    setup_logging()
    config_path = resolve_config_path(args.config)
    config = load_rcf_config(config_path, args.opts)
    if args.print_config:
        print(config_text(config), end="")
        return 0
    if args.test_override_pretrained is not None and not args.test:
        raise VOSDataError(None, "--test-override-pretrained needs --test")
    if args.test:
        import dataclasses

        changes = {}
        if args.test_override_pretrained is not None:
            ckpt = Path(args.test_override_pretrained)
            if not ckpt.is_file():
                raise VOSDataError(ckpt, "checkpoint file does not exist")
            changes.update(pretrained_model=str(ckpt), checkpoints_dir=str(ckpt.parent))
        config = dataclasses.replace(config, **changes)
        object_channel = resolve_object_channel(config, args.test_override_object_channel)
        _log_start(config, config_path, argv)
        if config.pretrained_model is None:
            raise VOSDataError(
                None, "--test needs weights: --test-override-pretrained CKPT or pretrained_model"
            )
        run_test(config, object_channel)
        return 0
    _log_start(config, config_path, argv, full=False)  # the trainer prints the resolved config
    run_training(config, config_path, argv, args.no_test, args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
