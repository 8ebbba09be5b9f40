"""Loading RDE-VOS weights: released checkpoints, training checkpoints, ImageNet trunks.

Released files (``model_s012_final.pth``, ``model_s012_final_yv.pth``, ``model_<it>.pth``) are
bare state_dicts of the training network (435 entries, no ``module.`` prefix, tensors saved
on CUDA); the original's resumable ``<id>_checkpoint.pth`` holds the same dict under
``network``. Both are read with ``weights_only=True`` onto the CPU.

Evaluation loads **strictly**: the original ``eval_davis.py`` loads with ``strict=False``, so a
stage-0 or otherwise incomplete file silently leaves SAM random; here any missing, unexpected
or mis-shaped key is one error naming the file and the keys. The network width (``width_div``
of the CPU smoke scale) and the SE-block count (``--repeat``) are read from the file.
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn
from vos_common.backbones import expand_input_channels
from vos_common.checkpoint import extract_state_dict, load_checkpoint, load_state_dict_strict
from vos_common.errors import VOSDataError

from rde.model.network import RDEVOS, ModelSpec, RDETrainingNetwork

SAM_PREFIX = "mem_compress."


def read_network_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The network state_dict of a released file or a training checkpoint (CPU tensors)."""
    extracted = extract_state_dict(load_checkpoint(path), path)
    state = dict(extracted.state_dict)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def is_stage0_state(state: dict[str, torch.Tensor]) -> bool:
    """A single-object (stage-0) network: 4-channel value stem and no SAM weights."""
    stem = state.get("value_encoder.conv1.weight")
    has_sam = any(k.startswith(SAM_PREFIX) for k in state)
    return stem is not None and stem.dim() == 4 and stem.shape[1] == 4 and not has_sam


def spec_from_state(state: dict[str, torch.Tensor], path=None) -> ModelSpec:
    """Width divisor and SE-block count of a state_dict."""
    stem = state.get("key_encoder.conv1.weight")
    if stem is None or stem.dim() != 4 or 64 % stem.shape[0]:
        raise VOSDataError(path, "not an RDE-VOS network: key_encoder.conv1.weight is missing "
                                 "or has an unexpected shape")
    blocks = {int(m.group(1)) for k in state
              if (m := re.match(r"mem_compress\.key_encoder\.se_block\.(\d+)\.", k))}
    width_div = 64 // stem.shape[0]
    key = state.get("key_proj.key_proj.weight")
    keys = None if key is None or key.shape[0] == 64 // width_div else int(key.shape[0])
    return ModelSpec(width_div=width_div, repeat=len(blocks), key_channels=keys)


def load_eval_network(path: str | os.PathLike, repeat: int | None = None,
                      device: str | torch.device = "cpu") -> RDEVOS:
    """The evaluation network with the weights of ``path``, loaded strictly, in eval mode.

    ``repeat`` (``--repeat``) must match the file; ``None`` takes it from the file.
    """
    state = read_network_state(path)
    if is_stage0_state(state):
        missing = 30
        raise VOSDataError(path, f"is a stage-0 (single-object) checkpoint: it has no SAM "
                                 f"weights ({missing} mem_compress.* keys missing) and a 4-channel "
                                 "value encoder; evaluate a stage 1/2/3 network "
                                 "(e.g. model_s012_final.pth)")
    spec = spec_from_state(state, path)
    if repeat is not None and repeat != spec.repeat:
        spec = ModelSpec(spec.width_div, repeat, spec.key_channels)
    net = RDEVOS(spec)
    load_state_dict_strict(net, state, path, context="evaluation network, strict")
    return net.to(device).eval()


def widen_value_stem(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stage-0 → multi-object surgery: append an orthogonal "others" channel to the value stem."""
    key = "value_encoder.conv1.weight"
    if key in state and state[key].shape[1] == 4:
        state = dict(state)
        state[key] = expand_input_channels(state[key].float(), 5, "orthogonal").to(state[key])
    return state


def load_network_for_training(net: RDETrainingNetwork, path: str | os.PathLike) -> str:
    """``--load_network``: weights of a previous stage (the iteration counter restarts).

    A stage-0 file loaded into the multi-object network gets the 4 → 5 channel surgery and
    leaves ``mem_compress.*`` at its initialisation (the intended use: stage 0 → 1 or 3); any
    other difference is an error (the original loads non-strictly and would hide it).
    """
    state = read_network_state(path)
    allow = []
    if not net.single_object:
        if is_stage0_state(state):
            allow = [SAM_PREFIX]
        state = widen_value_stem(state)
    left = load_state_dict_strict(net, state, path, allow_missing=allow,
                                  context="--load_network")
    sam_left = [k for k in left if k.startswith(SAM_PREFIX)]
    note = f"{path}: loaded {len(state)} tensors"
    if sam_left:
        note += f"; {len(sam_left)} mem_compress.* tensors start from their initialisation (stage-0 file)"
    return note


def load_imagenet_trunks(net: nn.Module, resnet50: str | None, resnet18: str | None) -> list[str]:
    """Initialise the key encoder (ResNet-50) and the value trunk (ResNet-18) from ImageNet files.

    Files are torchvision state_dicts read from disk (nothing is downloaded); ``layer1`` maps to
    the key encoder's ``res2``, ``layer4``/``fc`` are dropped, the value stem is widened with
    orthogonal extra channels and its conv biases stay zero (the files have none).
    """
    notes = []
    if resnet50:
        src = read_network_state(resnet50)
        mapped = {}
        for k, v in src.items():
            if k.startswith(("fc.", "layer4.")):
                continue
            mapped[("res2." + k[len("layer1."):]) if k.startswith("layer1.") else k] = v
        load_state_dict_strict(net.key_encoder, mapped, resnet50, context="ImageNet ResNet-50")
        notes.append(f"key encoder from {resnet50}")
    if resnet18:
        src = read_network_state(resnet18)
        target = net.value_encoder
        own = target.state_dict()
        mapped = {}
        for k, v in src.items():
            if k.startswith(("fc.", "layer4.")):
                continue
            if k == "conv1.weight":
                v = expand_input_channels(v.float(), own[k].shape[1], "orthogonal")
            mapped[k] = v
        allow = [r"re:(conv1|layer\d+\.\d+\.(conv\d|downsample\.0))\.bias$", "fuser."]
        load_state_dict_strict(target, mapped, resnet18, allow_missing=allow,
                               context="ImageNet ResNet-18")
        notes.append(f"value encoder trunk from {resnet18}")
    return notes
