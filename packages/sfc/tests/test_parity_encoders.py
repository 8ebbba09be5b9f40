"""Encoders after the official load procedure vs. the original's numbers (parity README §4)."""

from __future__ import annotations

import argparse

import pytest
import torch
from sfc.inference.features import normalize_frames
from sfc.model.encoder import make_encoder

ENCODER_CASES = [
    ("case_sfc", "fine-grained"),
    ("case_sfc", "mocov1"),
    ("case_fc_only", "fine-grained"),
    ("case_fc_only", "crw"),
]
TRUNK_ENTRIES = {"fine-grained": 90, "crw": 90, "mocov1": 258}


@pytest.fixture(scope="module")
def encoders(checkpoint_dir):
    return {name: make_encoder(name, checkpoint_dir) for name in ("fine-grained", "mocov1", "crw")}


@pytest.mark.parametrize("case_name,model_type", ENCODER_CASES)
def test_bn_buffers_after_refresh(cases, encoders, case_name, model_type):
    expected = cases[case_name]["encoders"][model_type]["bn_buffers"]
    state = encoders[model_type].trunk.state_dict()
    assert len(state) == TRUNK_ENTRIES[model_type]
    assert set(expected) <= set(state)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked"):
            assert int(state[key]) == 1 == int(value), key
        else:
            assert (state[key] - value).abs().max().item() <= 1e-6, key


@pytest.mark.parametrize("model_type", ["fine-grained", "mocov1", "crw"])
def test_every_trunk_tensor_comes_from_the_file(encoders, model_type):
    report = encoders[model_type].report
    assert report.loaded == TRUNK_ENTRIES[model_type]
    assert not report.missing_allowed or all(
        k.endswith("num_batches_tracked") for k in report.missing_allowed
    )


@pytest.mark.parametrize("case_name,model_type", ENCODER_CASES)
def test_features(cases, encoders, case_name, model_type):
    case = cases[case_name]
    expected = case["encoders"][model_type]
    with torch.no_grad():
        features = encoders[model_type](normalize_frames(case["inputs"]["frames_uint8"]))
    channels = expected.get("feature_channels")
    chosen = features if channels is None else features[:, channels]
    assert chosen.shape == expected["features"].shape
    assert (chosen - expected["features"]).abs().max().item() <= 1e-4
    if "feature_norms" in expected:
        assert (features.norm(dim=1) - expected["feature_norms"]).abs().max().item() <= 1e-4


def test_crw_uses_reflect_padding(encoders):
    convs = [m for m in encoders["crw"].trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    padded = [m for m in convs if m.padding != (0, 0)]
    assert padded and all(m.padding_mode == "reflect" for m in padded)
    assert all(
        m.padding_mode == "zeros"
        for m in encoders["fine-grained"].trunk.modules()
        if isinstance(m, torch.nn.Conv2d)
    )


def test_layer3_at_stride_8_without_dilation(encoders):
    trunk = encoders["mocov1"].trunk
    assert not hasattr(trunk, "layer4") and not hasattr(trunk, "fc")
    for module in trunk.layer3.modules():
        if isinstance(module, torch.nn.Conv2d):
            assert module.stride == (1, 1) and module.dilation == (1, 1)
    with torch.no_grad():
        out = encoders["mocov1"](torch.zeros(1, 3, 97, 130))
    assert out.shape == (1, 1024, 13, 17)  # ceil(97/8), ceil(130/8)


def test_bn_refresh_is_needed(cases, checkpoint_dir, encoders):
    """Skipping the train-mode zero forward moves the features far beyond the tolerance."""
    case = cases["case_sfc"]
    plain = make_encoder("fine-grained", checkpoint_dir, refresh_bn=False)
    x = normalize_frames(case["inputs"]["frames_uint8"])
    with torch.no_grad():
        diff = (plain(x) - encoders["fine-grained"](x)).abs().max().item()
    assert diff > 1e-2
    assert int(plain.trunk.state_dict()["bn1.num_batches_tracked"]) == 0


def test_checkpoint_with_argparse_namespace_loads(checkpoint_dir, tmp_path, cases):
    """The released pretrained_fc.pth stores args (a Namespace) and an optimizer state."""
    container = torch.load(checkpoint_dir / "pretrained_fc.pth", weights_only=True)
    container["args"] = argparse.Namespace(
        lr=1e-3, data_path="/data/ytvos", clip_len=1, remove_stride_layers=["layer3", "layer4"]
    )
    container["optimizer"] = {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}
    torch.save(container, tmp_path / "pretrained_fc.pth")
    encoder = make_encoder("fine-grained", tmp_path)
    expected = cases["case_sfc"]["encoders"]["fine-grained"]["features"]
    with torch.no_grad():
        features = encoder(normalize_frames(cases["case_sfc"]["inputs"]["frames_uint8"]))
    assert (features - expected).abs().max().item() <= 1e-4


def test_crw_legacy_conv_names_load(checkpoint_dir, tmp_path, encoders, cases):
    """CRW files whose convs were wrapped with a padding module ('conv1.1.weight') load too."""
    container = torch.load(checkpoint_dir / "pretrained.pth", weights_only=True)
    legacy = {}
    for key, value in container["model"].items():
        if key.endswith(("conv1.weight", "conv2.weight")) and key.startswith("encoder.model.layer"):
            key = key[: -len(".weight")] + ".1.weight"
        legacy[key] = value
    assert any(k.endswith("conv1.1.weight") for k in legacy)
    torch.save({"model": legacy}, tmp_path / "pretrained.pth")
    x = normalize_frames(cases["case_fc_only"]["inputs"]["frames_uint8"][:2])
    with torch.no_grad():
        assert torch.equal(make_encoder("crw", tmp_path)(x), encoders["crw"](x))
