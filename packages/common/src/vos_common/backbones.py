"""torchvision ResNet backbones shaped the way the five methods need them.

:func:`build_resnet` returns a :class:`ResNetBackbone`, a subclass of torchvision's ``ResNet``
whose parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layerK.0.downsample.0/1``), so ImageNet files and official checkpoints load strictly. Options:

* ``in_channels``: a wider ``conv1`` (RGB + mask (+ other mask) for the STM-family value
  encoders); loaded 3-channel weights are widened by :func:`expand_input_channels`;
* ``output_stride`` 32/16/8: later strides become dilations (torchvision's
  ``replace_stride_with_dilation``; RCF's stride-8 ResNet-50) or, with ``dilate=False``, are
  simply removed (SFC's encoder);
* ``last_layer``: drop ``layer4`` (and deeper) for encoders cut after ``layer3``;
* ``classifier``: keep ``avgpool``/``fc`` (off by default: features only);
* ``conv_bias``: every conv gets a zero-initialised bias (MiVOS/RDE value encoders);
* ``freeze_bn_stats``/``freeze_bn_affine``: BatchNorm layers that always use their running
  statistics (same keys, ``num_batches_tracked`` included) and optionally frozen γ/β;
* ``weights``: a user-given file in torchvision key layout (any container
  :func:`vos_common.checkpoint.extract_state_dict` accepts, through an optional key map);
  without it the network keeps torchvision's random initialisation. Nothing is downloaded.
"""

from __future__ import annotations

import os
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from vos_common.checkpoint import KeyMap, LoadReport, load_weights

__all__ = [
    "FrozenStatsBatchNorm2d",
    "ResNetBackbone",
    "build_resnet",
    "expand_input_channels",
    "freeze_batchnorm_stats",
]

ARCHITECTURES = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
}
ExtraChannelInit = Literal["zero", "orthogonal", "mean"]
CONV_BIAS_KEYS = r"re:(conv1|layer\d+\.\d+\.(conv\d|downsample\.0))\.bias$"


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that always normalises with its running statistics and never updates them.

    Behaves as in eval mode whatever ``train()`` says (the STM family trains with BN frozen this
    way); keys and shapes are BatchNorm2d's. γ and β still train unless their
    ``requires_grad`` is switched off.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


def freeze_batchnorm_stats(module: nn.Module, affine: bool = False) -> nn.Module:
    """Turn every ``nn.BatchNorm2d`` in ``module`` into :class:`FrozenStatsBatchNorm2d` in place.

    ``affine=True`` also stops γ/β from training. Returns ``module``.
    """
    for child in module.modules():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = FrozenStatsBatchNorm2d
        if isinstance(child, nn.BatchNorm2d) and affine:
            child.requires_grad_(False)
    return module


def expand_input_channels(
    weight: torch.Tensor, in_channels: int, init: ExtraChannelInit = "zero"
) -> torch.Tensor:
    """Widen a conv weight ``[O, C, k, k]`` to ``[O, in_channels, k, k]``; the first C are kept.

    Extra channels: ``zero``; ``orthogonal`` — an orthogonally initialised ``[O, extra, k, k]``
    block (gain 1, viewed as an ``O × extra·k·k`` matrix; what MiVOS and RDE do, drawn from the
    torch RNG); ``mean`` — the mean over the existing input channels.
    """
    out_channels, have = weight.shape[:2]
    if in_channels < have:
        raise ValueError(f"cannot shrink {have} input channels to {in_channels}")
    if in_channels == have:
        return weight
    shape = (out_channels, in_channels - have, *weight.shape[2:])
    if init == "zero":
        extra = weight.new_zeros(shape)
    elif init == "orthogonal":
        extra = nn.init.orthogonal_(torch.empty(shape, dtype=torch.float32)).to(weight)
    elif init == "mean":
        extra = weight.mean(dim=1, keepdim=True).expand(shape).clone()
    else:
        raise ValueError(f"unknown extra-channel init {init!r}")
    return torch.cat([weight, extra], dim=1)


def _dilate_basic_layer(layer: nn.Sequential, dilation: int, previous: int) -> None:
    """Stride → dilation for BasicBlocks: the first 3×3 conv of each block is dilated (the first
    block with the previous stage's dilation), the second stays plain (mmseg's convention)."""
    for index, block in enumerate(layer):
        d = previous if index == 0 else dilation
        block.conv1.stride = (1, 1)
        block.conv1.dilation = (d, d)
        block.conv1.padding = (d, d)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)


def _remove_strides(layer: nn.Sequential) -> None:
    """Set every stride in ``layer`` to 1 without dilating (SFC's encoder modification)."""
    for module in layer.modules():
        if isinstance(module, nn.Conv2d):
            module.stride = (1, 1)


