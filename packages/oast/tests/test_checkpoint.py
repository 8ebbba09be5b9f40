"""Checkpoint containers, averaging, strict loading, backbone loading and their errors."""

from __future__ import annotations

import pytest
import torch
from oast.checkpoint import load_backbone, load_weights, select_state_dict
from oast.checkpoint import main as convert_main
from oast.model.mobilevit import MobileViT
from oast.model.network import MobileViTVOS
from torch import nn
from vos_common.errors import VOSDataError


@pytest.fixture(scope="module")
def xxs_state():
    torch.manual_seed(0)
    return MobileViTVOS("xxs").state_dict()


def test_model_container_and_ema_preference(xxs_state, tmp_path):
    shifted = {k: v + 1 if v.is_floating_point() else v for k, v in xxs_state.items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"model": xxs_state, "model_ema": shifted, "epoch": 3}, path)
    net = MobileViTVOS("xxs")
    load_weights(net, path)
    assert torch.equal(net.state_dict()["decoder.conv_seg.bias"], shifted["decoder.conv_seg.bias"])
    torch.save({"model": xxs_state, "model_ema": {}}, path)
    load_weights(net, path)
    assert torch.equal(
        net.state_dict()["decoder.conv_seg.bias"], xxs_state["decoder.conv_seg.bias"]
    )
    assert set(
        select_state_dict({"model": {"module." + k: v for k, v in xxs_state.items()}})
    ) == set(xxs_state)


def test_several_checkpoints_are_averaged(xxs_state, tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    other = {k: v * 3 if v.is_floating_point() else v for k, v in xxs_state.items()}
    torch.save({"model": xxs_state}, a)
    torch.save({"model": other}, b)
    net = MobileViTVOS("xxs")
    load_weights(net, [a, b])
    key = "encoder.stem.0.weight"
    torch.testing.assert_close(net.state_dict()[key], 2 * xxs_state[key])


def test_wrong_scale_is_one_readable_error(xxs_state, tmp_path):
    path = tmp_path / "xxs.pth"
    torch.save({"model": xxs_state}, path)
    with pytest.raises(VOSDataError) as err:
        load_weights(MobileViTVOS("s"), path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "shape mismatch" in message


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "teacher.pth"
    torch.save({"model": MobileViTVOS("xxs").state_dict(), "model_D": nn.Linear(2, 2)}, path)
    with pytest.raises(VOSDataError, match="weights_only"):
        load_weights(MobileViTVOS("xxs"), path)
    # the explicit, trusted conversion rewrites it as plain state_dicts
    out = tmp_path / "teacher_plain.pth"
    with pytest.raises(SystemExit):
        convert_main([str(path), str(out)])
    convert_main([str(path), str(out), "--trust"])
    converted = torch.load(out, weights_only=True)
    assert set(converted["model_D"]) == {"weight", "bias"}
    load_weights(MobileViTVOS("xxs"), out)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(VOSDataError, match="junk.pth"):
        load_weights(MobileViTVOS("xxs"), path)
    with pytest.raises(VOSDataError, match="not found"):
        load_weights(MobileViTVOS("xxs"), tmp_path / "missing.pth")


def test_backbone_loading_is_loud(tmp_path, xxs_state):
    torch.manual_seed(1)
    classifier = MobileViT("xxs").state_dict()
    good = tmp_path / "mobilevit_xxs.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in classifier.items()}}, good)
    net = MobileViTVOS("xxs")
    decoder_before = net.state_dict()["decoder.conv_seg.weight"].clone()
    assert load_backbone(net, good) == 268
    assert torch.equal(net.state_dict()["decoder.conv_seg.weight"], decoder_before)
    assert torch.equal(
        net.state_dict()["encoder.stem.0.weight"][:, :, 1], classifier["stem.0.weight"]
    )
    with pytest.raises(VOSDataError, match="shape mismatch"):
        load_backbone(MobileViTVOS("s"), good)
    oast_file = tmp_path / "oast.pth"
    torch.save({"model": xxs_state}, oast_file)
    with pytest.raises(VOSDataError, match="not a MobileViT backbone"):
        load_backbone(MobileViTVOS("xxs"), oast_file)
    partial = tmp_path / "partial.pth.tar"
    torch.save(
        {"state_dict": {k: v for k, v in classifier.items() if not k.startswith("stage4")}}, partial
    )
    with pytest.raises(VOSDataError, match="missing"):
        load_backbone(MobileViTVOS("xxs"), partial)
