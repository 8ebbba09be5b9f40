"""An Accelerate-based training loop that every method drives with its own training step.

The method keeps its model, dataset and ``training_step(batch, ctx) -> loss`` (or
``(loss, {name: value})``); :class:`Trainer` does the rest the same way for all of them: process
seeding, the deterministic global-batch data order, mixed precision, gradient accumulation and
clipping, the LR schedule, an optional EMA teacher, logging on the main process, periodic
checkpoints with ``accelerator.save_state`` and exact resume.

Run folder layout::

    <run>/config.yaml                  resolved config of the run
    <run>/metrics.csv                  one row per logged step
    <run>/tensorboard/                 TensorBoard events
    <run>/checkpoints/step_<n>/        accelerator.save_state + trainer_state.pt + config.yaml

``model.safetensors`` inside a checkpoint folder holds the plain (unwrapped) model state_dict, so
the same folder resumes on any number of processes and its weights load with
:func:`vos_common.checkpoint.load_weights`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from vos_common.config import config_to_dict, dump_config, format_config
from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_save
from vos_common.training.config import TrainConfig
from vos_common.training.data import GlobalBatchSampler, build_train_loader
from vos_common.training.ema import ModelEMA, unwrap_model
from vos_common.training.logs import MetricLogger, console_logger
from vos_common.training.optim import build_optimizer
from vos_common.training.schedules import build_scheduler
from vos_common.training.seeding import derive_seed, seed_everything

__all__ = ["StepContext", "Trainer", "checkpoint_step", "run_dir_for"]

TRAINER_STATE = "trainer_state.pt"
CHECKPOINT_PREFIX = "step_"

LossOutput = torch.Tensor | tuple[torch.Tensor, Mapping[str, Any]]
TrainingStep = Callable[[Any, "StepContext"], LossOutput]


@dataclass
class StepContext:
    """What a training step may need besides its batch.

    ``step`` is the index of the optimizer step being computed (0 for the first), ``micro_step``
    the gradient-accumulation index within it. ``model`` is the prepared (possibly DDP-wrapped)
    model to call; ``ema`` the teacher or None.
    """

    trainer: Trainer
    model: nn.Module
    step: int
    epoch: int
    micro_step: int
    ema: ModelEMA | None

    @property
    def accelerator(self):
        return self.trainer.accelerator

    @property
    def device(self) -> torch.device:
        return self.trainer.accelerator.device


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step number of a checkpoint folder ``.../step_<n>``."""
    name = Path(path).name
    if not name.startswith(CHECKPOINT_PREFIX) or not name[len(CHECKPOINT_PREFIX) :].isdigit():
        raise VOSDataError(path, "not a checkpoint folder named step_<n>")
    return int(name[len(CHECKPOINT_PREFIX) :])


def run_dir_for(config_path: str | os.PathLike, output: str | None, resume: str | None) -> Path:
    """The run folder: ``--output``, else the resumed run's folder, else ``runs/<config name>``."""
    if output:
        return Path(output)
    if resume:
        resume_path = Path(resume)
        if resume_path.parent.name == "checkpoints":
            return resume_path.parent.parent
        return resume_path.parent
    return Path("runs") / Path(config_path).stem


def _has_accelerator_device() -> bool:
    if torch.cuda.is_available():
        return True
    for name in ("xpu", "mps", "npu"):
        backend = getattr(torch, name, None) or getattr(torch.backends, name, None)
        if backend is not None and getattr(backend, "is_available", lambda: False)():
            return True
    return False


