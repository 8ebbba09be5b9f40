"""vos_common.backbones: torchvision key compatibility, input channels, strides/dilations,
frozen BatchNorm, conv biases and loading ImageNet-style files."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from vos_common.backbones import (
    FrozenStatsBatchNorm2d,
    build_resnet,
    expand_input_channels,
    freeze_batchnorm_stats,
)
from vos_common.checkpoint import KEY_MAPS
from vos_common.errors import VOSDataError


def shapes(module: nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A torchvision ResNet-18 state_dict with random weights, saved like an ImageNet file."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(reference.state_dict(), path)
    return path, reference.state_dict()


@pytest.fixture(scope="module")
def dilated_resnet50():
    """torchvision's stride-8 ResNet-50 (RCF's backbone); its keys are every ResNet-50's."""
    torch.manual_seed(0)
    return torchvision.models.resnet50(
        weights=None, replace_stride_with_dilation=[False, True, True]
    )


def test_keys_and_shapes_are_torchvision_resnet50s(dilated_resnet50):
    reference = dilated_resnet50
    full = build_resnet(50, classifier=True)
    assert list(full.state_dict()) == list(reference.state_dict())
    assert shapes(full) == shapes(reference)
    full.load_state_dict(reference.state_dict(), strict=True)


def test_stride_8_dilated_resnet50_matches_torchvision_features(dilated_resnet50):
    reference = dilated_resnet50
    ours = build_resnet(50, output_stride=8)
    assert shapes(ours) == {k: v for k, v in shapes(reference).items() if not k.startswith("fc.")}
    ours.load_state_dict(
        {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    )
    reference.eval(), ours.eval()
    image = torch.randn(1, 3, 32, 48)
    features = ours(image)
    assert [tuple(f.shape) for f in features] == [
        (1, 256, 8, 12),
        (1, 512, 4, 6),
        (1, 1024, 4, 6),
        (1, 2048, 4, 6),
    ]
    with torch.no_grad():
        x = reference.maxpool(reference.relu(reference.bn1(reference.conv1(image))))
        x = reference.layer3(reference.layer2(reference.layer1(x)))
        torch.testing.assert_close(features[3], reference.layer4(x))
    assert ours.out_channels == [256, 512, 1024, 2048] and ours.out_strides == [4, 8, 8, 8]
    assert ours.layer4[0].conv2.dilation == (2, 2) and ours.layer4[1].conv2.dilation == (4, 4)


def test_resnet18_output_strides_with_and_without_dilation():
    image = torch.randn(2, 3, 64, 64)
    default = build_resnet(18).eval()
    assert [f.shape[-1] for f in default(image)] == [16, 8, 4, 2]
    dilated = build_resnet(18, output_stride=16).eval()
    assert [f.shape[-1] for f in dilated(image)] == [16, 8, 4, 4]
    assert dilated.layer4[0].conv1.dilation == (1, 1) and dilated.layer4[1].conv1.dilation == (2, 2)
    assert dilated.layer4[1].conv2.dilation == (1, 1)
    # SFC: strides removed from layer3 (and layer4) without dilation, cut after layer3.
    sfc = build_resnet(18, output_stride=8, dilate=False, last_layer=3).eval()
    outputs = sfc(torch.randn(1, 3, 48, 80))
    assert [tuple(f.shape) for f in outputs] == [(1, 64, 12, 20), (1, 128, 6, 10), (1, 256, 6, 10)]
    assert sfc.layer3[0].conv1.dilation == (1, 1) and sfc.layer3[0].downsample[0].stride == (1, 1)
    assert not hasattr(sfc, "layer4") and not hasattr(sfc, "fc")
    assert sfc.out_strides == [4, 8, 8]


def test_extra_input_channels_from_an_imagenet_file(resnet18_file):
    path, reference = resnet18_file
    rgb = reference["conv1.weight"]
    zero = build_resnet(18, in_channels=5, weights=path)
    assert zero.conv1.weight.shape == (64, 5, 7, 7)
    torch.testing.assert_close(zero.conv1.weight[:, :3], rgb)
    assert not zero.conv1.weight[:, 3:].any()
    torch.testing.assert_close(zero.layer2[0].conv1.weight, reference["layer2.0.conv1.weight"])

    torch.manual_seed(3)
    orthogonal = build_resnet(18, in_channels=5, weights=path, extra_channel_init="orthogonal")
    extra = orthogonal.conv1.weight[:, 3:].reshape(64, -1)  # 64 x 98: orthonormal rows
    torch.testing.assert_close(extra @ extra.T, torch.eye(64), atol=1e-4, rtol=0)
    torch.testing.assert_close(orthogonal.conv1.weight[:, :3], rgb)

    widened = expand_input_channels(rgb, 4, "mean")
    torch.testing.assert_close(widened[:, 3], rgb.mean(dim=1))
    with pytest.raises(ValueError, match="cannot shrink"):
        expand_input_channels(rgb, 2)
    assert zero.eval()(torch.randn(1, 5, 32, 32))[-1].shape == (1, 512, 1, 1)


def test_value_encoder_options_conv_bias_truncation_and_frozen_bn(resnet18_file):
    path, reference = resnet18_file
    encoder = build_resnet(
        18, in_channels=4, last_layer=3, conv_bias=True, freeze_bn_stats=True, weights=path
    )
    keys = set(encoder.state_dict())
    assert {"conv1.bias", "layer1.0.conv2.bias", "layer2.0.downsample.0.bias"} <= keys
    assert not any(k.startswith(("layer4.", "fc.")) for k in keys)
    assert all(
        float(encoder.state_dict()[k].abs().sum()) == 0
        for k in keys
        if k.endswith(".bias") and "bn" not in k and "downsample.1" not in k
    )
    torch.testing.assert_close(
        encoder.layer3[1].bn2.running_var, reference["layer3.1.bn2.running_var"]
    )

    encoder.train()
    before = {k: v.clone() for k, v in encoder.state_dict().items() if "running" in k}
    image = torch.randn(2, 4, 32, 32)
    train_out = encoder(image)[-1]
    after = {k: v for k, v in encoder.state_dict().items() if "running" in k}
    assert all(torch.equal(before[k], after[k]) for k in before)  # statistics never move
    torch.testing.assert_close(train_out, encoder.eval()(image)[-1])
    assert isinstance(encoder.bn1, FrozenStatsBatchNorm2d) and encoder.bn1.weight.requires_grad

    frozen = build_resnet(18, freeze_bn_stats=True, freeze_bn_affine=True)
    assert not frozen.bn1.weight.requires_grad and frozen.conv1.weight.requires_grad
    generic = freeze_batchnorm_stats(
        nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)), affine=True
    )
    assert type(generic[1]) is FrozenStatsBatchNorm2d and not generic[1].bias.requires_grad


