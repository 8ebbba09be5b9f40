"""The AMD baseline: key layout, flow-network building blocks and one training step."""

from __future__ import annotations

import torch
from rcf.config import load_rcf_config


def test_amd_structure_and_step():
    from rcf.model.amd import AMDModel

    full = AMDModel(load_rcf_config("configs/amd/amd.yaml").model_kwargs)
    keys = list(full.state_dict())
    assert {k.split(".")[0] for k in keys} == {"backbone2", "decode_head", "decode_head2"}
    assert all(k.startswith("decode_head.flownet.") for k in keys if k.startswith("decode_head."))
    assert full.decode_head2.conv_seg.weight.shape == (5, 256, 1, 1)
    assert full.backbone2.layer3[0].conv2.dilation == (1, 1) and full.backbone2.layer4[
        0
    ].conv2.dilation == (2, 2)

    torch.manual_seed(0)
    model = AMDModel(load_rcf_config("configs/smoke/amd.yaml").model_kwargs)
    model.train()
    imgs = torch.randn(2, 2, 3, 64, 64)
    out = model(imgs)
    loss = out["losses"]["loss"]
    assert torch.isfinite(loss) and loss > 0
    assert [f.shape[-2:] for f in out["flows_fw"]][0] == (64, 128)
    loss.backward()
    assert model.decode_head.flownet.flow_estimators.predict_flow2[0].weight.grad.abs().sum() > 0
    assert model.decode_head2.conv_seg.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        probs = model(imgs[:, 0])
    assert probs.shape == (2, 5, 8, 8) and torch.allclose(probs.sum(1), torch.ones(2, 8, 8))


def test_flow_building_blocks():
    from rcf.model.amd import correlation, flow_warp, ssim_distance, visible_mask

    torch.manual_seed(1)
    x1, x2 = torch.randn(1, 4, 6, 7), torch.randn(1, 4, 6, 7)
    corr = correlation(x1, x2, 2)
    assert corr.shape == (1, 25, 6, 7)
    # displacement (dy, dx) = (1, -1) is channel (1 + 2) * 5 + (-1 + 2)
    expected = (x1[:, :, 1:4, 2:5] * x2[:, :, 2:5, 1:4]).mean(1)
    assert torch.allclose(corr[:, 3 * 5 + 1, 1:4, 2:5], expected, atol=1e-6)
    image = torch.rand(1, 3, 8, 10)
    assert torch.allclose(flow_warp(image, torch.zeros(1, 2, 8, 10)), image, atol=1e-6)
    shift = torch.zeros(1, 2, 8, 10)
    shift[:, 0] = 1.0
    assert torch.allclose(flow_warp(image, shift)[..., :-1], image[..., 1:], atol=1e-6)
    assert torch.all(visible_mask(torch.zeros(1, 2, 8, 10)) == 1)
    assert ssim_distance(image, image).abs().max() < 1e-6
