"""Training plumbing shared by the methods: the ``train`` config section, an Accelerate-based
:class:`Trainer`, LR schedules, EMA teacher, deterministic data order and the common CLI.

Needs torch and accelerate (the ``torch`` extra of vos-common); the data layer does not import it.
``vos_common.training.toy`` is the reference entry point; docs/training.md walks through it.
"""

from vos_common.training.cli import build_train_parser, load_train_config
from vos_common.training.config import EMAConfig, OptimizerConfig, ScheduleConfig, TrainConfig
from vos_common.training.data import (
    GlobalBatchSampler,
    SeededSamples,
    build_train_loader,
    micro_batch_size,
)
from vos_common.training.ema import ModelEMA, unwrap_model
from vos_common.training.logs import MetricLogger, read_metrics_csv
from vos_common.training.optim import build_optimizer
from vos_common.training.schedules import (
    ConstantSchedule,
    CosineSchedule,
    LinearWarmup,
    PerEpoch,
    PolySchedule,
    ScheduledLR,
    StepSchedule,
    build_schedule,
    build_scheduler,
    lr_at,
)
from vos_common.training.seeding import derive_seed, fork_rng, seed_everything
from vos_common.training.trainer import StepContext, Trainer, checkpoint_step, run_dir_for

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "EMAConfig",
    "GlobalBatchSampler",
    "LinearWarmup",
    "MetricLogger",
    "ModelEMA",
    "OptimizerConfig",
    "PerEpoch",
    "PolySchedule",
    "ScheduleConfig",
    "ScheduledLR",
    "SeededSamples",
    "StepContext",
    "StepSchedule",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "build_schedule",
    "build_scheduler",
    "build_train_loader",
    "build_train_parser",
    "checkpoint_step",
    "derive_seed",
    "fork_rng",
    "load_train_config",
    "lr_at",
    "micro_batch_size",
    "read_metrics_csv",
    "run_dir_for",
    "seed_everything",
    "unwrap_model",
]