def test_random_init_without_weights_and_wrong_files_are_reported(tmp_path, resnet18_file):
    torch.manual_seed(0)
    first = build_resnet(18)
    torch.manual_seed(0)
    second = build_resnet(18)
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )

    path, reference = resnet18_file
    truncated = {k: v for k, v in reference.items() if not k.startswith("layer1.1.")}
    torch.save(truncated, tmp_path / "truncated.pth")
    with pytest.raises(VOSDataError) as err:
        build_resnet(18, weights=tmp_path / "truncated.pth")
    assert (
        "truncated.pth: does not fit ResNetBackbone: 10 missing key(s) (layer1.1.conv1.weight"
        in str(err.value)
    )
    with pytest.raises(
        VOSDataError,
        match=r"shape mismatch.*conv1\.weight: file \[64, 3, 7, 7\] vs model \[64, 2, 7, 7\]",
    ):
        build_resnet(18, in_channels=2, weights=path)

    moco = {f"module.encoder_q.{k}": v for k, v in torch.load(path, weights_only=True).items()}
    moco["module.queue"] = torch.zeros(2, 3)
    torch.save({"state_dict": moco, "epoch": 200}, tmp_path / "moco.pth.tar")
    loaded = build_resnet(
        18, weights=tmp_path / "moco.pth.tar", weights_key_map=KEY_MAPS["moco_v1_encoder_q"]
    )
    torch.testing.assert_close(
        loaded.layer4[1].conv2.weight, moco["module.encoder_q.layer4.1.conv2.weight"]
    )
