"""Build the optimizer a config names (Adam with coupled L2, AdamW, SGD with momentum)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from vos_common.training.config import OptimizerConfig

__all__ = ["build_optimizer"]


def build_optimizer(params: Iterable, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The optimizer for ``params`` (tensors or param-group dicts); frozen tensors are skipped.

    ``adam`` adds ``weight_decay·param`` to the gradient (coupled L2, as MiVOS, RDE and RCF do);
    ``adamw`` decays the weights directly (OAST); ``sgd`` uses ``momentum`` and ``nesterov``.
    """
    params = list(params)
    if params and isinstance(params[0], dict):
        groups = [dict(g, params=[p for p in g["params"] if p.requires_grad]) for g in params]
        params = [g for g in groups if g["params"]]
    else:
        params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters to optimize")
    if cfg.name in ("adam", "adamw"):
        if len(cfg.betas) != 2:
            raise ValueError(f"optimizer.betas needs two values, got {cfg.betas}")
        kind = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
        return kind(
            params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
        )
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.nesterov,
        )
    raise ValueError(f"unknown optimizer {cfg.name!r}")
