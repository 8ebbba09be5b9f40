"""Loading the released checkpoint, training snapshots and ImageNet weights.

* The released ``propagation_model.pth`` and the training snapshots ``<id>_<it>.pth`` are a
  bare ``state_dict`` (597 entries for the ResNet-50 model, no ``module.`` prefix); the resume
  file ``<id>_checkpoint.pth`` is a dict whose ``network`` entry holds the same state_dict.
  :func:`load_weights` reads any of them with ``weights_only=True`` and loads strictly; a file
  that does not fit raises one :class:`~vos_common.errors.VOSDataError` listing the missing,
  unexpected and mis-shaped keys (``vos_common.checkpoint``).
* :func:`load_network_for_training` is the reference's ``--load_network``: a single-object
  (stage-0) file whose ``mask_rgb_encoder.conv1.weight`` has 4 input channels gets a fifth
  ("others") channel, orthogonally initialised, when loaded into a multi-object network.
* :func:`load_imagenet` reads a torchvision ResNet state_dict file given by the user (for
  ResNet-50 use the V1 weights, ``resnet50-19c8e357.pth`` / ``IMAGENET1K_V1``, not V2).
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
from torchvision.models import resnet18, resnet50
from vos_common.checkpoint import LoadReport, extract_state_dict, load_checkpoint
from vos_common.checkpoint import load_weights as _load_weights
from vos_common.checkpoint.loading import load_state_dict_strict

from mivos_prop.model.resnet import extend_input_channels

__all__ = ["load_imagenet", "load_network_for_training", "load_weights", "so_to_mo"]

FIRST_CONV = "mask_rgb_encoder.conv1.weight"


def load_weights(net: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a released / trained checkpoint into ``net`` strictly (bare state_dict or resume file)."""
    _load_weights(net, path)
    return net


def so_to_mo(
    state: dict[str, torch.Tensor], target_channels: int, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Append orthogonally initialised input channels to ``mask_rgb_encoder.conv1.weight``."""
    weight = state.get(FIRST_CONV)
    if weight is not None and weight.dim() == 4 and weight.shape[1] < target_channels:
        state = dict(state)
        state[FIRST_CONV] = extend_input_channels(
            weight, target_channels - weight.shape[1], generator
        )
    return state


def load_network_for_training(
    net: nn.Module, path: str | os.PathLike, generator: torch.Generator | None = None
) -> LoadReport:
    """``--load_network``: weights only, with the SO -> MO first-conv expansion (module doc)."""
    channels = net.state_dict()[FIRST_CONV].shape[1]
    return _load_weights(net, path, transform=lambda sd: so_to_mo(sd, channels, generator))


def load_imagenet(path: str | os.PathLike, arch: str = "resnet50") -> dict[str, torch.Tensor]:
    """A torchvision ResNet ImageNet state_dict from a file, checked against the architecture."""
    state = extract_state_dict(load_checkpoint(path), path).state_dict
    reference = {"resnet50": resnet50, "resnet18": resnet18}[arch](weights=None)
    load_state_dict_strict(reference, state, path, context=f"torchvision {arch} ImageNet weights")
    return reference.state_dict()
