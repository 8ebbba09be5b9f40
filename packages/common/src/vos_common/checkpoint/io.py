"""Reading checkpoint files safely and finding the state_dict inside the published containers.

Every file is read with ``torch.load(weights_only=True)``: no pickled code runs. The only class
allowed on top of torch's own list is ``argparse.Namespace`` (SFC's ``pretrained_fc.pth`` stores
its training arguments that way), and only for the duration of the load.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_save

__all__ = [
    "Extracted",
    "extract_state_dict",
    "is_state_dict",
    "load_checkpoint",
    "save_checkpoint",
    "save_state_dict",
    "state_dict_sha256",
]

# Containers holding the network weights, in the order they are looked for.
STATE_DICT_KEYS = ("state_dict", "model", "network")
LIGHTNING_VERSION_KEYS = ("pytorch-lightning_version", "lightning_version")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with ``argparse.Namespace`` allowed.

    Raises :class:`VOSDataError` naming the file when it is missing, not a torch file, or holds
    a pickled object of another class.
    """
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, "checkpoint file not found")
    # torch >= 2.5 can allow-list a class for one load; older torch reads plain data only.
    allow = getattr(torch.serialization, "safe_globals", None)
    context = allow([argparse.Namespace]) if allow is not None else contextlib.nullcontext()
    try:
        with context:
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found is None:
            raise VOSDataError(
                path, "not a readable torch checkpoint (corrupt or not a torch file)"
            ) from None
        raise VOSDataError(
            path,
            f"contains a pickled {found.group(1)} object, which weights_only loading refuses (only"
            " tensors, plain Python data and argparse.Namespace are read); re-save the weights as"
            " a plain state_dict",
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VOSDataError(path, f"not a readable torch checkpoint ({first})") from None


def is_state_dict(obj: Any) -> bool:
    """True for a non-empty mapping of string keys to tensors."""
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items())
    )


@dataclass
class Extracted:
    """The state_dict found in a checkpoint and a description of where it came from."""

    state_dict: dict[str, torch.Tensor]
    container: str
    location: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def _metadata(obj: Mapping) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, (bool, int, float, str)) or value is None:
            info[str(key)] = value
        elif isinstance(value, argparse.Namespace):
            info[str(key)] = f"argparse.Namespace with {len(vars(value))} fields"
    return info


def _describe_keys(state: Mapping[str, torch.Tensor]) -> str:
    keys = list(state)
    for prefix in ("module.encoder_q.", "module.", "model.", "encoder.model.", "online_encoder."):
        if any(k.startswith(prefix) for k in keys):
            share = sum(k.startswith(prefix) for k in keys)
            return f"{share} of {len(keys)} keys start with '{prefix}'"
    return f"{len(keys)} keys"


def extract_state_dict(
    obj: Any,
    path: str | os.PathLike | None = None,
    *,
    key: str | None = None,
    ema: bool = False,
) -> Extracted:
    """Find the network weights in a loaded checkpoint.

    Accepted: a bare state_dict; ``{'state_dict': ...}`` (MoCo, SimSiam, DenseCL, VFS, and
    Lightning checkpoints, recognised by their ``pytorch-lightning_version`` key);
    ``{'model': ...}`` (SFC, CRW, PixPro, OAST); ``{'network': ...}`` (STM-family training
    checkpoints). ``ema=True`` takes ``model_ema`` (OAST's teacher); ``key`` names the entry
    explicitly (a dotted path such as ``"model.state"`` for nested containers).
    """
    if ema:
        if key not in (None, "model_ema"):
            raise ValueError("give either key or ema=True")
        key = "model_ema"
    if key is not None:
        node = obj
        for part in key.split("."):
            if not (isinstance(node, Mapping) and part in node):
                available = (
                    ", ".join(map(str, node)) if isinstance(node, Mapping) else type(node).__name__
                )
                raise VOSDataError(
                    path, f"no '{key}' entry in this checkpoint (found: {available})"
                )
            node = node[part]
        if not is_state_dict(node):
            raise VOSDataError(path, f"'{key}' does not hold a state_dict of tensors")
        meta = _metadata(obj) if isinstance(obj, Mapping) else {}
        return Extracted(
            dict(node), f"['{key}'] ({_describe_keys(node)})", tuple(key.split(".")), meta
        )
    if is_state_dict(obj):
        return Extracted(dict(obj), f"bare state_dict ({_describe_keys(obj)})")
    if not isinstance(obj, Mapping):
        raise VOSDataError(
            path, f"holds a {type(obj).__name__}, not a state_dict or a dict of them"
        )
    meta = _metadata(obj)
    for name in STATE_DICT_KEYS:
        if name in obj and is_state_dict(obj[name]):
            state = obj[name]
            version = next((obj[k] for k in LIGHTNING_VERSION_KEYS if k in obj), None)
            if version is not None and name == "state_dict":
                extra = f"epoch {obj.get('epoch')}, global_step {obj.get('global_step')}"
                kind = f"Lightning checkpoint (version {version}, {extra})"
            elif name == "state_dict" and any(k.startswith("module.encoder_q.") for k in state):
                kind = "MoCo-style checkpoint"
            else:
                kind = "checkpoint"
            return Extracted(
                dict(state), f"{kind} ['{name}'] ({_describe_keys(state)})", (name,), meta
            )
    top = ", ".join(repr(k) for k in list(obj)[:12])
    raise VOSDataError(
        path,
        f"no state_dict found under {', '.join(STATE_DICT_KEYS)} (top-level keys: {top}); "
        "name the entry explicitly",
    )


def _state_of(module_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(module_or_state, nn.Module):
        module_or_state = module_or_state.state_dict()
    return {k: v.detach().cpu().contiguous() for k, v in module_or_state.items()}


def save_state_dict(
    module_or_state: nn.Module | Mapping[str, torch.Tensor], path: str | os.PathLike
) -> None:
    """Save a plain CPU state_dict (the released-model format) to ``path`` atomically."""
    state = _state_of(module_or_state)
    atomic_save(path, lambda tmp: torch.save(state, tmp))


def save_checkpoint(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically: the file appears only once fully written."""
    atomic_save(path, lambda tmp: torch.save(obj, tmp))


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A sha256 over sorted keys, dtypes, shapes and raw bytes: equal iff the weights are equal."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
