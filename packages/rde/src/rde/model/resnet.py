"""The two ResNet trunks of RDE-VOS, with a width divisor for the CPU smoke scale.

* :class:`KeyResNet` — torchvision's ResNet-50 bottlenecks (no conv biases) cut after
  ``layer3``; its first stage is registered as ``res2`` (the released checkpoints' name).
* :class:`ValueResNet` — the modified ResNet-18 of the value encoder: every convolution has a
  bias (stem, both 3×3 convs of each BasicBlock, the 1×1 shortcut), the stem takes
  ``3 + extra`` input channels and ``layer4`` is not built.

``width_div`` divides every channel count (1 = the released networks, bit-compatible with
their state_dict). torchvision's :func:`vos_common.backbones.build_resnet` has fixed widths and
torchvision names (``layer1``), so the trunks are assembled here from torchvision's
``Bottleneck`` (key) and a biased BasicBlock (value). ImageNet files are loaded by
:func:`load_imagenet_trunk`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck


def _scaled(channels: int, width_div: int) -> int:
    if channels % width_div:
        raise ValueError(f"width_div {width_div} does not divide {channels} channels")
    return channels // width_div


class KeyResNet(nn.Module):
    """ResNet-50 stem + ``res2`` (layer1) + ``layer2`` + ``layer3``; returns (f16, f8, f4)."""

    def __init__(self, width_div: int = 1):
        super().__init__()
        base = _scaled(64, width_div)
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = base
        self.res2 = self._stage(base, 3, 1)
        self.layer2 = self._stage(base * 2, 4, 2)
        self.layer3 = self._stage(base * 4, 6, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self._inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out))
        layers = [Bottleneck(self._inplanes, planes, stride, downsample)]
        self._inplanes = out
        layers += [Bottleneck(out, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, frame: torch.Tensor):
        x = self.maxpool(self.relu(self.bn1(self.conv1(frame))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class BiasedBasicBlock(nn.Module):
    """ResNet BasicBlock whose two 3×3 convolutions carry biases (the value encoder's)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ValueResNet(nn.Module):
    """Modified ResNet-18 (biased convs) to ``layer3``; ``in_channels`` = 3 + mask channels."""

    def __init__(self, in_channels: int = 5, width_div: int = 1):
        super().__init__()
        base = _scaled(64, width_div)
        self.conv1 = nn.Conv2d(in_channels, base, kernel_size=7, stride=2, padding=3, bias=True)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = base
        self.layer1 = self._stage(base, 2, 1)
        self.layer2 = self._stage(base * 2, 2, 2)
        self.layer3 = self._stage(base * 4, 2, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes, kernel_size=1, stride=stride, bias=True),
                nn.BatchNorm2d(planes))
        layers = [BiasedBasicBlock(self._inplanes, planes, stride, downsample)]
        self._inplanes = planes
        layers += [BiasedBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))
