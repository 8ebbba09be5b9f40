"""Loading RCF / AMD weights strictly, and writing Lightning-compatible ``last.ckpt`` containers.

The original loads every file with ``strict=False`` and only logs mismatches, so a file of the
wrong format silently loads nothing (spec §2.1, pitfall 16). Here the format is detected as
the original does, then the keys are checked strictly through :mod:`vos_common.checkpoint`;
any missing / unexpected / mis-shaped key stops with one line naming the file. The only keys
allowed to differ are the ones the original's recipe expects to differ:

* a checkpoint without EMA keys loaded into a model with an EMA teacher fills the teacher
  with the main weights (stage 1 -> 2.1);
* EMA keys in the file are ignored by a model without a teacher (export / eval configs);
* ``drop_head_decode_head2`` leaves the segmentation head at its initialisation (STv2 2.2);
* ``pretrained_model_backbone_only`` keeps only ``backbone2`` weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn
from vos_common.checkpoint import (
    KEY_MAPS,
    extract_state_dict,
    load_checkpoint,
    load_state_dict_strict,
    save_checkpoint,
)
from vos_common.errors import VOSDataError

LIGHTNING_VERSION = "1.7.7"
EMA_PREFIXES = ("backbone2_ema.", "decode_head2_ema.")


@dataclass
class PretrainedReport:
    path: str
    kind: str
    loaded: int
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"loaded {self.loaded} tensors from {self.path} ({self.kind})"
        return text + ("; " + "; ".join(self.notes) if self.notes else "")


def _is_ema_key(key: str) -> bool:
    return key.startswith(EMA_PREFIXES)


def _load_whole_model(
    model: nn.Module, state: dict, path, kind: str, drop_head2: bool, backbone_only: bool
) -> PretrainedReport:
    notes = []
    model_keys = set(model.state_dict())
    model_has_ema = any(_is_ema_key(k) for k in model_keys)
    file_has_ema = any(_is_ema_key(k) for k in state)
    if backbone_only:
        state = {k: v for k, v in state.items() if "backbone" in k}
        notes.append("kept backbone weights only")
    if model_has_ema and not file_has_ema:
        fill = {}
        for key, value in state.items():
            if key.startswith("backbone2."):
                fill["backbone2_ema." + key[len("backbone2.") :]] = value
            elif key.startswith("decode_head2."):
                fill["decode_head2_ema." + key[len("decode_head2.") :]] = value
        state = {**state, **fill}
        notes.append("no EMA weights in the file: the EMA teacher starts from the main weights")
    elif file_has_ema and not model_has_ema:
        dropped = [k for k in state if _is_ema_key(k)]
        state = {k: v for k, v in state.items() if not _is_ema_key(k)}
        notes.append(f"ignored {len(dropped)} EMA tensors (this config has no EMA teacher)")
    allow_missing: list[str] = []
    if drop_head2:
        state = {
            k: v
            for k, v in state.items()
            if not k.startswith(("decode_head2.", "decode_head2_ema."))
        }
        allow_missing += ["decode_head2.", "decode_head2_ema."]
        notes.append(
            "dropped decode_head2 (drop_head_decode_head2): the segmentation head starts fresh"
        )
    if backbone_only:
        allow_missing += [k.split(".")[0] + "." for k in model_keys if "backbone" not in k]
    load_state_dict_strict(model, state, path, allow_missing=allow_missing, context=kind)
    return PretrainedReport(str(path), kind, len(state), notes)


def load_pretrained(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    drop_head_decode_head2: bool = False,
    backbone_only: bool = False,
) -> PretrainedReport:
    """Load ``pretrained_model`` into an :class:`RCFModel` (or AMD model) strictly; see module doc.

    Formats (detected like the original): a Lightning container or bare model state_dict with
    ``model.`` prefixes; a MoCo checkpoint (``module.encoder_q.*``); a DenseCL / torchvision
    ResNet file (``conv1.weight``, loaded into ``backbone2``, ``fc.*`` ignored); a bare state_dict
    of this model (``backbone2.conv1.weight``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VOSDataError(path, "checkpoint file does not exist")
    extracted = extract_state_dict(load_checkpoint(path), path)
    state = extracted.state_dict
    first = next(iter(state))
    if first.startswith("model."):
        state = KEY_MAPS["strip_lightning_model"].apply(state, path).state_dict
        return _load_whole_model(
            model, state, path, extracted.container, drop_head_decode_head2, backbone_only
        )
    if first.startswith("module."):
        state = KEY_MAPS["moco_v1_encoder_q"].apply(state, path).state_dict
        if not state:
            raise VOSDataError(path, "MoCo-style checkpoint without module.encoder_q.* weights")
        load_state_dict_strict(
            model.backbone2, state, path, context="MoCo query encoder -> backbone2"
        )
        return PretrainedReport(path, "MoCo query encoder into backbone2", len(state))
    if "conv1.weight" in state:
        state = KEY_MAPS["drop_fc"].apply(state, path).state_dict
        load_state_dict_strict(
            model.backbone2, state, path, context="DenseCL / torchvision ResNet -> backbone2"
        )
        return PretrainedReport(
            path, "DenseCL / torchvision ResNet into backbone2 (fc ignored)", len(state)
        )
    if "backbone2.conv1.weight" in state:
        return _load_whole_model(
            model, state, path, extracted.container, drop_head_decode_head2, backbone_only
        )
    raise VOSDataError(
        path,
        "unknown checkpoint format: expected a Lightning/RCF checkpoint (model.*), "
        "a MoCo checkpoint (module.encoder_q.*), a DenseCL/torchvision ResNet "
        "(conv1.weight) or an RCF state_dict (backbone2.*)",
    )


def lightning_container(
    model: nn.Module,
    *,
    epoch: int,
    global_step: int,
    hyper_parameters: dict,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
) -> dict:
    """A PyTorch-Lightning-1.7.7-shaped checkpoint dict (what the original's ``last.ckpt`` holds).

    Everything is plain Python data and tensors, so it loads with ``weights_only=True`` here
    and with ``torch.load`` in the original code.
    """
    state = {"model." + k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "epoch": int(epoch),
        "global_step": int(global_step),
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "state_dict": state,
        "loops": {},
        "callbacks": {},
        "optimizer_states": [] if optimizer is None else [optimizer.state_dict()],
        "lr_schedulers": []
        if scheduler is None
        else [
            {
                k: v
                for k, v in scheduler.state_dict().items()
                if isinstance(v, (int, float, list, dict, str))
            }
        ],
        "hparams_name": "args",
        "hyper_parameters": hyper_parameters,
    }


def save_lightning_checkpoint(path: str | os.PathLike, model: nn.Module, **kwargs) -> None:
    """Write :func:`lightning_container` atomically to ``path``."""
    save_checkpoint(lightning_container(model, **kwargs), path)
