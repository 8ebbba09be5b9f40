"""The two ResNet encoders of MiVOS propagation (up to ``layer3``, stride 16).

* :class:`KeyEncoder` (state_dict prefix ``rgb_encoder``) is torchvision's ResNet-50 ("v1.5":
  the stride sits on the 3x3 conv), convolutions without bias, with ``layer1`` registered under
  the name ``res2``. It returns ``(f16, f8, f4)``.
* :class:`ValueEncoder` (prefix ``mask_rgb_encoder``) is the same topology with a bias on every
  convolution (``conv1``, the three block convs and the 1x1 ``downsample.0``) and extra input
  channels after RGB: the object's mask and the "others" mask (multi-object, 5 channels) or the
  mask only (single-object, stage 0, 4 channels). It returns ``f16`` only.

Both drop ``layer4``, the pooling and ``fc``; the key names and their order are those of the
released checkpoint. ``arch="resnet18"`` builds the same two encoders on ResNet-18
(BasicBlock [2, 2, 2]: 64/128/256 channels at strides 4/8/16) for the CPU smoke-scale model;
the released model is ``resnet50``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torchvision.models import resnet18, resnet50

__all__ = [
    "ARCH_CHANNELS",
    "BiasedBasicBlock",
    "BiasedBottleneck",
    "KeyEncoder",
    "ValueEncoder",
    "build_biased_resnet",
    "extend_input_channels",
]

#: (f4, f8, f16) channel counts of each supported backbone.
ARCH_CHANNELS = {"resnet50": (256, 512, 1024), "resnet18": (64, 128, 256)}


class BiasedBottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 with stride -> 1x1, expansion 4) whose convs have biases."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class BiasedBasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs) whose convs have biases (ResNet-18 smoke model)."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def _biased_layer(
    block, inplanes: int, planes: int, blocks: int, stride: int
) -> tuple[nn.Sequential, int]:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, stride=stride), nn.BatchNorm2d(out)
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out


_LAYOUTS = {
    "resnet50": (BiasedBottleneck, (3, 4, 6, 3)),
    "resnet18": (BiasedBasicBlock, (2, 2, 2, 2)),
}


class _BiasedResNet(nn.Module):
    """The full biased ResNet (with ``layer4``), used only to build and initialise encoders."""

    def __init__(self, in_channels: int, arch: str = "resnet50"):
        super().__init__()
        block, counts = _LAYOUTS[arch]
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1, planes = _biased_layer(block, 64, 64, counts[0], 1)
        self.layer2, planes = _biased_layer(block, planes, 128, counts[1], 2)
        self.layer3, planes = _biased_layer(block, planes, 256, counts[2], 2)
        self.layer4, _ = _biased_layer(block, planes, 512, counts[3], 2)
        # The reference's own init: fan-out He normal for conv weights, zero biases, BN (1, 0).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                module.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
                module.bias.data.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.data.fill_(1)
                module.bias.data.zero_()


def build_biased_resnet(
    extra_channels: int,
    imagenet: dict[str, torch.Tensor] | None = None,
    arch: str = "resnet50",
    generator: torch.Generator | None = None,
) -> _BiasedResNet:
    """A biased ResNet with ``3 + extra_channels`` inputs, optionally ImageNet-initialised.

    With ``imagenet`` (a torchvision ResNet state_dict of the same ``arch``; V1 for ResNet-50), every key present in both models
    is copied, BN running statistics included; ``num_batches_tracked`` is skipped and the conv
    biases stay 0. ``conv1.weight`` ``(64, 3, 7, 7)`` is extended by an orthogonally initialised
    ``(64, extra_channels, 7, 7)`` block (gain 1), as the reference does.
    """
    net = _BiasedResNet(3 + extra_channels, arch)
    if imagenet is not None:
        own = net.state_dict()
        update = {}
        for key, value in own.items():
            if "num_batches_tracked" in key or key not in imagenet:
                continue
            source = imagenet[key].to(value.dtype)
            if source.shape != value.shape:
                source = extend_input_channels(source, value.shape[1] - source.shape[1], generator)
            update[key] = source
        net.load_state_dict(update, strict=False)
    return net


def extend_input_channels(
    weight: torch.Tensor, extra: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Append ``extra`` input channels, orthogonally initialised (gain 1), to a conv weight."""
    out_c, _, kh, kw = weight.shape
    block = torch.empty(out_c, extra, kh, kw, dtype=weight.dtype)
    if generator is None:
        nn.init.orthogonal_(block)
    else:
        nn.init.orthogonal_(block, generator=generator)
    return torch.cat([weight, block], 1)


class ValueEncoder(nn.Module):
    """Mask-aware encoder: ``[RGB, mask(, others)]`` -> ``f16`` (1024 ch, stride 16)."""

    def __init__(
        self,
        extra_channels: int = 2,
        imagenet: dict[str, torch.Tensor] | None = None,
        arch: str = "resnet50",
    ):
        super().__init__()
        net = build_biased_resnet(extra_channels, imagenet, arch)
        self.extra_channels = extra_channels
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3

    def forward(
        self, frame: torch.Tensor, mask: torch.Tensor, others: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = [frame, mask] if others is None else [frame, mask, others]
        x = torch.cat(parts, 1)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


class KeyEncoder(nn.Module):
    """RGB encoder (torchvision ResNet, no conv biases): frame -> ``(f16, f8, f4)``."""

    def __init__(self, imagenet: dict[str, torch.Tensor] | None = None, arch: str = "resnet50"):
        super().__init__()
        net = {"resnet50": resnet50, "resnet18": resnet18}[arch](weights=None)
        if imagenet is not None:
            net.load_state_dict(imagenet)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.res2, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(frame))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4
