"""The modified ResNet trunks of SFC (spec 2.1) on :mod:`vos_common.backbones`.

SFC's trunk is torchvision's ResNet (same state_dict names) with stride 1 on *every*
convolution of layer3 and layer4 — the strided 3x3 and the 1x1 downsample — **without**
dilation, which is ``vos_common.backbones.build_resnet(..., output_stride=8, dilate=False)``.
What the shared builder does not cover lives here:

* :func:`set_reflect_padding`: ``padding_mode='reflect'`` on every convolution with non-zero
  padding (the 7x7 stem and all 3x3 convs), which CRW's weights were trained with;
* :func:`refresh_batchnorm`: the official loader's side effect, one train-mode forward of a
  zero image after loading (must be replicated to reproduce the official features).

Initialisation (only matters when training from scratch): fan-out He normal for convs,
BatchNorm weight 1 / bias 0 and zero-init of the last BN of every residual block, i.e.
torchvision's ``zero_init_residual=True``.
"""

from __future__ import annotations

import torch
from torch import nn
from vos_common.backbones import ResNetBackbone
from vos_common.backbones import build_resnet as build_backbone

DEPTHS = {"resnet18": 18, "resnet50": 50}
LAYERS = {"layer1": 1, "layer2": 2, "layer3": 3, "layer4": 4}


def build_trunk(
    arch: str, last_layer: str = "layer3", *, reflect: bool = False, zero_init_residual: bool = True
) -> ResNetBackbone:
    """ResNet-18/50 up to ``last_layer`` with the strides of layer3/layer4 removed (stride 8).

    Random weights (nothing is downloaded); the output of ``trunk(x)[-1]`` is the feature map.
    """
    if arch not in DEPTHS:
        raise ValueError(f"unknown architecture {arch!r} (expected one of {', '.join(DEPTHS)})")
    trunk = build_backbone(
        DEPTHS[arch],
        output_stride=8,
        dilate=False,
        last_layer=LAYERS[last_layer],
        zero_init_residual=zero_init_residual,
    )
    if reflect:
        set_reflect_padding(trunk)
    return trunk


def set_reflect_padding(net: nn.Module) -> nn.Module:
    """``padding_mode='reflect'`` on every Conv2d with non-zero padding (CRW's trunk)."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            padding = module.padding if isinstance(module.padding, tuple) else (module.padding,)
            if any(p != 0 for p in padding):
                module.padding_mode = "reflect"
    return net


def refresh_batchnorm(trunk: nn.Module, size: int = 256) -> None:
    """The reference's side effect (spec 2.1): one train-mode forward of a zero image.

    The official ``make_encoder`` measures the output stride by running the freshly loaded,
    already modified network on ``zeros(1, 3, size, size)`` while it is still in training mode,
    so every BatchNorm moves its running statistics once towards that batch (momentum 0.1,
    unbiased variance, ``num_batches_tracked`` + 1). The network is left in eval mode.
    """
    device = next(trunk.parameters()).device
    trunk.train()
    with torch.no_grad():
        trunk(torch.zeros(1, 3, size, size, device=device))
    trunk.eval()