class ResNetBackbone(ResNet):
    """torchvision ResNet returning stage features; see :func:`build_resnet` for the options.

    ``forward(x [B, in_channels, H, W])`` returns ``(layer1, ..., layer<last_layer>)`` feature
    maps, e.g. for ResNet-50 at output stride 8: ``[B,256,H/4]``, ``[B,512,H/8]``,
    ``[B,1024,H/8]``, ``[B,2048,H/8]`` (sizes rounded up), or ``[B, num_classes]`` logits when
    built with ``classifier=True``. ``out_channels``/``out_strides`` describe the outputs.
    """

    def __init__(
        self,
        depth: int = 50,
        *,
        in_channels: int = 3,
        output_stride: int = 32,
        dilate: bool = True,
        last_layer: int = 4,
        classifier: bool = False,
        num_classes: int = 1000,
        conv_bias: bool = False,
        freeze_bn_stats: bool = False,
        freeze_bn_affine: bool = False,
        zero_init_residual: bool = False,
    ):
        if depth not in ARCHITECTURES:
            raise ValueError(f"ResNet depth must be one of {sorted(ARCHITECTURES)}, got {depth}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        if not 1 <= last_layer <= 4:
            raise ValueError(f"last_layer must be 1..4, got {last_layer}")
        if classifier and last_layer != 4:
            raise ValueError("the classifier needs layer4 (last_layer=4)")
        block, layers = ARCHITECTURES[depth]
        flags = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
        stride_flags = flags[output_stride]
        use_torchvision_dilation = dilate and block is Bottleneck
        norm = FrozenStatsBatchNorm2d if freeze_bn_stats else nn.BatchNorm2d
        super().__init__(
            block,
            layers,
            num_classes=num_classes,
            zero_init_residual=zero_init_residual,
            replace_stride_with_dilation=stride_flags if use_torchvision_dilation else None,
            norm_layer=norm,
        )
        if not use_torchvision_dilation:
            dilation = 1
            for name, flag in zip(("layer2", "layer3", "layer4"), stride_flags, strict=True):
                if not flag:
                    continue
                if dilate:
                    _dilate_basic_layer(getattr(self, name), dilation * 2, dilation)
                    dilation *= 2
                else:
                    _remove_strides(getattr(self, name))
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        for index in range(last_layer + 1, 5):
            delattr(self, f"layer{index}")
        if not classifier:
            del self.avgpool
            del self.fc
        if conv_bias:
            for module in self.modules():
                if isinstance(module, nn.Conv2d) and module.bias is None:
                    module.bias = nn.Parameter(torch.zeros(module.out_channels))
        if freeze_bn_affine:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.requires_grad_(False)
        self.in_channels = in_channels
        self.last_layer = last_layer
        self.classifier = classifier
        widths = [64, 128, 256, 512]
        self.out_channels = [w * block.expansion for w in widths[:last_layer]]
        strides, current = [], 4
        for index in range(last_layer):
            if index > 0 and not (index >= 1 and stride_flags[index - 1]):
                current *= 2
            strides.append(current)
        self.out_strides = strides

    def forward(self, x: torch.Tensor):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for index in range(1, self.last_layer + 1):
            x = getattr(self, f"layer{index}")(x)
            features.append(x)
        if self.classifier:
            return self.fc(torch.flatten(self.avgpool(x), 1))
        return tuple(features)

    def load_pretrained(
        self,
        path: str | os.PathLike,
        *,
        key_map: KeyMap | None = None,
        key: str | None = None,
        extra_channel_init: ExtraChannelInit = "zero",
    ) -> LoadReport:
        """Load ImageNet-style weights (torchvision key layout) from a user-given file, strictly.

        Keys of parts this backbone does not have (``fc``, dropped layers) are ignored; a
        narrower ``conv1.weight`` is widened with ``extra_channel_init``; conv biases absent from
        the file stay zero. Anything else that does not fit raises one VOSDataError.
        """
        own = set(self.state_dict())
        removed = [f"layer{i}." for i in range(self.last_layer + 1, 5)]
        if not self.classifier:
            removed.append("fc.")

        def adapt(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            state = {
                k: v
                for k, v in state.items()
                if k in own or not any(k.startswith(p) for p in removed)
            }
            weight = state.get("conv1.weight")
            if weight is not None and weight.shape[1] < self.in_channels:
                state["conv1.weight"] = expand_input_channels(
                    weight, self.in_channels, extra_channel_init
                )
            return state

        allow = [CONV_BIAS_KEYS] if self.conv1.bias is not None else []
        return load_weights(
            self, path, key_map=key_map, key=key, transform=adapt, allow_missing=allow
        )


def build_resnet(
    depth: int = 50,
    *,
    weights: str | os.PathLike | None = None,
    weights_key_map: KeyMap | None = None,
    extra_channel_init: ExtraChannelInit = "zero",
    **options,
) -> ResNetBackbone:
    """Build a :class:`ResNetBackbone` and, if ``weights`` is given, load that file strictly.

    ``options`` are :class:`ResNetBackbone`'s (``in_channels``, ``output_stride``, ``dilate``,
    ``last_layer``, ``classifier``, ``conv_bias``, ``freeze_bn_stats``, ``freeze_bn_affine``,
    ``zero_init_residual``). Example, MiVOS's multi-object value encoder on ImageNet V1 weights:
    ``build_resnet(50, in_channels=5, last_layer=3, conv_bias=True, freeze_bn_stats=True,
    weights="resnet50-19c8e357.pth", extra_channel_init="orthogonal")``.
    """
    model = ResNetBackbone(depth, **options)
    if weights is not None:
        model.load_pretrained(
            weights, key_map=weights_key_map, extra_channel_init=extra_channel_init
        )
    return model
