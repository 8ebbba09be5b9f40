"""Exponential moving average of a model's weights (mean teacher: RCF, SFC, OAST).

The EMA holds a frozen deep copy of the model. :meth:`ModelEMA.update` mixes every parameter as
``ema = m·ema + (1 - m)·param`` and treats buffers (BatchNorm statistics) by a declared rule.
Its ``state_dict()`` keeps the model's own key names, so an EMA teacher saves and loads like the
model (``{'model_ema': ema.module.state_dict()}`` is OAST's container).
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

__all__ = ["ModelEMA", "unwrap_model"]

BufferRule = Literal["copy", "average", "keep"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel / ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class ModelEMA:
    """A frozen copy of ``model`` updated as ``ema = m·ema + (1 - m)·param`` after each step.

    ``buffers``: ``"copy"`` copies the model's buffers (BN running statistics) at each update,
    ``"average"`` mixes floating buffers like parameters and integer buffers in float then
    truncates back (RCF's teacher does this with ``num_batches_tracked``), ``"keep"`` never
    touches them (OAST, SFC). The copy keeps the model's train/eval mode; use ``ema.module`` to
    run the teacher.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.999, buffers: BufferRule = "copy"):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
        if buffers not in ("copy", "average", "keep"):
            raise ValueError(f"unknown EMA buffer rule {buffers!r}")
        self.module = copy.deepcopy(unwrap_model(model))
        self.module.requires_grad_(False)
        self.momentum = momentum
        self.buffers = buffers
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module, momentum: float | None = None) -> None:
        """Mix ``model``'s current weights into the EMA (``momentum``: override for this call)."""
        m = self.momentum if momentum is None else momentum
        source = unwrap_model(model)
        ema_params = dict(self.module.named_parameters())
        for name, param in source.named_parameters():
            ema = ema_params[name]
            ema.mul_(m).add_(param.detach().to(ema.dtype), alpha=1.0 - m)
        if self.buffers != "keep":
            ema_buffers = dict(self.module.named_buffers())
            for name, buffer in source.named_buffers():
                ema = ema_buffers[name]
                if self.buffers == "copy":
                    ema.copy_(buffer)
                elif ema.is_floating_point():
                    ema.mul_(m).add_(buffer.to(ema.dtype), alpha=1.0 - m)
                else:
                    ema.copy_(ema * m + (1.0 - m) * buffer)
        self.num_updates += 1

    @torch.no_grad()
    def copy_from(self, model: nn.Module) -> None:
        """Set every EMA tensor to the model's (after loading a checkpoint without EMA keys)."""
        self.module.load_state_dict(unwrap_model(model).state_dict())

    def state_dict(self) -> dict:
        return {
            "module": self.module.state_dict(),
            "momentum": self.momentum,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.momentum = float(state["momentum"])
        self.num_updates = int(state["num_updates"])
