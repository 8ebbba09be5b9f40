"""Learning-rate schedules of the five papers as one torch LR scheduler.

A schedule is a small picklable object ``schedule(t, base_lr) -> lr`` of the optimizer-step
index ``t`` (0 before the first step). :class:`ScheduledLR` evaluates it for every param group
and is stepped once per optimizer step, whatever the schedule's unit; per-epoch schedules are
wrapped in :class:`PerEpoch`, which feeds them the number of finished epochs.

Examples from the specs: MiVOS/RDE ``StepSchedule([125000], 0.1)`` per iteration; RCF
``PerEpoch(PolySchedule(200, 0.9, min_lr=1e-6), steps_per_epoch)``; OAST
``PerEpoch(StepSchedule(step_size=10, gamma=0.1), steps_per_epoch)``; RDE's optional warm-up
``LinearWarmup(StepSchedule(...), warmup_iters, start_factor)``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.optim.lr_scheduler import LRScheduler

from vos_common.training.config import ScheduleConfig

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "LinearWarmup",
    "PerEpoch",
    "PolySchedule",
    "ScheduledLR",
    "StepSchedule",
    "build_schedule",
    "build_scheduler",
    "lr_at",
]

Schedule = Callable[[int, float], float]


@dataclass(frozen=True)
class ConstantSchedule:
    """``lr = base_lr`` at every step."""

    def __call__(self, t: int, base_lr: float) -> float:
        return base_lr


@dataclass(frozen=True)
class StepSchedule:
    """``lr = base_lr · gamma^k``, ``k`` = milestones reached (``t >= m``) or ``t // step_size``.

    Same values as ``torch.optim.lr_scheduler.MultiStepLR`` / ``StepLR`` stepped with ``t``.
    """

    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1
    step_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(sorted(self.milestones)))
        if self.step_size is not None and self.step_size < 1:
            raise ValueError("step_size must be at least 1")

    def __call__(self, t: int, base_lr: float) -> float:
        if self.step_size is not None:
            decays = t // self.step_size
        else:
            decays = bisect.bisect_right(self.milestones, t)
        return base_lr * self.gamma**decays


@dataclass(frozen=True)
class PolySchedule:
    """``lr = (base_lr - min_lr) · (1 - t/total)^power + min_lr``; ``min_lr`` after ``total``."""

    total: int
    power: float = 0.9
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError("poly schedule needs total >= 1")

    def __call__(self, t: int, base_lr: float) -> float:
        progress = min(t, self.total) / self.total
        return (base_lr - self.min_lr) * (1.0 - progress) ** self.power + self.min_lr


@dataclass(frozen=True)
class CosineSchedule:
    """``lr = min_lr + (base_lr - min_lr) · (1 + cos(π · t/total)) / 2``; ``min_lr`` after."""

    total: int
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError("cosine schedule needs total >= 1")

    def __call__(self, t: int, base_lr: float) -> float:
        progress = min(t, self.total) / self.total
        return self.min_lr + (base_lr - self.min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


@dataclass(frozen=True)
class PerEpoch:
    """Evaluate ``inner`` at the number of finished epochs ``t // steps_per_epoch``."""

    inner: Schedule
    steps_per_epoch: int

    def __post_init__(self) -> None:
        if self.steps_per_epoch < 1:
            raise ValueError("steps_per_epoch must be at least 1")

    def __call__(self, t: int, base_lr: float) -> float:
        return self.inner(t // self.steps_per_epoch, base_lr)


@dataclass(frozen=True)
class LinearWarmup:
    """Multiply ``inner`` by ``start + (1 - start) · t / warmup_iters`` for ``t < warmup_iters``.

    The factor rises linearly from ``start_factor`` at step 0 to 1 at ``warmup_iters`` (the
    ``torch.optim.lr_scheduler.LinearLR`` ramp); ``inner`` runs on the same step count.
    """

    inner: Schedule
    warmup_iters: int
    start_factor: float = 0.001

    def __call__(self, t: int, base_lr: float) -> float:
        lr = self.inner(t, base_lr)
        if t >= self.warmup_iters:
            return lr
        return lr * (self.start_factor + (1.0 - self.start_factor) * t / self.warmup_iters)


class ScheduledLR(LRScheduler):
    """A torch LR scheduler driven by a schedule object; call ``step()`` after every optimizer step.

    ``state_dict()`` holds only the step counter and learning rates (the schedule is rebuilt from
    the config), so it loads with ``torch.load(weights_only=True)``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1):
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.schedule(self.last_epoch, float(base)) for base in self.base_lrs]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}

    def load_state_dict(self, state_dict: dict) -> None:
        state = {k: v for k, v in state_dict.items() if k not in ("optimizer", "schedule")}
        self.__dict__.update(state)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr


def build_schedule(cfg: ScheduleConfig, total_steps: int, steps_per_epoch: int) -> Schedule:
    """The schedule object for a :class:`ScheduleConfig` and a run of ``total_steps`` steps."""
    if cfg.unit == "epoch":
        default_total = max(1, math.ceil(total_steps / steps_per_epoch))
    else:
        default_total = total_steps
    total = cfg.total if cfg.total is not None else default_total
    inner: Schedule
    if cfg.name == "constant":
        inner = ConstantSchedule()
    elif cfg.name == "step":
        if not cfg.milestones and cfg.step_size is None:
            raise ValueError("a step schedule needs milestones or step_size")
        inner = StepSchedule(tuple(cfg.milestones), cfg.gamma, cfg.step_size)
    elif cfg.name == "poly":
        inner = PolySchedule(total, cfg.power, cfg.min_lr)
    elif cfg.name == "cosine":
        inner = CosineSchedule(total, cfg.min_lr)
    else:
        raise ValueError(f"unknown schedule {cfg.name!r}")
    if cfg.unit == "epoch":
        inner = PerEpoch(inner, steps_per_epoch)
    if cfg.warmup_iters > 0:
        inner = LinearWarmup(inner, cfg.warmup_iters, cfg.warmup_start_factor)
    return inner


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: ScheduleConfig,
    total_steps: int,
    steps_per_epoch: int,
) -> ScheduledLR:
    """A :class:`ScheduledLR` for ``cfg`` (see :func:`build_schedule`)."""
    return ScheduledLR(optimizer, build_schedule(cfg, total_steps, steps_per_epoch))


def lr_at(schedule: Schedule, steps: Sequence[int], base_lr: float) -> list[float]:
    """The learning rates of ``schedule`` at the given steps (for logs, plots and tests)."""
    return [schedule(t, base_lr) for t in steps]
