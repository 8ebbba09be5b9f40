"""Reference ``train.py``: a tiny conv net trained on synthetic images through the real Trainer.

    python -m vos_common.training.toy CONFIG [--opts K V ...] [--resume DIR] [--output DIR]
    accelerate launch --multi_gpu --num_processes 2 -m vos_common.training.toy CONFIG --output DIR

It is what a method's ``train`` module looks like (config dataclass with a ``train`` section,
dataset, model, training step, ``main``), small enough for tests: sample ``i`` is a fixed random
8×8 image plus augmentation noise drawn from the global RNGs, the target is the clean image's
mean. At the end every process writes ``final_rank<p>.json`` with sha256 fingerprints of its
model (and EMA) weights, which the tests compare across processes and resumed runs.
Example configs: ``vos_common/training/toy_configs/``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from vos_common.checkpoint import state_dict_sha256
from vos_common.errors import cli_errors
from vos_common.io.atomic import atomic_write_text
from vos_common.training.cli import build_train_parser, load_train_config
from vos_common.training.config import TrainConfig
from vos_common.training.trainer import StepContext, Trainer, run_dir_for

CONFIG_DIR = Path(__file__).with_name("toy_configs")


@dataclass
class ToyModelConfig:
    channels: int = 4
    dropout: float = 0.1
    batch_norm: bool = True


@dataclass
class ToyDataConfig:
    num_samples: int = 40
    size: int = 8
    noise: float = 0.1


@dataclass
class ToyConfig:
    train: TrainConfig
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    data: ToyDataConfig = field(default_factory=ToyDataConfig)


class ToyDataset(Dataset):
    """Item ``i``: ``{"image": [1, S, S] float, "target": [1] float}``.

    The clean image depends only on ``i``; the augmentation (Gaussian noise from torch, a
    brightness shift from NumPy, a flip from ``random``) comes from the global RNGs, which the
    trainer seeds per sample.
    """

    def __init__(self, cfg: ToyDataConfig):
        self.cfg = cfg

    def __len__(self) -> int:
        return self.cfg.num_samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        size = self.cfg.size
        clean = torch.rand(1, size, size, generator=torch.Generator().manual_seed(index))
        image = clean + self.cfg.noise * torch.randn(1, size, size)
        image = image + float(np.random.uniform(-0.05, 0.05))
        if random.random() < 0.5:
            image = image.flip(-1)
        return {"image": image, "target": clean.mean().reshape(1)}


class ToyNet(nn.Module):
    """conv3×3 → (BN) → ReLU → dropout → global average pool → linear: ``[B,1,S,S] → [B,1]``."""

    def __init__(self, cfg: ToyModelConfig):
        super().__init__()
        self.conv = nn.Conv2d(1, cfg.channels, 3, padding=1, bias=not cfg.batch_norm)
        self.norm = nn.BatchNorm2d(cfg.channels) if cfg.batch_norm else nn.Identity()
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.dropout(F.relu(self.norm(self.conv(image))))
        return self.head(features.mean(dim=(2, 3)))


def toy_step(batch: dict[str, torch.Tensor], ctx: StepContext):
    """The method's own part of the loop: forward, loss, extra metrics."""
    prediction = ctx.model(batch["image"])
    loss = F.mse_loss(prediction, batch["target"])
    return loss, {"mae": (prediction - batch["target"]).abs().mean()}


def write_fingerprints(trainer: Trainer) -> Path:
    """Write ``<run>/final_rank<p>.json``: sha256 of this process's model and EMA weights."""
    rank = trainer.accelerator.process_index
    record = {
        "step": trainer.step,
        "model": state_dict_sha256(trainer.unwrapped_model().state_dict()),
        "ema": None if trainer.ema is None else state_dict_sha256(trainer.ema.module.state_dict()),
    }
    path = trainer.run_dir / f"final_rank{rank}.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


@cli_errors
def main(argv: list[str] | None = None) -> None:
    args = build_train_parser("vos_common.training.toy", __doc__.splitlines()[0]).parse_args(argv)
    cfg = load_train_config(args, ToyConfig)
    run_dir = run_dir_for(args.config, args.output, args.resume)
    command = None if argv is None else ["python", "-m", "vos_common.training.toy", *argv]
    trainer = Trainer(cfg.train, run_dir, config=cfg, resume=args.resume, argv=command)
    model = ToyNet(cfg.model)
    trainer.setup(model, ToyDataset(cfg.data))
    trainer.fit(toy_step)
    write_fingerprints(trainer)
    trainer.save_weights(run_dir / "toy_final.pth")
    trainer.close()


if __name__ == "__main__":
    main()
