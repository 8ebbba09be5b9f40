"""Architecture facts of the spec (§2): sizes, key layout, inflation, patch folding, size rule."""

from __future__ import annotations

import json

import pytest
import torch
from oast.model.discriminator import DiscriminatorFinetuning, DiscriminatorTrain
from oast.model.inflate import inflate_conv, inflate_conv_weight
from oast.model.mobilevit import BatchNorm, MobileViT, fold_patches, unfold_patches
from oast.model.network import MobileViTVOS, check_input_size
from torch import nn


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "scale,total,encoder,classifier",
    [
        ("xxs", 11_808_137, 1_903_648, 1_331_016),
        ("s", 49_665_921, 9_015_248, 5_634_520),
    ],
)
def test_parameter_counts(scale, total, encoder, classifier):
    net = MobileViTVOS(scale)
    assert n_params(net) == total
    assert n_params(net.encoder) == encoder
    assert n_params(MobileViT(scale)) == classifier
    assert len(MobileViT(scale).state_dict()) == 270


@pytest.mark.parametrize("scale", ["xxs", "s"])
def test_key_layout_matches_the_official_table(scale, parity):
    folder, _ = parity
    table = json.loads((folder / f"keys_oast_{scale}.json").read_text())
    state = MobileViTVOS(scale).state_dict()
    assert list(state) == list(table)  # same names, same order as the original
    assert len(state) == 444
    assert sum(k.startswith("encoder.") for k in state) == 268
    for key, entry in table.items():
        assert list(state[key].shape) == entry["shape"], key


def test_discriminator_keys_and_outputs(parity):
    folder, _ = parity
    table = json.loads((folder / "keys_discriminator.json").read_text())
    for cls in (DiscriminatorTrain, DiscriminatorFinetuning):
        disc = cls()
        assert set(disc.state_dict()) == set(table)
        assert n_params(disc) == 97_761
    assert DiscriminatorTrain()(torch.randn(2, 8, 16)).shape == (2,)
    q = DiscriminatorFinetuning()(torch.randn(2, 1, 8, 16))
    assert q.shape == (2, 1, 8, 16) and bool(((q > 0) & (q < 1)).all())
    with pytest.raises(ValueError, match="logit map"):
        DiscriminatorFinetuning()(torch.randn(2, 8, 16))


def test_classifier_shapes():
    net = MobileViT("xxs").eval()
    with torch.no_grad():
        feats = net.forward_features(torch.randn(1, 3, 256, 256))
        logits = net(torch.randn(1, 3, 256, 256))
    shapes = [tuple(f.shape[1:]) for f in feats]
    assert shapes == [(16, 128, 128), (24, 64, 64), (48, 32, 32), (64, 16, 16), (320, 8, 8)]
    assert logits.shape == (1, 1000)


def test_centre_inflation_processes_slots_independently():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True)
    conv3 = inflate_conv(conv)
    assert (
        conv3.kernel_size == (3, 3, 3) and conv3.stride == (1, 2, 2) and conv3.padding == (1, 1, 1)
    )
    assert conv3.groups == 2 and torch.equal(conv3.bias, conv.bias)
    assert torch.equal(conv3.weight[:, :, 1], conv.weight)
    assert not conv3.weight[:, :, 0].any() and not conv3.weight[:, :, 2].any()
    a, b = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        out = conv3(torch.stack([a, b], dim=2))
        torch.testing.assert_close(out[:, :, 0], conv(a), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[:, :, 1], conv(b), rtol=1e-5, atol=1e-6)
    one = nn.Conv2d(3, 5, 1, bias=False)
    assert inflate_conv(one).kernel_size == (3, 1, 1) and inflate_conv(one).bias is None
    mean = inflate_conv_weight(conv.weight, "mean")
    torch.testing.assert_close(mean.sum(2), conv.weight)


