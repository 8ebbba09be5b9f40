"""Dilated ResNet encoder (``backbone2``) with torchvision's parameter names.

RCF's encoder is an mmseg-style "pytorch" ResNet (stride on the 3x3 conv) with stage strides
``(1, 2, 1, 1)`` and dilations ``(1, 1, 2, 4)`` where the first block of a dilated stage uses
half the dilation (``contract_dilation``). For ResNet-50 this is exactly torchvision's
``resnet50(replace_stride_with_dilation=[False, True, True])`` without ``avgpool``/``fc``: the
module tree below uses torchvision's names (``conv1``, ``bn1``, ``layerK.j.convN``,
``layerK.0.downsample.{0,1}``), so DenseCL / torchvision weight files load without renaming.

Beyond the published model the same class builds the narrow ResNet-18-layout encoder of the
smoke configuration (``depth: 18``, ``base_channels: 16``). As in mmseg, a dilated
``BasicBlock`` dilates only its first 3x3 conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ARCH_SETTINGS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(
            inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3


class ResNet(nn.Module):
    """ResNet returning the outputs of ``layer1..layer4`` (``out_indices``).

    Args mirror the original config keys (``depth``, ``strides``, ``dilations``,
    ``contract_dilation``, ``out_indices``); ``base_channels`` / ``stem_channels`` (default 64)
    shrink the network for smoke runs. ``norm_eval`` keeps BatchNorm in eval mode while
    training (False in every RCF config).
    """

    def __init__(
        self,
        depth: int = 50,
        strides: Sequence[int] = (1, 2, 1, 1),
        dilations: Sequence[int] = (1, 1, 2, 4),
        contract_dilation: bool = True,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        base_channels: int = 64,
        stem_channels: int | None = None,
        norm_eval: bool = False,
        zero_init_residual: bool = True,
    ):
        super().__init__()
        if depth not in ARCH_SETTINGS:
            raise ValueError(
                f"unsupported ResNet depth {depth} (expected one of {sorted(ARCH_SETTINGS)})"
            )
        kind, blocks = ARCH_SETTINGS[depth]
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        if len(strides) != 4 or len(dilations) != 4:
            raise ValueError("strides and dilations need one value per stage (4)")
        stem = stem_channels or base_channels
        self.out_indices = tuple(out_indices)
        self.norm_eval = norm_eval
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = stem
        self.out_channels = []
        for index, (count, stride, dilation) in enumerate(
            zip(blocks, strides, dilations, strict=True)
        ):
            planes = base_channels * 2**index
            layer, inplanes = self._make_layer(
                block, inplanes, planes, count, stride, dilation, contract_dilation
            )
            self.add_module(f"layer{index + 1}", layer)
            self.out_channels.append(inplanes)
        self._init_weights(zero_init_residual)

    @staticmethod
    def _make_layer(
        block,
        inplanes: int,
        planes: int,
        count: int,
        stride: int,
        dilation: int,
        contract_dilation: bool,
    ) -> tuple[nn.Sequential, int]:
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        first_dilation = dilation // 2 if contract_dilation and dilation > 1 else dilation
        layers = [block(inplanes, planes, stride, first_dilation, downsample)]
        inplanes = planes * block.expansion
        layers += [block(inplanes, planes, 1, dilation) for _ in range(1, count)]
        return nn.Sequential(*layers), inplanes

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_norm().weight)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outputs = []
        for index in range(4):
            x = getattr(self, f"layer{index + 1}")(x)
            if index in self.out_indices:
                outputs.append(x)
        return outputs

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
