"""The ``train:`` section shared by every method's config (plain dataclasses, no torch import).

A method's top-level config dataclass has a ``train: TrainConfig`` field next to its own
``model:``/``data:``/``loss:`` sections; :class:`vos_common.training.Trainer` reads only this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["no", "fp16", "bf16"]


@dataclass
class OptimizerConfig:
    """Optimizer of the paper. ``weight_decay`` is coupled L2 for adam/sgd, decoupled for adamw."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.9
    nesterov: bool = False


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, evaluated at every optimizer step.

    ``name``: ``constant``; ``step`` (×``gamma`` at each of ``milestones``, or every
    ``step_size`` units); ``poly`` (``(lr0 - min_lr)·(1 - t/total)^power + min_lr``); ``cosine``
    (``min_lr + (lr0 - min_lr)·(1 + cos(π t/total))/2``). ``unit`` says what ``t``, ``milestones``,
    ``step_size`` and ``total`` count: optimizer steps (``iter``) or finished epochs (``epoch``,
    i.e. the value changes only at epoch boundaries). ``total`` defaults to the run length.
    A linear warm-up over the first ``warmup_iters`` optimizer steps multiplies any schedule by
    ``warmup_start_factor + (1 - warmup_start_factor)·t/warmup_iters``.
    """

    name: Literal["constant", "step", "poly", "cosine"] = "constant"
    unit: Literal["iter", "epoch"] = "iter"
    milestones: list[int] = field(default_factory=list)
    step_size: int | None = None
    gamma: float = 0.1
    power: float = 0.9
    min_lr: float = 0.0
    total: int | None = None
    warmup_iters: int = 0
    warmup_start_factor: float = 0.001


@dataclass
class EMAConfig:
    """Exponential moving average of the weights (a teacher): ``ema = m·ema + (1 - m)·param``.

    ``buffers``: ``copy`` (BN statistics copied from the model), ``average`` (buffers mixed like
    parameters; integer buffers are truncated, as RCF does) or ``keep`` (never touched).
    ``update``: ``after_step`` (the trainer updates after every optimizer step) or ``manual``
    (the method's training step calls ``ctx.ema.update(model)`` itself, e.g. before the step).
    """

    momentum: float = 0.999
    buffers: Literal["copy", "average", "keep"] = "copy"
    update: Literal["after_step", "manual"] = "after_step"


@dataclass
class TrainConfig:
    """Run length, batching, precision, checkpointing and logging of one training stage.

    ``batch_size`` is the GLOBAL batch of one optimizer step: every process loads
    ``batch_size / (num_processes · grad_accum)`` samples per micro-step, and that must divide
    evenly. Give exactly one of ``max_steps`` (optimizer steps) and ``epochs``.
    ``checkpoint_every`` is in optimizer steps (0: only at the end); ``keep_checkpoints`` keeps the
    newest N step folders (null keeps all).
    """

    seed: int = 0
    batch_size: int = 1
    grad_accum: int = 1
    max_steps: int | None = None
    epochs: int | None = None
    mixed_precision: Precision = "no"
    grad_clip: float | None = None
    shuffle: bool = True
    num_workers: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int | None = None
    log_every: int = 10
    tensorboard: bool = True
    progress_bar: bool = True
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema: EMAConfig | None = None

    def __post_init__(self) -> None:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of max_steps and epochs")
        for name in ("batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError("epochs must be at least 1")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("checkpoint_every must be >= 0 and log_every >= 1")