def test_every_conv_is_3d_and_batchnorm_is_shared_over_slots():
    net = MobileViTVOS("xxs")
    assert not any(isinstance(m, nn.Conv2d) for m in net.modules())
    assert all(m.kernel_size[0] == 3 for m in net.modules() if isinstance(m, nn.Conv3d))
    bn = BatchNorm(3).train()
    x = torch.randn(2, 3, 2, 4, 4)
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3, 4)), torch.zeros(3), atol=1e-6, rtol=0)
    ref = nn.BatchNorm3d(3).train()
    torch.testing.assert_close(ref(x), y)


def test_patch_unfold_fold_roundtrip():
    x = torch.randn(2, 5, 2, 6, 8)
    tokens, shape = unfold_patches(x)
    assert tokens.shape == (2, 4, 2 * 3 * 4, 5)
    assert torch.equal(fold_patches(tokens, shape), x)
    x2 = torch.randn(2, 5, 6, 8)
    tokens2, shape2 = unfold_patches(x2)
    assert tokens2.shape == (2, 4, 12, 5) and torch.equal(fold_patches(tokens2, shape2), x2)
    # the token set of one offset group holds both slots (RGB and flow attend to each other)
    assert torch.equal(tokens[0, 0, 0], x[0, :, 0, 0, 0])
    assert torch.equal(tokens[0, 0, 12], x[0, :, 1, 0, 0])


def test_size_must_be_multiple_of_64():
    check_input_size(384, 640)
    for h, w in ((72, 96), (64, 100), (0, 64)):
        with pytest.raises(ValueError, match="multiple of 64"):
            check_input_size(h, w)
    with pytest.raises(ValueError, match="multiple of 64"):
        MobileViTVOS("xxs")(torch.zeros(1, 3, 96, 96), torch.zeros(1, 3, 96, 96))


def test_output_shapes_and_rgb_slot():
    torch.manual_seed(0)
    net = MobileViTVOS("xxs").eval()
    img, flow = torch.randn(1, 3, 64, 128), torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        logits, fmap = net(img, flow)
        raw = net.decoder(net.forward_features(img, flow))
    assert logits.shape == (1, 1, 64, 128) and fmap.shape == (1, 64, 128)
    assert raw.shape == (1, 1, 2, 16, 32)
    up = torch.nn.functional.interpolate(
        raw, size=(2, 64, 128), mode="trilinear", align_corners=True
    )
    torch.testing.assert_close(logits, up[:, :, 0], rtol=1e-5, atol=1e-6)


def test_decoder_init_layer_norms_are_zero():
    net = MobileViTVOS("xxs")
    norms = [m for m in net.decoder.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(not m.weight.any() and not m.bias.any() for m in norms)
    enc_norms = [m for m in net.encoder.modules() if isinstance(m, nn.LayerNorm)]
    assert all(bool((m.weight == 1).all()) for m in enc_norms)


@pytest.mark.parametrize("groups,kernel,stride", [(1, 3, 1), (4, 3, 2), (8, 1, 1), (1, 1, 1)])
def test_clip_conv_equals_conv3d(groups, kernel, stride):
    """The 2-D evaluation of the inflated convs equals torch's Conv3d, values and gradients."""
    torch.manual_seed(0)
    conv = inflate_conv(nn.Conv2d(8, 16, kernel, stride, kernel // 2, groups=groups, bias=True))
    with torch.no_grad():
        conv.weight.normal_()  # all three temporal taps non-zero
    x = torch.randn(2, 8, 2, 12, 10, requires_grad=True)
    y = conv(x)
    ref = nn.functional.conv3d(
        x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups
    )
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    gx, gw = torch.autograd.grad(y.square().sum(), (x, conv.weight))
    rx, rw = torch.autograd.grad(ref.square().sum(), (x, conv.weight))
    torch.testing.assert_close(gx, rx, rtol=1e-4, atol=1e-5 * float(rx.abs().max()))
    torch.testing.assert_close(gw, rw, rtol=1e-4, atol=1e-5 * float(rw.abs().max()))
    three = torch.randn(1, 8, 3, 6, 6)  # other clip lengths use Conv3d itself
    torch.testing.assert_close(
        conv(three),
        nn.functional.conv3d(
            three, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups
        ),
    )
