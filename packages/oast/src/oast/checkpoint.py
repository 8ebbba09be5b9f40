"""Reading OAST checkpoints and the pretrained MobileViT backbone (spec §2.6, §5).

* An OAST checkpoint is a dict whose network weights sit under ``'model'``; a non-empty
  ``'model_ema'`` is used instead when present (as the original test script does). Files are read
  with ``torch.load(weights_only=True)``; ``argparse.Namespace`` (the ``'args'`` entry of training
  checkpoints) is allowlisted. Several files are averaged element-wise (as float) before loading,
  and loading is strict: one line lists missing, unexpected and mismatched keys.
* A backbone checkpoint is ``{'state_dict': {'module.' + key: tensor}}`` of the 2-D ImageNet
  MobileViT; :func:`backbone_to_encoder` maps it into the 3-D encoder (``stem.*`` →
  ``encoder.stem.*``, ``stage{k}.*`` → ``encoder.body.{k-1}.*``, conv kernels centre-inflated,
  ``fc.*`` dropped) and, unlike the original's ``strict=False`` load, refuses a file whose keys
  do not fill all 268 encoder tensors.

``python -m oast.checkpoint --help`` converts a checkpoint that only unpickles with
``weights_only=False`` (e.g. the phase-C teacher file of the original, which pickles the
discriminator module) into a plain ``{'model': ..., 'model_ema': ...}`` file, when you trust it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from vos_common.checkpoint import (
    KeyMap,
    extract_state_dict,
    is_state_dict,
    load_checkpoint,
)
from vos_common.checkpoint import load_state_dict_strict as _strict
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io.atomic import atomic_save

from oast.model.inflate import inflate_conv_weight

__all__ = [
    "BACKBONE_KEY_MAP",
    "read_checkpoint",
    "select_state_dict",
    "average_state_dicts",
    "load_state_dict_strict",
    "load_weights",
    "inflate_backbone",
    "backbone_to_encoder",
    "load_backbone",
    "save_checkpoint",
]

N_ENCODER_TENSORS = 268

# wilile26811249 MobileViT (DataParallel keys) -> MobileViTVOS encoder; the classifier is dropped.
# Keys no rule names stay as they are and are reported as unexpected by the strict check.
BACKBONE_KEY_MAP = KeyMap(
    [("re:(module\\.)?fc\\.", None), ("re:(module\\.)?stem\\.", "encoder.stem.")]
    + [(f"re:(module\\.)?stage{k}\\.", f"encoder.body.{k - 1}.") for k in range(1, 5)],
    "oast_mobilevit_backbone",
)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint dict read with ``weights_only=True`` (vos_common.checkpoint.load_checkpoint)."""
    obj = load_checkpoint(path)
    if not isinstance(obj, Mapping):
        raise VOSDataError(path, f"checkpoint is a {type(obj).__name__}, expected a dict")
    return dict(obj)


def _strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return dict(sd)


def select_state_dict(
    ckpt: Mapping, path: str | os.PathLike | None = None, prefer_ema: bool = True
) -> dict[str, torch.Tensor]:
    """The network state_dict of a checkpoint: a non-empty ``model_ema`` (if ``prefer_ema``, as
    the original test script), else ``model`` (or a bare state_dict); ``module.`` removed."""
    if prefer_ema and is_state_dict(ckpt.get("model_ema")):
        return _strip_prefix(extract_state_dict(ckpt, path, ema=True).state_dict)
    key = "model" if "model" in ckpt else None
    return _strip_prefix(extract_state_dict(ckpt, path, key=key).state_dict)


