"""Typed configs of OAST's phases (YAML files in ``oast/configs``, loaded by vos_common.config).

The defaults are the release's values (spec §3, the flags the release is missing filled in with
the values of its git history); ``configs/phase_a.yaml``, ``phase_b.yaml``, ``phase_c.yaml`` state
them explicitly and ``configs/tiny_*.yaml`` are the CPU smoke versions (64×64, synthetic data).

Switches for the release's bugs (defaults reproduce the release, except checkpoint selection):

* ``loss.adv_loss``: ``released`` = BCE-with-logits on D_A's probabilities (double sigmoid);
  ``corrected`` = plain BCE.
* ``selection``: ``last`` (default) keeps the weights of the last epoch and never looks at test
  labels; ``test_gt`` is the release's rule (phases A/B: the epoch with the best pooled IoU on
  the DAVIS-2016 val + FBMS val ground truth, saved only on a strict improvement; phase C: the
  epoch where max(teacher IoU, student IoU) on the tuned test videos improves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from vos_common.training.config import OptimizerConfig, ScheduleConfig, TrainConfig

from oast.data.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "ModelConfig",
    "DataConfig",
    "LossConfig",
    "PhaseABConfig",
    "PhaseCConfig",
    "config_path",
    "CONFIG_NAMES",
]

CONFIG_NAMES = (
    "phase_a",
    "phase_b",
    "phase_c",
    "tiny_phase_a",
    "tiny_phase_b",
    "tiny_phase_c",
    "tiny_learn",
)


def config_path(name: str) -> Path:
    """The packaged YAML ``oast/configs/<name>.yaml`` (or ``name`` itself if it is a file)."""
    if Path(name).is_file():
        return Path(name)
    return Path(str(resources.files("oast") / "configs" / f"{name}.yaml"))


@dataclass
class ModelConfig:
    """``scale`` xxs/xs/s; ``dropout`` before the head (released 0); ``pretrained``: MobileViT
    backbone file (phase A); ``finetune``: OAST checkpoint to start from (phases B and C)."""

    scale: Literal["xxs", "xs", "s"] = "s"
    dropout: float = 0.0
    pretrained: str | None = None
    finetune: str | None = None


@dataclass
class DataConfig:
    """Where the data is and how samples are made (spec §4)."""

    data_dir: str = "data"
    labeled_datasets: list[str] = field(default_factory=lambda: ["YouTubeVOS-2018", "DAVIS-2016"])
    unlabeled_datasets: list[str] = field(default_factory=lambda: ["Youtube-objects"])
    test_datasets: list[str] = field(default_factory=lambda: ["DAVIS-2016", "FBMS"])
    img_size: list[int] = field(default_factory=lambda: [384, 640])
    youtube_stride: int = 10
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    eval_frames: int | None = None
    tune_frames: int | None = None

    def __post_init__(self) -> None:
        if len(self.img_size) != 2:
            raise ValueError("data.img_size needs two values [H, W]")
        from oast.model.network import check_input_size

        check_input_size(*self.img_size)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("data.mean and data.std need three values")


@dataclass
class LossConfig:
    lambda_adv: float = 1e-4
    adv_loss: Literal["released", "corrected"] = "released"


def _ab_train() -> TrainConfig:
    return TrainConfig(
        seed=0,
        batch_size=4,
        epochs=30,
        mixed_precision="fp16",
        num_workers=8,
        checkpoint_every=0,
        log_every=10,
        optimizer=OptimizerConfig(name="adamw", lr=1e-4, weight_decay=1e-2),
        schedule=ScheduleConfig(name="step", unit="epoch", step_size=10, gamma=0.1),
    )


def _c_train() -> TrainConfig:
    return TrainConfig(
        seed=0,
        batch_size=2,
        epochs=10,
        mixed_precision="no",
        num_workers=8,
        shuffle=False,
        checkpoint_every=0,
        log_every=10,
        optimizer=OptimizerConfig(name="adamw", lr=1e-5, weight_decay=1e-2),
        schedule=ScheduleConfig(name="constant"),
    )


@dataclass
class PhaseABConfig:
    """Phase A (labeled YouTube-VOS + DAVIS, unlabeled Youtube-objects) and phase B (DAVIS only).

    ``train.batch_size`` is the global batch (the original's 2 per GPU × 2 GPUs = 4);
    ``start_epoch``/``start_adv`` are 1-based (adversarial term from epoch ``start_adv``);
    ``max_iters_per_epoch`` cuts epochs short (smoke runs); ``eval_every`` epochs the pooled IoU
    on ``data.test_datasets`` is logged (0: never).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=_ab_train)
    disc_optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(name="adamw", lr=1e-4, weight_decay=1e-2)
    )
    start_epoch: int = 1
    start_adv: int = 1
    max_iters_per_epoch: int | None = None
    eval_every: int = 1
    selection: Literal["last", "test_gt"] = "last"
    sync_bn: bool = True
    save_dir: str = "runs/oast"
    experiment: str = "phase_a"


@dataclass
class PhaseCConfig:
    """Phase C: online adversarial self-tuning on ``data.test_datasets`` (the test videos).

    ``model.finetune`` is the phase-B checkpoint (teacher and student start from it);
    ``rates``: the rescale rates of the fourth teacher view (one drawn per batch);
    ``ema_momentum``: teacher ← m·teacher + (1 − m)·student after every step (parameters only).
    """

    model: ModelConfig = field(default_factory=lambda: ModelConfig(scale="xxs"))
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=_c_train)
    disc_optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(name="adamw", lr=1e-5, weight_decay=1e-2)
    )
    rates: list[float] = field(default_factory=lambda: [0.5, 0.75, 1.25, 1.5])
    ema_momentum: float = 0.9996
    max_iters_per_epoch: int | None = None
    selection: Literal["last", "test_gt"] = "last"
    save_dir: str = "runs/oast"
    experiment: str = "phase_c"

    def __post_init__(self) -> None:
        if not self.rates:
            raise ValueError("rates must not be empty")
        from oast.engine import rescaled_size

        for rate in self.rates:
            rescaled_size(*self.data.img_size, rate)