def _command_line() -> list[str]:
    """This process's command, written as ``python -m pkg.module ...`` when run with ``-m``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        module = spec.name.removesuffix(".__main__")
        return ["python", "-m", module, *sys.argv[1:]]
    return ["python", *sys.argv]


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"python {platform.python_version()}"]
    for name in ("torch", "torchvision", "accelerate", "numpy", "vos-common"):
        with contextlib.suppress(PackageNotFoundError):
            parts.append(f"{name} {version(name)}")
    return ", ".join(parts)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: tree}


class Trainer:
    """Drive ``training_step`` over a dataset for the run described by a :class:`TrainConfig`.

    Usage (see ``vos_common.training.toy`` for a complete entry point)::

        trainer = Trainer(cfg.train, run_dir, config=cfg, resume=args.resume)
        model = MyNet(cfg.model)          # built after Trainer(): identical init on all processes
        trainer.setup(model, dataset)     # optimizer/schedule from cfg.train unless given
        trainer.fit(training_step)        # training_step(batch, ctx) -> loss or (loss, metrics)
        trainer.close()

    ``config`` is the full resolved config (saved as ``config.yaml`` and printed at start);
    ``argv`` the command line to log (default: this process's command). ``cpu=None`` runs on
    the CPU when no GPU is present, which is what makes ``accelerate launch --multi_gpu`` work
    on CPU-only machines (gloo backend). ``find_unused_parameters`` is passed to DDP.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | os.PathLike,
        *,
        config: Any = None,
        resume: str | os.PathLike | None = None,
        argv: Sequence[str] | None = None,
        cpu: bool | None = None,
        find_unused_parameters: bool = False,
    ):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        self.cfg = cfg
        self.config = config if config is not None else cfg
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.resume_dir = None if resume is None else Path(resume)
        self.argv = list(_command_line() if argv is None else argv)
        self.accelerator = Accelerator(
            cpu=(not _has_accelerator_device()) if cpu is None else cpu,
            mixed_precision=cfg.mixed_precision,
            step_scheduler_with_optimizer=False,
            kwargs_handlers=[
                DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)
            ],
        )
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > 1 and self.accelerator.num_processes != launched:
            raise RuntimeError(
                f"launched as {launched} processes but Accelerate set up "
                f"{self.accelerator.num_processes}; every process would train alone"
            )
        self.is_main = self.accelerator.is_main_process
        self.log = console_logger(self.is_main, self.accelerator.process_index)
        self.accelerator.register_save_state_pre_hook(self._save_unwrapped_weights)
        self.accelerator.register_load_state_pre_hook(self._load_into_unwrapped)
        if self.resume_dir is not None:
            self._check_checkpoint_dir(self.resume_dir)
        elif self._existing_checkpoints():
            raise VOSDataError(
                self.checkpoint_dir,
                "already holds checkpoints; resume with --resume DIR or choose another --output",
            )
        self.effective_precision = cfg.mixed_precision
        if cfg.mixed_precision != "no" and not self.accelerator.native_amp:
            self.effective_precision = "no"
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.model: nn.Module | None = None
        self.ema: ModelEMA | None = None
        self.extra_state: dict[str, Any] = {}
        # Same seed everywhere while the caller builds the model: identical initial weights.
        seed_everything(cfg.seed)

    # ---------------------------------------------------------------------------------------
    # set-up

    def setup(
        self,
        model: nn.Module,
        dataset,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | Callable | None = None,
        collate_fn: Callable | None = None,
    ) -> None:
        """Prepare ``model`` for the devices, build the data order, optimizer, schedule and EMA.

        ``optimizer`` defaults to ``cfg.optimizer`` over the trainable parameters. ``scheduler``
        defaults to ``cfg.schedule``; it may be an LR scheduler stepped once per optimizer step,
        or a factory ``(optimizer, total_steps, steps_per_epoch) -> scheduler`` for schedules
        that need the run length. After this call every process continues with seed
        ``seed + process_index``.
        """
        cfg, acc = self.cfg, self.accelerator
        self.sampler = GlobalBatchSampler(
            len(dataset),
            cfg.batch_size,
            num_processes=acc.num_processes,
            process_index=acc.process_index,
            grad_accum=cfg.grad_accum,
            seed=cfg.seed,
            shuffle=cfg.shuffle,
        )
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.total_steps = (
            cfg.max_steps if cfg.max_steps is not None else cfg.epochs * self.steps_per_epoch
        )
        self.loader = build_train_loader(
            dataset,
            self.sampler,
            num_workers=cfg.num_workers,
            collate_fn=collate_fn,
            pin_memory=acc.device.type == "cuda",
        )
        if optimizer is None:
            optimizer = build_optimizer(model.parameters(), cfg.optimizer)
        if scheduler is None:
            scheduler = build_scheduler(
                optimizer, cfg.schedule, self.total_steps, self.steps_per_epoch
            )
        elif not isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler):
            scheduler = scheduler(optimizer, self.total_steps, self.steps_per_epoch)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.scheduler = scheduler
        if cfg.ema is not None:
            self.ema = ModelEMA(self.model, cfg.ema.momentum, cfg.ema.buffers)
        seed_everything(cfg.seed + acc.process_index)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_config(self.config, self.run_dir / "config.yaml")
            self._log_start()

    def register_state(self, name: str, obj: Any) -> None:
        """Checkpoint and resume ``obj`` (anything with ``state_dict``/``load_state_dict``) too.

        Its state must hold only tensors and plain Python data (it is read back with
        ``weights_only=True``). Register before :meth:`fit`.
        """
        if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
            raise TypeError(f"{name!r} has no state_dict/load_state_dict")
        self.extra_state[name] = obj

    def _log_start(self) -> None:
        acc, cfg = self.accelerator, self.cfg
        micro = self.sampler.micro_batch
        device = str(acc.device)
        if acc.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(acc.device)})"
        precision = cfg.mixed_precision
        if self.effective_precision != precision:
            precision += f" requested, not available on {acc.device.type}: running fp32"
        lines = [
            f"command: {shlex.join(self.argv)}",
            f"run folder: {self.run_dir.resolve()}",
            f"processes: {acc.num_processes} ({acc.distributed_type.value}), device {device}",
            f"precision: {precision}",
            f"global batch size {cfg.batch_size} = {acc.num_processes} process(es) x "
            f"{cfg.grad_accum} accumulation step(s) x {micro} sample(s) per micro-batch "
            "(the config's batch_size is the global batch)",
            f"steps: {self.total_steps} optimizer steps, {self.steps_per_epoch} per epoch",
            f"versions: {_versions()}",
            "resolved config:\n" + format_config(self.config).rstrip(),
        ]
        if self.resume_dir is not None:
            lines.insert(2, f"resuming from {self.resume_dir.resolve()}")
        self.log.info("\n".join(lines))
        if self.effective_precision != cfg.mixed_precision:
            self.log.warning(
                "%s mixed precision is not available on %s; training in fp32",
                cfg.mixed_precision,
                acc.device.type,
            )

    # ---------------------------------------------------------------------------------------
    # the loop

    def fit(self, training_step: TrainingStep) -> None:
        """Run optimizer steps until ``total_steps`` (resuming first if asked)."""
        if self.model is None:
            raise RuntimeError("call setup() before fit()")
        resume_step = None
        source_csv = None
        if self.resume_dir is not None:
            self._load_checkpoint(self.resume_dir)
            resume_step = self.step
            source_csv = self.resume_dir.parent.parent / "metrics.csv"
        metrics_log = MetricLogger(
            self.run_dir,
            enabled=self.is_main,
            tensorboard=self.cfg.tensorboard,
            resume_step=resume_step,
            history_csv=source_csv,
            logger=self.log,
        )
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            dynamic_ncols=True,
            disable=not (self.is_main and self.cfg.progress_bar),
        )
        window: dict[str, list[float]] = {}
        window_start = time.perf_counter()
        last_saved = resume_step
        self.model.train()
        try:
            while self.step < self.total_steps:
                self.sampler.set_epoch(self.epoch, self.step_in_epoch)
                batches = iter(self.loader)
                for _ in range(self.step_in_epoch, self.steps_per_epoch):
                    metrics = self._optimizer_step(batches, training_step)
                    last_lr = metrics.pop("lr")
                    for name, value in metrics.items():
                        window.setdefault(name, [0.0, 0])
                        window[name][0] += value
                        window[name][1] += 1
                    self.step += 1
                    self.step_in_epoch += 1
                    if self.step_in_epoch == self.steps_per_epoch:
                        self.epoch += 1
                        self.step_in_epoch = 0
                    bar.update(1)
                    bar.set_postfix(loss=f"{metrics['loss']:.4g}", refresh=False)
                    done = self.step >= self.total_steps
                    if self.step % self.cfg.log_every == 0 or done:
                        elapsed = time.perf_counter() - window_start
                        self._log_window(metrics_log, window, elapsed, last_lr)
                        window = {}
                        window_start = time.perf_counter()
                    every = self.cfg.checkpoint_every
                    if (every and self.step % every == 0) or (done and last_saved != self.step):
                        self.save_checkpoint()
                        last_saved = self.step
                    if done:
                        break
        finally:
            bar.close()
            metrics_log.close()
        self.accelerator.wait_for_everyone()

    def _optimizer_step(self, batches, training_step: TrainingStep) -> dict[str, float]:
        from accelerate.utils import send_to_device

        acc, cfg = self.accelerator, self.cfg
        sums: dict[str, float] = {}
        lr = float(self.optimizer.param_groups[0]["lr"])
        for micro in range(cfg.grad_accum):
            batch = send_to_device(next(batches), acc.device)
            ctx = StepContext(self, self.model, self.step, self.epoch, micro, self.ema)
            last = micro == cfg.grad_accum - 1
            with contextlib.nullcontext() if last else acc.no_sync(self.model):
                with acc.autocast():
                    output = training_step(batch, ctx)
                loss, extra = output if isinstance(output, tuple) else (output, {})
                loss_value = float(loss.detach())
                if not np.isfinite(loss_value):
                    raise FloatingPointError(f"loss is {loss_value} at step {self.step}")
                acc.backward(loss / cfg.grad_accum)
            sums["loss"] = sums.get("loss", 0.0) + loss_value
            for name, value in extra.items():
                value = float(value.detach()) if torch.is_tensor(value) else float(value)
                sums[name] = sums.get(name, 0.0) + value
        metrics = {name: total / cfg.grad_accum for name, total in sums.items()}
        if cfg.grad_clip is not None:
            norm = acc.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            metrics["grad_norm"] = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._sync_buffers()
        if self.ema is not None and cfg.ema.update == "after_step":
            self.ema.update(self.model)
        metrics["lr"] = lr
        return metrics

    @torch.no_grad()
    def _sync_buffers(self) -> None:
        """Give every process the main process's buffers (BN statistics) after each step.

        DDP keeps parameters equal but lets each process update its own running statistics
        after the broadcast at the start of a forward; re-broadcasting here means all processes
        end every step with identical weights, so the EMA teacher (and every checkpoint, written
        from the main process) is the same on all of them.
        """
        if self.accelerator.num_processes == 1:
            return
        for buffer in self.unwrapped_model().buffers():
            torch.distributed.broadcast(buffer, src=0)

    def _log_window(
        self, metrics_log: MetricLogger, window: dict, elapsed: float, lr: float
    ) -> None:
        """Average the window's metrics over steps and processes; log them with the last lr."""
        from accelerate.utils import gather_object

        local = {name: (total, count) for name, (total, count) in window.items()}
        gathered = gather_object([local]) if self.accelerator.num_processes > 1 else [local]
        if not self.is_main:
            return
        merged: dict[str, list[float]] = {}
        for part in gathered:
            for name, (total, count) in part.items():
                merged.setdefault(name, [0.0, 0])
                merged[name][0] += total
                merged[name][1] += count
        values = {name: total / count for name, (total, count) in merged.items()}
        steps = max(1, window.get("loss", (0, 1))[1])
        values["lr"] = lr
        values["epoch"] = self.epoch
        values["sec_per_step"] = elapsed / steps
        metrics_log.log(self.step, values)

    # ---------------------------------------------------------------------------------------
    # checkpoints

    def _save_unwrapped_weights(self, models, weights, output_dir) -> None:
        for index, model in enumerate(models):
            weights[index] = unwrap_model(model).state_dict()

    def _load_into_unwrapped(self, models, input_dir) -> None:
        for index, model in enumerate(models):
            models[index] = unwrap_model(model)

    def _existing_checkpoints(self) -> list[Path]:
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for entry in self.checkpoint_dir.iterdir():
            suffix = entry.name[len(CHECKPOINT_PREFIX) :]
            if entry.is_dir() and entry.name.startswith(CHECKPOINT_PREFIX) and suffix.isdigit():
                found.append(entry)
        return sorted(found, key=checkpoint_step)

    def trainer_state(self) -> dict:
        """Everything besides model/optimizer/RNG that a resume needs (tensors and plain data)."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "num_processes": self.accelerator.num_processes,
            "batch_size": self.cfg.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.cfg.seed,
            "scheduler": self.scheduler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "extra": {name: obj.state_dict() for name, obj in self.extra_state.items()},
            "config": config_to_dict(self.config),
        }

    def save_checkpoint(self) -> Path:
        """Write ``<run>/checkpoints/step_<n>/`` (all processes must call this together).

        The folder is assembled under a temporary name and renamed when complete, so a crash
        never leaves a partial ``step_<n>``.
        """
        acc = self.accelerator
        final = self.checkpoint_dir / f"{CHECKPOINT_PREFIX}{self.step}"
        staging = self.checkpoint_dir / f".{final.name}.partial"
        if self.is_main:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(staging))
        acc.wait_for_everyone()  # every process has written its random states
        if self.is_main:
            state = self.trainer_state()
            atomic_save(staging / TRAINER_STATE, lambda tmp: torch.save(state, tmp))
            dump_config(self.config, staging / "config.yaml")
            if final.exists():
                retired = self.checkpoint_dir / f".{final.name}.old"
                shutil.rmtree(retired, ignore_errors=True)
                os.replace(final, retired)
                os.replace(staging, final)
                shutil.rmtree(retired)
            else:
                os.replace(staging, final)
            self._prune_checkpoints(keep=final)
            self.log.info("saved checkpoint %s", final)
        acc.wait_for_everyone()
        return final

    def _prune_checkpoints(self, keep: Path) -> None:
        limit = self.cfg.keep_checkpoints
        if limit is None:
            return
        existing = [p for p in self._existing_checkpoints() if p != keep]
        for old in existing[: max(0, len(existing) - (limit - 1))]:
            shutil.rmtree(old)

    def _check_checkpoint_dir(self, path: Path) -> None:
        if not path.is_dir():
            raise VOSDataError(path, "checkpoint folder not found")
        if not (path / TRAINER_STATE).is_file():
            raise VOSDataError(path, f"not a training checkpoint folder (no {TRAINER_STATE})")

    def _load_checkpoint(self, path: Path) -> None:
        acc = self.accelerator
        state = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=True)
        for key, mine in (
            ("batch_size", self.cfg.batch_size),
            ("steps_per_epoch", self.steps_per_epoch),
        ):
            if state[key] != mine:
                raise VOSDataError(
                    path,
                    f"cannot resume exactly: the checkpoint has {key} {state[key]},"
                    f" this run {mine}",
                )
        if (self.ema is None) != (state["ema"] is None):
            raise VOSDataError(path, "the checkpoint and this run disagree on using an EMA")
        missing = sorted(set(self.extra_state) - set(state["extra"]))
        if missing:
            raise VOSDataError(path, f"no saved state for {', '.join(missing)}")
        acc.load_state(str(path))
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        for name, obj in self.extra_state.items():
            obj.load_state_dict(state["extra"][name])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        if state["num_processes"] == acc.num_processes:
            self._verify_rng_restored(path)
        else:
            self.log.warning(
                "checkpoint written by %d process(es), resumed on %d: data order and weights "
                "continue exactly, per-process random streams are re-seeded",
                state["num_processes"],
                acc.num_processes,
            )
            seed_everything(derive_seed(self.cfg.seed, acc.process_index, self.step))
        self._log_config_changes(state["config"])
        self.log.info("resumed at step %d (epoch %d)", self.step, self.epoch)

    def _verify_rng_restored(self, path: Path) -> None:
        """Accelerate skips unreadable RNG files silently; make that an error instead."""
        from accelerate.utils import load

        rng_file = path / f"random_states_{self.accelerator.process_index}.pkl"
        if not rng_file.is_file():
            raise VOSDataError(path, f"{rng_file.name} is missing")
        saved = load(rng_file)
        restored = (
            torch.equal(saved["torch_manual_seed"], torch.get_rng_state())
            and saved["random_state"] == random.getstate()
            and all(
                np.array_equal(a, b)
                for a, b in zip(saved["numpy_random_seed"], np.random.get_state(), strict=True)
            )
        )
        if not restored:
            raise VOSDataError(rng_file, "random states were not restored by accelerate")

    def _log_config_changes(self, saved: Mapping) -> None:
        old, new = _flatten(saved), _flatten(config_to_dict(self.config))
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if changed:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
            self.log.warning("config differs from the checkpoint's: %s", details)

    # ---------------------------------------------------------------------------------------
    # results

    def unwrapped_model(self) -> nn.Module:
        """The trained module without DDP/compile wrappers."""
        return unwrap_model(self.model)

    def save_weights(self, path: str | os.PathLike, *, ema: bool = False) -> None:
        """Save the plain model (or EMA) state_dict to ``path`` atomically, on the main process."""
        if not self.is_main:
            return
        from vos_common.checkpoint import save_state_dict

        if ema and self.ema is None:
            raise ValueError("this run has no EMA")
        module = self.ema.module if ema else self.unwrapped_model()
        save_state_dict(module, path)

    def close(self) -> None:
        """Wait for all processes and shut the process group down (end of the script)."""
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