def average_state_dicts(
    state_dicts: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Element-wise mean (in float) of state_dicts with identical keys and shapes."""
    if not state_dicts:
        raise ValueError("no state_dict to average")
    first = state_dicts[0]
    if len(state_dicts) == 1:
        return dict(first)
    names = list(names) if names is not None else [f"#{i}" for i in range(len(state_dicts))]
    for sd, name in zip(state_dicts[1:], names[1:], strict=True):
        if set(sd) != set(first):
            diff = sorted(set(sd) ^ set(first))
            raise VOSDataError(
                name, f"keys differ from {names[0]} ({len(diff)} keys, e.g. {diff[0]})"
            )
        bad = [k for k in first if sd[k].shape != first[k].shape]
        if bad:
            raise VOSDataError(
                name,
                f"shape of {bad[0]} {tuple(sd[bad[0]].shape)} differs from "
                f"{names[0]} {tuple(first[bad[0]].shape)}",
            )
    return {k: sum(sd[k].float() for sd in state_dicts) / len(state_dicts) for k in first}


def _target(model: nn.Module) -> str:
    scale = getattr(model, "scale", None)
    return f"the OAST-{scale} network" if scale else type(model).__name__


def load_state_dict_strict(
    model: nn.Module, sd: Mapping[str, torch.Tensor], source: str | os.PathLike | None = None
) -> None:
    """Strict load with one readable line on any key mismatch (vos_common.checkpoint)."""
    _strict(model, sd, source, context=_target(model))


def load_weights(
    model: nn.Module,
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    prefer_ema: bool = True,
) -> list[str]:
    """Load one checkpoint, or the element-wise mean of several, strictly into ``model``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    sds = [select_state_dict(read_checkpoint(p), p, prefer_ema) for p in paths]
    sd = average_state_dicts(sds, paths)
    load_state_dict_strict(model, sd, paths[0] if len(paths) == 1 else " + ".join(paths))
    return paths


def inflate_backbone(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Centre-inflate every 4-D conv kernel; every other tensor is kept unchanged."""
    return {k: inflate_conv_weight(v) if v.dim() == 4 else v for k, v in state_dict.items()}


def backbone_to_encoder(
    state_dict: Mapping[str, torch.Tensor], source: str | os.PathLike | None = None
) -> dict[str, torch.Tensor]:
    """Map a 2-D MobileViT (ImageNet) state_dict to ``encoder.*`` tensors of MobileViTVOS
    (``stem.*`` → ``encoder.stem.*``, ``stage{k}.*`` → ``encoder.body.{k-1}.*``, ``fc.*``
    dropped, conv kernels centre-inflated)."""
    return inflate_backbone(BACKBONE_KEY_MAP.apply(state_dict, source).state_dict)


def load_backbone(model: nn.Module, path: str | os.PathLike) -> int:
    """Fill ``model``'s encoder from a pretrained backbone file.

    Unlike the original's ``strict=False`` load, every key of the file must be a MobileViT key
    (``stem.*``, ``stage1-4.*``, ``fc.*``), fit the encoder's shape, and all 268 encoder tensors
    must be filled; one error line lists what does not fit.
    """
    extracted = extract_state_dict(load_checkpoint(path), path)
    raw = _strip_prefix(extracted.state_dict)
    foreign = [k for k in raw if not re.match(r"(stem|stage[1-4]|fc)\.", k)]
    if foreign:
        hint = (
            " (this is an OAST checkpoint: pass it as --finetune/--weights)"
            if any(k.startswith(("encoder.", "decoder.")) for k in foreign)
            else ""
        )
        shown = ", ".join(foreign[:4]) + (
            f", ... and {len(foreign) - 4} more" if len(foreign) > 4 else ""
        )
        raise VOSDataError(
            path,
            f"not a MobileViT backbone: {len(foreign)} of {len(raw)} keys are "
            f"not stem/stage1-4/fc ({shown}){hint}",
        )
    mapped = backbone_to_encoder(raw, path)
    _strict(
        model,
        mapped,
        path,
        allow_missing=("decoder.",),
        context=f"MobileViT backbone ({extracted.container}) into {_target(model)}",
    )
    if len(mapped) != N_ENCODER_TENSORS:
        raise VOSDataError(
            path, f"backbone filled {len(mapped)} encoder tensors, expected {N_ENCODER_TENSORS}"
        )
    return len(mapped)


def save_checkpoint(path: str | os.PathLike, **entries) -> None:
    """Atomically ``torch.save`` a checkpoint dict (``model=...``, ``model_ema=...``, ...)."""
    atomic_save(path, lambda tmp: torch.save(entries, tmp))


def _plain(obj):
    """State_dicts and plain values of an untrusted-format checkpoint (modules → state_dicts)."""
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, argparse.Namespace):
        return vars(obj)
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


@cli_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m oast.checkpoint",
        description="Rewrite an OAST checkpoint that weights_only loading refuses (the original "
        "phase-C teacher file pickles the discriminator module) as plain state_dicts. "
        "Unpickling runs code from the file: only do it for files you trust.",
    )
    parser.add_argument("input", help="checkpoint to convert")
    parser.add_argument("output", help="where to write the converted checkpoint")
    parser.add_argument(
        "--trust",
        action="store_true",
        help="required: confirm the input file is trusted (loaded with weights_only=False)",
    )
    args = parser.parse_args(argv)
    if not args.trust:
        raise VOSDataError(args.input, "refusing to unpickle without --trust")
    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - report any unpickling problem in one line
        raise VOSDataError(args.input, f"cannot be loaded ({type(err).__name__}: {err})") from None
    plain = _plain(obj)
    if not isinstance(plain, dict) or "model" not in plain:
        raise VOSDataError(args.input, "no 'model' entry to convert")
    keep = {k: v for k, v in plain.items() if k in ("model", "model_ema", "model_D", "epoch")}
    save_checkpoint(args.output, **keep)
    print(f"wrote {args.output} with entries {', '.join(keep)}", file=sys.stderr)


if __name__ == "__main__":
    main()
