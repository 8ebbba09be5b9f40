"""Phases A and B of OAST: labeled + unlabeled adversarial training (``unlabeled_train.py``).

    accelerate launch [--multi_gpu --num_processes 2] -m oast.unlabeled_train \\
        --epochs 30 --data_dir data --pretrained mobilevit_s.pth.tar --model_scale s
    accelerate launch -m oast.unlabeled_train --config phase_b --finetune runs/oast/phase_a_last.pth

Every flag overrides the YAML config (default ``phase_a``; ``phase_b`` sets DAVIS-2016 as the only
labeled dataset and 25 epochs). ``--batch_size`` is per process, as in the release. Writes
``<save_dir>/<experiment>_last.pth`` after every epoch (resumable with ``--resume``), and with
``--selection test_gt`` also ``<experiment>_best.pth`` (the release's rule), plus logs in
``<save_dir>/<experiment>/``.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

import torch
from tqdm.auto import tqdm
from vos_common.errors import VOSDataError, cli_errors
from vos_common.training.data import GlobalBatchSampler, build_train_loader
from vos_common.training.logs import MetricLogger
from vos_common.training.optim import build_optimizer
from vos_common.training.schedules import build_scheduler
from vos_common.training.seeding import derive_seed, seed_everything

from oast.config import PhaseABConfig
from oast.data.datasets import OASTFrames
from oast.engine import phase_ab_iteration, unwrap
from oast.model.discriminator import DiscriminatorTrain
from oast.runner import (
    add_common_flags,
    argv_for_log,
    build_network,
    collate,
    evaluate_iou,
    get_logger,
    load_phase_config,
    log_start,
    plain_config,
    resume_state,
    save_run_checkpoint,
    write_config,
)

__all__ = ["build_parser", "main", "train"]

_FLAGS = {
    "pretrained": "model.pretrained",
    "finetune": "model.finetune",
    "labeled_datasets": "data.labeled_datasets",
    "unlabeled_datasets": "data.unlabeled_datasets",
    "youtube_stride": "data.youtube_stride",
    "start_epoch": "start_epoch",
    "start_adv": "start_adv",
    "adv_loss": "loss.adv_loss",
    "eval_frames": "data.eval_frames",
    "amp": "train.mixed_precision",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oast.unlabeled_train",
        description="OAST phases A and B: supervised BCE+IoU on labeled frames plus an adversarial "
        "term from the image-level discriminator D_A on unlabeled frames.",
        epilog="Multi-process: accelerate launch --multi_gpu --num_processes 2 -m "
        "oast.unlabeled_train ... (CPU: --cpu, gloo). See the package README.",
    )
    add_common_flags(parser, "phase_a")
    parser.add_argument(
        "--pretrained",
        help="MobileViT backbone checkpoint ({'state_dict': ...}, "
        "wilile26811249 format) for the encoder (model.pretrained)",
    )
    parser.add_argument(
        "--finetune",
        help="OAST checkpoint to start from, strict (phase B: the phase-A file) (model.finetune)",
    )
    parser.add_argument(
        "--labeled_datasets", nargs="+", help="data.labeled_datasets (YouTubeVOS-2018 DAVIS-2016)"
    )
    parser.add_argument(
        "--unlabeled_datasets", nargs="+", help="data.unlabeled_datasets (Youtube-objects)"
    )
    parser.add_argument("--youtube_stride", type=int, help="every n-th YouTubeVOS-2018 frame (10)")
    parser.add_argument("--start_epoch", type=int, help="first epoch number, 1-based (1)")
    parser.add_argument(
        "--start_adv", type=int, help="epoch from which the adversarial term is used (1)"
    )
    parser.add_argument(
        "--adv_loss",
        choices=("released", "corrected"),
        help="released: BCE-with-logits on D_A's probability (double sigmoid, "
        "default); corrected: plain BCE",
    )
    parser.add_argument("--eval_frames", type=int, help="IoU on the first n test frames only")
    parser.add_argument(
        "--amp",
        choices=("no", "fp16", "bf16"),
        help="mixed precision on GPU (train.mixed_precision; release: fp16)",
    )
    parser.add_argument("--resume", help="continue after the last finished epoch of a *_last.pth")
    return parser


def _unlabeled_stream(loader, sampler):
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def train(cfg: PhaseABConfig, *, resume: str | None = None, argv: list[str] | None = None) -> dict:
    """Run phase A/B for ``cfg``; returns a summary (last epoch, IoUs, checkpoint paths)."""
    from pathlib import Path

    from oast.runner import make_accelerator

    acc = make_accelerator(cfg.train.mixed_precision)
    log = get_logger(acc)
    run_dir = Path(cfg.save_dir) / cfg.experiment
    d, size = cfg.data, tuple(cfg.data.img_size)
    labeled = OASTFrames(
        d.data_dir,
        d.labeled_datasets,
        "labeled",
        size,
        youtube_stride=d.youtube_stride,
        mean=d.mean,
        std=d.std,
    )
    unlabeled = OASTFrames(
        d.data_dir, d.unlabeled_datasets, "unlabeled", size, mean=d.mean, std=d.std
    )
    test = (
        OASTFrames(
            d.data_dir,
            d.test_datasets,
            "test",
            size,
            mean=d.mean,
            std=d.std,
            max_frames=d.eval_frames,
        )
        if cfg.eval_every
        else None
    )
    if acc.is_main_process:
        log_start(log, acc, cfg, argv or argv_for_log(), "OAST phase A/B (unlabeled_train)")
        write_config(Path(cfg.save_dir), cfg)
    seed_everything(cfg.train.seed)
    model = build_network(cfg.model, log)
    disc = DiscriminatorTrain()
    log.info(
        "samples: %d labeled (%s), %d unlabeled (%s), %d test frames for the IoU (%s)",
        len(labeled),
        ", ".join(d.labeled_datasets),
        len(unlabeled),
        ", ".join(d.unlabeled_datasets),
        len(test) if test else 0,
        ", ".join(d.test_datasets),
    )
    t = cfg.train
    sampler_l = GlobalBatchSampler(
        len(labeled),
        t.batch_size,
        num_processes=acc.num_processes,
        process_index=acc.process_index,
        seed=t.seed,
        shuffle=t.shuffle,
    )
    sampler_u = GlobalBatchSampler(
        len(unlabeled),
        t.batch_size,
        num_processes=acc.num_processes,
        process_index=acc.process_index,
        seed=t.seed + 1,
        shuffle=t.shuffle,
    )
    loader_l = build_train_loader(labeled, sampler_l, num_workers=t.num_workers, collate_fn=collate)
    loader_u = build_train_loader(
        unlabeled, sampler_u, num_workers=t.num_workers, collate_fn=collate
    )
    steps_per_epoch = sampler_l.steps_per_epoch
    if cfg.max_iters_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_iters_per_epoch)
    n_epochs = t.epochs - cfg.start_epoch + 1
    if n_epochs < 1:
        raise VOSDataError(
            None, f"start_epoch {cfg.start_epoch} is after the last epoch {t.epochs}"
        )
    opt_g = build_optimizer(model.parameters(), t.optimizer)
    opt_d = build_optimizer(disc.parameters(), cfg.disc_optimizer)
    total = n_epochs * steps_per_epoch
    sched_g = build_scheduler(opt_g, t.schedule, total, steps_per_epoch)
    sched_d = build_scheduler(opt_d, t.schedule, total, steps_per_epoch)
    if cfg.sync_bn and acc.num_processes > 1 and acc.device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        disc = torch.nn.SyncBatchNorm.convert_sync_batchnorm(disc)
    model, disc, opt_g, opt_d = acc.prepare(model, disc, opt_g, opt_d)

    first_epoch, best, step = cfg.start_epoch, 0.0, 0
    if resume:
        state = resume_state(resume)
        unwrap(model).load_state_dict(state["model"])
        unwrap(disc).load_state_dict(state["model_D"])
        opt_g.load_state_dict(state["optimizer_G"])
        opt_d.load_state_dict(state["optimizer_D"])
        sched_g.load_state_dict(state["scheduler_G"])
        sched_d.load_state_dict(state["scheduler_D"])
        first_epoch, best, step = (
            int(state["epoch"]) + 1,
            float(state["best_miou"]),
            int(state["step"]),
        )
        log.info("resumed from %s after epoch %d", resume, first_epoch - 1)
    seed_everything(derive_seed(t.seed, acc.process_index, first_epoch))
    metrics_log = MetricLogger(
        run_dir,
        enabled=acc.is_main_process,
        tensorboard=t.tensorboard,
        resume_step=step if resume else None,
        logger=log,
    )
    unlabeled_batches = _unlabeled_stream(loader_u, sampler_u)
    double_sigmoid = cfg.loss.adv_loss == "released"
    last_path = Path(cfg.save_dir) / f"{cfg.experiment}_last.pth"
    best_path = Path(cfg.save_dir) / f"{cfg.experiment}_best.pth"
    summary: dict = {"epochs": [], "last": str(last_path), "best": None}
    for epoch in range(first_epoch, t.epochs + 1):
        model.train()
        disc.train()
        adversarial = epoch >= cfg.start_adv
        sampler_l.set_epoch(epoch - cfg.start_epoch)
        sums: dict[str, float] = {}
        window: dict[str, float] = {}
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{t.epochs}",
            dynamic_ncols=True,
            disable=not (acc.is_main_process and t.progress_bar),
        )
        for i, batch in enumerate(loader_l):
            if i >= steps_per_epoch:
                break
            batch_u = next(unlabeled_batches) if adversarial else None
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            if batch_u is not None:
                batch_u = {
                    k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch_u.items()
                }
            with acc.autocast():
                losses = phase_ab_iteration(
                    model,
                    disc,
                    batch,
                    batch_u,
                    adversarial=adversarial,
                    lambda_adv=cfg.loss.lambda_adv,
                    double_sigmoid=double_sigmoid,
                    backward=acc.backward,
                    opt_g=opt_g,
                    opt_d=opt_d,
                )
            if not math.isfinite(losses["g_total"]):
                raise FloatingPointError(
                    f"loss is {losses['g_total']} at epoch {epoch}, iteration {i}"
                )
            sched_g.step()
            if adversarial:
                sched_d.step()
            step += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
                window[k] = window.get(k, 0.0) + v
            window["n"] = window.get("n", 0) + 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses['g_total']:.4g}", refresh=False)
            if step % t.log_every == 0:
                n = window.pop("n")
                metrics_log.log(
                    step,
                    {
                        **{k: v / n for k, v in window.items()},
                        "lr_g": opt_g.param_groups[0]["lr"],
                        "epoch": epoch,
                    },
                )
                window = {}
        bar.close()
        if not adversarial:
            # keep D's schedule in step with G's even in the supervised-only epochs
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                for _ in range(steps_per_epoch):
                    sched_d.step()
        record = {"epoch": epoch, **{k: v / steps_per_epoch for k, v in sums.items()}}
        miou = None
        if test is not None and epoch % cfg.eval_every == 0:
            if acc.is_main_process:
                loader_t = torch.utils.data.DataLoader(
                    test, batch_size=1, num_workers=t.num_workers, collate_fn=collate
                )
                miou, frames = evaluate_iou(
                    unwrap(model),
                    loader_t,
                    acc.device,
                    progress=t.progress_bar,
                    desc=f"IoU epoch {epoch}",
                )
                record["val_iou"] = miou
                log.info(
                    "epoch %d: IoU %.4f on %d test frames (%s; monitoring, frame-weighted)",
                    epoch,
                    miou,
                    frames,
                    ", ".join(d.test_datasets),
                )
            acc.wait_for_everyone()
        if acc.is_main_process:
            metrics_log.log(step, {f"epoch_{k}": v for k, v in record.items()}, console=False)
            log.info(
                "epoch %d: %s",
                epoch,
                "  ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch"),
            )
            improved = cfg.selection == "test_gt" and miou is not None and miou > best
            if improved:
                best = miou
                save_run_checkpoint(
                    best_path,
                    model=unwrap(model).state_dict(),
                    model_D=unwrap(disc).state_dict(),
                    epoch=epoch,
                    miou=miou,
                )
                summary["best"] = str(best_path)
                log.info(
                    "saved %s (IoU %.4f on the test ground truth: --selection test_gt)",
                    best_path,
                    miou,
                )
            save_run_checkpoint(
                last_path,
                model=unwrap(model).state_dict(),
                model_D=unwrap(disc).state_dict(),
                epoch=epoch,
                step=step,
                miou=miou,
                best_miou=best,
                optimizer_G=opt_g.state_dict(),
                optimizer_D=opt_d.state_dict(),
                scheduler_G=sched_g.state_dict(),
                scheduler_D=sched_d.state_dict(),
                config=plain_config(cfg),
            )
            log.info("saved %s (epoch %d)", last_path, epoch)
        summary["epochs"].append(record)
        acc.wait_for_everyone()
    metrics_log.close()
    acc.wait_for_everyone()
    acc.end_training()
    return summary


@cli_errors
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cfg = load_phase_config(args, PhaseABConfig, _FLAGS)
    train(
        cfg,
        resume=args.resume,
        argv=["oast.unlabeled_train", *(sys.argv[1:] if argv is None else argv)],
    )


if __name__ == "__main__":
    main()
