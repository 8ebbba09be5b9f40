"""Phase C of OAST: online adversarial self-tuning on the test videos (the release's
``online_finetuning.py``).

    accelerate launch -m oast.online_finetuning --data_dir data \\
        --weight runs/oast/phase_b_last.pth \\
        --model_scale xxs --epochs 10 --lr_g 1e-5 --lr_d 1e-5 --seed 0

A mean teacher (EMA 0.9996 of the student's parameters) predicts four views of each frame (plain,
flipped, colour-jittered, rescaled by a rate drawn per batch); the sigmoid of the averaged logits
is the soft target of the student, which is also pushed by the pixel-level discriminator D_C to
produce teacher-like logit maps. Student and teacher run in eval mode. Ground truth is read only
to log the IoU of student and teacher (and, with ``--selection test_gt``, to choose the epoch as
the release does). Works on several processes (the release's DDP teacher cannot): the teacher
is never wrapped.

Writes ``<save_dir>/<experiment>_student.pth`` and ``<experiment>_teacher.pth`` (``{'model': ...,
'model_D': ..., 'epoch': ...}``), after every epoch by default, or only on an improvement of
max(teacher IoU, student IoU) with ``--selection test_gt``.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from vos_common.errors import VOSDataError, cli_errors
from vos_common.training.ema import ModelEMA
from vos_common.training.logs import MetricLogger
from vos_common.training.optim import build_optimizer
from vos_common.training.seeding import derive_seed, seed_everything

from oast.config import PhaseCConfig
from oast.data.datasets import OASTFrames
from oast.engine import draw_rate, phase_c_iteration, unwrap
from oast.model.discriminator import DiscriminatorFinetuning
from oast.runner import (
    add_common_flags,
    argv_for_log,
    build_network,
    collate,
    get_logger,
    load_phase_config,
    log_start,
    make_accelerator,
    save_run_checkpoint,
    write_config,
)

__all__ = ["SequentialShards", "build_parser", "main", "tune"]

_FLAGS = {
    "weight": "model.finetune",
    "rates": "rates",
    "ema_momentum": "ema_momentum",
    "tune_frames": "data.tune_frames",
}


class SequentialShards(Sampler):
    """Batches in dataset order, the last incomplete one kept (the release's sequential loader).

    With several processes, global batch ``s`` (``global_batch`` consecutive samples) is split
    into equal parts; the last global batch is padded by repeating its final sample so that every
    process runs the same number of iterations (DDP needs that).
    """

    def __init__(
        self, num_samples: int, global_batch: int, num_processes: int = 1, process_index: int = 0
    ):
        if global_batch % num_processes:
            raise VOSDataError(
                None,
                f"the global batch {global_batch} does not split over {num_processes} processes",
            )
        self.n, self.global_batch = num_samples, global_batch
        self.procs, self.index = num_processes, process_index
        self.micro = global_batch // num_processes

    def __len__(self) -> int:
        return math.ceil(self.n / self.global_batch)

    def __iter__(self):
        for start in range(0, self.n, self.global_batch):
            chunk = list(range(start, min(start + self.global_batch, self.n)))
            if self.procs == 1:
                yield chunk
                continue
            chunk += [chunk[-1]] * (self.global_batch - len(chunk))
            yield chunk[self.index * self.micro : (self.index + 1) * self.micro]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oast.online_finetuning",
        description="OAST phase C: online adversarial self-tuning of a trained network on the "
        "test videos (mean teacher with four views, pixel-level discriminator).",
        epilog="Multi-process: accelerate launch --multi_gpu --num_processes 2 -m "
        "oast.online_finetuning ... See the package README.",
    )
    add_common_flags(parser, "phase_c")
    parser.add_argument(
        "--weight",
        help="OAST checkpoint to tune (phase B's), loaded strictly into "
        "student and teacher (model.finetune)",
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        help="rescale rates of the fourth teacher view (0.5 0.75 1.25 1.5)",
    )
    parser.add_argument("--ema_momentum", type=float, help="teacher EMA momentum (0.9996)")
    parser.add_argument(
        "--tune_frames", type=int, help="tune on the first n frames only (smoke runs)"
    )
    return parser


def tune(cfg: PhaseCConfig, *, argv: list[str] | None = None) -> dict:
    """Run phase C for ``cfg``; returns a summary (per-epoch losses and IoUs, checkpoint paths)."""
    if not cfg.model.finetune:
        raise VOSDataError(
            None, "phase C needs the weights to tune: --weight CKPT (model.finetune)"
        )
    acc = make_accelerator(cfg.train.mixed_precision)
    log = get_logger(acc)
    run_dir = Path(cfg.save_dir) / cfg.experiment
    d, t = cfg.data, cfg.train
    frames = OASTFrames(
        d.data_dir,
        d.test_datasets,
        "test",
        tuple(d.img_size),
        colour_copy=True,
        mean=d.mean,
        std=d.std,
        max_frames=d.tune_frames,
    )
    if acc.is_main_process:
        log_start(log, acc, cfg, argv or argv_for_log(), "OAST phase C (online_finetuning)")
        write_config(Path(cfg.save_dir), cfg)
    seed_everything(cfg.train.seed)
    student = build_network(cfg.model, log)
    disc = DiscriminatorFinetuning()
    log.info(
        "tuning on %d frames of %s; rates %s",
        len(frames),
        ", ".join(d.test_datasets),
        ", ".join(map(str, cfg.rates)),
    )
    sampler = SequentialShards(len(frames), t.batch_size, acc.num_processes, acc.process_index)
    loader = DataLoader(
        frames, batch_sampler=sampler, num_workers=t.num_workers, collate_fn=collate
    )
    steps_per_epoch = len(sampler)
    if cfg.max_iters_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_iters_per_epoch)
    opt_g = build_optimizer(student.parameters(), t.optimizer)
    opt_d = build_optimizer(disc.parameters(), cfg.disc_optimizer)
    student.eval()  # BN statistics frozen, dropout off (the release)
    teacher = ModelEMA(student, cfg.ema_momentum, buffers="keep")  # never DDP-wrapped
    teacher.module.to(acc.device)
    student, disc, opt_g, opt_d = acc.prepare(student, disc, opt_g, opt_d)
    student.eval()
    disc.train()
    seed_everything(derive_seed(t.seed, acc.process_index))
    rng = random.Random(derive_seed(t.seed, acc.process_index, 1))
    metrics_log = MetricLogger(
        run_dir, enabled=acc.is_main_process, tensorboard=t.tensorboard, logger=log
    )
    student_path = Path(cfg.save_dir) / f"{cfg.experiment}_student.pth"
    teacher_path = Path(cfg.save_dir) / f"{cfg.experiment}_teacher.pth"
    best, step = 0.0, 0
    summary: dict = {
        "epochs": [],
        "student": str(student_path),
        "teacher": str(teacher_path),
        "saved_epochs": [],
    }
    for epoch in range(1, t.epochs + 1):
        sums: dict[str, float] = {}
        counts = torch.zeros(3, dtype=torch.float64, device=acc.device)  # iou sums s, t; batches
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{t.epochs}",
            dynamic_ncols=True,
            disable=not (acc.is_main_process and t.progress_bar),
        )
        for i, batch in enumerate(loader):
            if i >= steps_per_epoch:
                break
            batch = {k: v.to(acc.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            tensors = {k: batch[k] for k in ("image", "flow", "image_c")}
            if bool(batch["has_mask"].all()):
                tensors["mask"] = batch["mask"]
            rate = draw_rate(cfg.rates, rng)
            result = phase_c_iteration(
                student,
                teacher.module,
                disc,
                tensors,
                rate,
                lambda_adv=cfg.loss.lambda_adv,
                backward=acc.backward,
                opt_g=opt_g,
                opt_d=opt_d,
                ema_update=lambda: teacher.update(student),
            )
            if not math.isfinite(result["g_total"]):
                raise FloatingPointError(
                    f"loss is {result['g_total']} at epoch {epoch}, iteration {i}"
                )
            step += 1
            if "student_iou" in result:
                counts += torch.tensor(
                    [result["student_iou"], result["teacher_iou"], 1.0],
                    dtype=torch.float64,
                    device=acc.device,
                )
            for k, v in result.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            bar.set_postfix(loss=f"{result['g_total']:.4g}", refresh=False)
            if step % t.log_every == 0:
                metrics_log.log(
                    step, {**{k: v for k, v in result.items()}, "rate": rate, "epoch": epoch}
                )
        bar.close()
        counts = acc.reduce(counts, reduction="sum") if acc.num_processes > 1 else counts
        record = {
            "epoch": epoch,
            **{
                k: v / steps_per_epoch
                for k, v in sums.items()
                if k not in ("student_iou", "teacher_iou")
            },
        }
        if counts[2] > 0:
            record["student_iou"] = float(counts[0] / counts[2])
            record["teacher_iou"] = float(counts[1] / counts[2])
        summary["epochs"].append(record)
        if acc.is_main_process:
            metrics_log.log(step, {f"epoch_{k}": v for k, v in record.items()}, console=False)
            log.info(
                "epoch %d: %s",
                epoch,
                "  ".join(f"{k} {v:.5g}" for k, v in record.items() if k != "epoch"),
            )
            if cfg.selection == "test_gt":
                score = max(record.get("student_iou", 0.0), record.get("teacher_iou", 0.0))
                save = score > best
                if save:
                    best = score
                    log.info(
                        "epoch %d improves max(teacher, student) IoU on the test ground "
                        "truth to %.4f (--selection test_gt)",
                        epoch,
                        score,
                    )
            else:
                save = True
            if save:
                disc_sd = unwrap(disc).state_dict()
                save_run_checkpoint(
                    student_path, model=unwrap(student).state_dict(), model_D=disc_sd, epoch=epoch
                )
                save_run_checkpoint(
                    teacher_path, model=teacher.module.state_dict(), model_D=disc_sd, epoch=epoch
                )
                summary["saved_epochs"].append(epoch)
                log.info("saved %s and %s (epoch %d)", student_path, teacher_path, epoch)
        acc.wait_for_everyone()
    metrics_log.close()
    acc.wait_for_everyone()
    acc.end_training()
    return summary


@cli_errors
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cfg = load_phase_config(args, PhaseCConfig, _FLAGS)
    tune(cfg, argv=["oast.online_finetuning", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
