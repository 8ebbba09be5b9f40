"""Parity with the fixtures made by running the original Mask-Propagation code (P1-P7).

err = max|ours - ref| / max(1, max|ref|), with the bounds of shared/parity/mivos_prop/README.md.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from mivos_prop.inference import InferenceCore, normalise_frame, probabilities_to_labels
from mivos_prop.model import (
    PropagationNetwork,
    TrainingNetwork,
    affinity,
    normalise_affinity,
    readout,
    readout_reference,
)
from mivos_prop.model.checkpoint import load_weights
from mivos_prop.model.losses import BootstrappedCE, compute_losses, forward_three_frames
from vos_common.parity import load_case
from vos_common.stm import pad_divide_by, soft_aggregate


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours.float() - ref.float()).abs().max() / max(1.0, ref.abs().max().item())).item()


def padded_frames(clip) -> torch.Tensor:
    frames = torch.stack([normalise_frame(f) for f in clip["frames"]])
    out, pad = pad_divide_by(frames, 16)
    assert list(pad) == clip["pad"] == [6, 7, 5, 6]
    assert list(out.shape[-2:]) == clip["padded_size"]
    return out


def onehot(clip, t: int, ids=(1, 2)) -> torch.Tensor:
    masks = torch.stack([(clip["labels"][t] == i).float() for i in ids])[:, None]
    return pad_divide_by(masks, 16)[0]


def test_state_dict_matches_the_reference_table(parity_weights):
    net = PropagationNetwork()
    own = net.state_dict()
    assert list(own) == list(parity_weights)  # same names, same order
    assert all(
        own[k].shape == v.shape and own[k].dtype == v.dtype for k, v in parity_weights.items()
    )
    assert len(own) == 597
    assert sum(p.numel() for p in net.parameters()) == 53_685_953
    train = TrainingNetwork(single_object=False)
    train.load_state_dict(parity_weights, strict=True)
    so = TrainingNetwork(single_object=True).state_dict()
    differing = [k for k in own if so[k].shape != own[k].shape]
    assert differing == ["mask_rgb_encoder.conv1.weight"]
    assert tuple(so["mask_rgb_encoder.conv1.weight"].shape) == (64, 4, 7, 7)
    assert not any(k.startswith("rgb_encoder") and k.endswith("conv1.bias") for k in own)
    assert "mask_rgb_encoder.layer1.0.downsample.0.bias" in own
    keys = list(own)
    assert keys.index("decoder.compress.downsample.weight") < keys.index(
        "decoder.compress.conv1.weight"
    )


def test_official_checkpoint_format_loads_strictly(tmp_path, parity_weights):
    path = tmp_path / "propagation_model.pth"
    torch.save(collections.OrderedDict(parity_weights), path)
    net = load_weights(PropagationNetwork(), path)
    for key, value in net.state_dict().items():
        assert torch.equal(value, parity_weights[key]), key


def test_p1_key_encoder(eval_net, parity_clip, parity_modules):
    x = padded_frames(parity_clip)
    f16, f8, f4, k16, v16 = eval_net.encode_key(x[3:4])
    m = parity_modules
    assert err(f16[:, :32], m["query_frame3.f16_first32"]) <= 1e-4
    assert err(f8[:, :16], m["query_frame3.f8_first16"]) <= 1e-4
    assert err(f4[:, :8], m["query_frame3.f4_first8"]) <= 1e-4
    assert err(k16, m["query_frame3.key"]) <= 1e-4
    assert err(v16, m["query_frame3.value"]) <= 1e-4


def test_p2_value_encoder_with_others(eval_net, parity_clip, parity_modules):
    x = padded_frames(parity_clip)
    m = parity_modules
    f16 = eval_net.encode_value_features(x[0:1], onehot(parity_clip, 0))
    assert err(f16[:, :32], m["frame0.f16_first32"]) <= 1e-4
    for t in (0, 2):
        keys, values = eval_net.memorize(x[t : t + 1], onehot(parity_clip, t))
        assert keys.shape == (2, 128, 1, 6, 10) and values.shape == (2, 512, 1, 6, 10)
        assert err(keys, m[f"frame{t}.key"]) <= 1e-4
        assert err(values, m[f"frame{t}.value"]) <= 1e-4
    # K = 1: "others" is all zeros, so object 1 alone differs from object 1 next to object 2.
    alone, _ = eval_net.memorize(x[0:1], onehot(parity_clip, 0, ids=(1,)))
    assert err(alone, m["frame0.key"][:1]) > 1e-3
    manual = eval_net.mask_rgb_encoder(
        x[0:1], onehot(parity_clip, 0, ids=(1,)), torch.zeros(1, 1, 96, 160)
    )
    k_manual = eval_net.kv_m_f16(manual)[0].unsqueeze(2)
    assert torch.equal(alone, k_manual)


def _exempt(tensor: torch.Tensor, ties, layout: str) -> torch.Tensor:
    out = tensor.clone()
    for obj, col in ties:
        if layout == "readout":
            out.view(out.shape[0], out.shape[1], -1)[obj, :, col] = 0
        else:
            out[obj, :, col] = 0
    return out


@pytest.mark.parametrize("implementation", [readout, readout_reference])
def test_p3_readout(implementation, parity_modules):
    m = parity_modules
    keys = torch.cat([m["frame0.key"], m["frame2.key"]], 2)
    values = torch.cat([m["frame0.value"], m["frame2.value"]], 2)
    qk = m["query_frame3.key"]
    ties = m["meta.topk_tie_columns"]
    top = torch.cat([implementation(keys[i : i + 1], values[i : i + 1], qk, 50) for i in range(2)])
    plain = torch.cat(
        [implementation(keys[i : i + 1], values[i : i + 1], qk, None) for i in range(2)]
    )
    assert err(_exempt(top, ties, "readout"), _exempt(m["readout.topk50"], ties, "readout")) <= 2e-4
    assert err(plain, m["readout.notop"]) <= 2e-4
    # top-k changes the result with these weights (70 of 120 positions dropped)
    assert err(plain, m["readout.topk50"]) > 1e-3


def test_p3_affinity_topk(parity_modules):
    m = parity_modules
    keys = torch.cat([m["frame0.key"], m["frame2.key"]], 2)
    qk = m["query_frame3.key"]
    raw = affinity(keys, qk)
    assert raw.shape == (2, 120, 60)
    weights = normalise_affinity(raw, 6, 10, top_k=50)
    ties = m["meta.topk_tie_columns"]
    assert (
        err(_exempt(weights, ties, "affinity"), _exempt(m["affinity_topk50"], ties, "affinity"))
        <= 2e-4
    )
    assert torch.allclose(weights.sum(1), torch.ones(2, 60), atol=1e-5)
    assert ((weights > 0).sum(1) == 50).all()
    assert m["meta.affinity_scale"] == pytest.approx(1 / 128**0.5)


def test_p3_kernelized_memory_fast_equals_reference(parity_modules):
    m = parity_modules
    keys = torch.cat([m["frame0.key"], m["frame2.key"]], 2)
    values = torch.cat([m["frame0.value"], m["frame2.value"]], 2)
    qk = m["query_frame3.key"]
    for top in (50, None):
        fast = readout(keys[:1], values[:1], qk, top, km_sigma=5.6)
        ref = readout_reference(keys[:1], values[:1], qk, top, km_sigma=5.6)
        assert err(fast, ref) <= 1e-5
    # KM re-weights the memory: it differs from the plain top-k readout
    assert (
        err(readout(keys[:1], values[:1], qk, 50, 5.6), readout(keys[:1], values[:1], qk, 50))
        > 1e-4
    )


def test_p4_decoder(eval_net, parity_clip, parity_modules):
    x = padded_frames(parity_clip)
    _, f8, f4, _, v16 = eval_net.encode_key(x[3:4])
    logits = eval_net.decode(parity_modules["readout.topk50"], v16, f8, f4)
    assert logits.shape == (2, 1, 96, 160)
    assert err(logits, parity_modules["decoder_logits"]) <= 2e-4


def test_p5_soft_aggregation(parity_modules):
    probs = torch.sigmoid(parity_modules["decoder_logits"])
    merged = soft_aggregate(probs, dim=0, keep_bg=True)
    assert merged.shape == (3, 1, 96, 160)
    assert err(merged, parity_modules["aggregate"]) <= 1e-4
    assert err(soft_aggregate(probs, dim=0, keep_bg=False), parity_modules["aggregate"][1:]) <= 1e-4


@pytest.mark.parametrize("config,top_k", [("top50", 50), ("no_top", None)])
def test_p6_whole_clip_propagation(config, top_k, parity_weights, parity_clip, parity_folder):
    case = load_case(parity_folder / "case_propagation.pt")
    net = PropagationNetwork(top_k=top_k).eval()
    net.load_state_dict(parity_weights, strict=True)
    core = InferenceCore(net, object_ids=[1, 2], mem_every=case["meta"]["mem_freq"])
    probs, labels, reads = [], [], {}
    for t, frame in enumerate(parity_clip["frames"]):
        prob = core.step(
            normalise_frame(frame), parity_clip["labels"][0].numpy() if t == 0 else None
        )
        if t > 0:
            reads[t] = core.last_read
        probs.append(prob)
        labels.append(probabilities_to_labels(prob, size=(85, 147)))
    assert core.pad == tuple(case[config]["pad"])
    ours = torch.stack(probs[1:], 1)[1:]
    ref = case[config]["prob_objects"]
    assert ours.shape == ref.shape == (2, 6, 85, 147)
    delta = (ours - ref).abs()
    assert delta.mean().item() <= 1e-4 and delta.max().item() <= 1e-2
    assert (np.stack(labels) != case[config]["labels"].numpy()).mean() <= 0.001
    assert reads == {int(k): v for k, v in case["meta"]["memory_frames_per_step"].items()}


def test_p7_training_forward_and_losses(parity_weights, parity_folder):
    case = load_case(parity_folder / "case_train.pt")
    net = TrainingNetwork(single_object=False).eval()
    net.load_state_dict(parity_weights, strict=True)
    rgb = torch.stack(
        [torch.stack([normalise_frame(case["rgb"][b, t]) for t in range(3)]) for b in range(2)]
    )
    out = forward_three_frames(
        net, rgb, case["gt"].float(), case["sec_gt"].float(), case["selector"]
    )
    assert out["logits_1"].shape == (2, 3, 32, 64)
    assert err(out["logits_1"], case["logits_1"]) <= 5e-4
    assert err(out["logits_2"], case["logits_2"]) <= 5e-4
    assert err(out["memory_keys_frame0"], case["memory_keys_frame0"]) <= 5e-4
    for it, ref in case["losses"].items():
        losses = compute_losses(
            out, case["cls_gt"].long(), case["selector"], int(it), BootstrappedCE()
        )
        assert losses["p"] == ref["p"]
        for name in ("loss_1", "loss_2", "total_loss"):
            assert abs(float(losses[name]) - ref[name]) <= 1e-5 * max(1, abs(ref[name])), (it, name)


def test_p7_single_object_network_runs_two_way(parity_weights, parity_folder):
    case = load_case(parity_folder / "case_train.pt")
    weights = dict(parity_weights)
    weights["mask_rgb_encoder.conv1.weight"] = weights["mask_rgb_encoder.conv1.weight"][
        :, :4
    ].clone()
    net = TrainingNetwork(single_object=True).eval()
    net.load_state_dict(weights, strict=True)
    rgb = torch.stack(
        [torch.stack([normalise_frame(case["rgb"][b, t]) for t in range(3)]) for b in range(2)]
    )
    out = forward_three_frames(net, rgb, case["gt"].float())
    assert out["logits_1"].shape == out["logits_2"].shape == (2, 2, 32, 64)
    assert out["mask_1"].shape == (2, 1, 32, 64)
    assert torch.allclose(torch.softmax(out["logits_2"], 1)[:, 1:], out["mask_2"])
