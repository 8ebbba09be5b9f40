"""The inference core: constant memory, every mode, late objects, schedules, bad input."""

from __future__ import annotations

import pytest
import torch
from rde.inference.core import InferenceCore, propagate
from rde.inference.memory import MODES, MemoryBank
from rde.parity import tiny_random_network
from vos_common.errors import VOSDataError

H, W = 64, 96  # stride-16 grid 4 x 6


@pytest.fixture(scope="module")
def net():
    return tiny_random_network(0)


def clip(t: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(t, 3, H, W, generator=g)
    masks = torch.zeros(2, H, W)
    masks[0, 10:30, 10:40] = 1
    masks[1, 35:60, 50:90] = 1
    return frames, masks


@pytest.mark.parametrize("mode", ["two-frames-compress", "gt-compress", "last-compress", "compress"])
def test_memory_is_constant_in_compress_modes(net, mode):
    frames, masks = clip(1)
    sizes = {}
    core = InferenceCore(net, 2, mode, mem_every=1, top_k=8)
    for t in range(100):
        core.step(frames[0] + 0.01 * t, {1: masks[0], 2: masks[1]} if t == 0 else None)
        if t + 1 in (10, 100):
            sizes[t + 1] = (core.memory_bytes(), core.memory_positions())
    assert sizes[10] == sizes[100]
    assert core.groups[0].bank.writes == 99


def test_stm_memory_grows(net):
    frames, masks = clip(1)
    core = InferenceCore(net, 2, "stm", mem_every=1, top_k=8)
    positions = []
    for t in range(12):
        core.step(frames[0], {1: masks[0], 2: masks[1]} if t == 0 else None)
        positions.append(core.memory_positions())
    assert positions[-1] == 12 * 24 and positions[1] == 2 * 24


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_propagates(net, mode):
    frames, masks = clip(7)
    prob = propagate(net, frames, masks[:, None], mode, mem_every=3, top_k=8)
    assert prob.shape == (3, 7, 1, H, W)
    assert torch.isfinite(prob).all()
    assert torch.allclose(prob.sum(0), torch.ones(7, 1, H, W), atol=1e-4)


def test_memory_frames_absolute_and_include_last(net):
    frames, masks = clip(8)
    for include_last, expected in ((False, 2), (True, 6)):  # frames 3, 6 / frames 1..6
        core = InferenceCore(net, 2, "compress", mem_every=3, top_k=8, include_last=include_last)
        for t in range(8):
            core.step(frames[t], {1: masks[0], 2: masks[1]} if t == 0 else None, last=t == 7)
        assert core.groups[0].bank.writes == expected


def test_relative_schedule_counts_from_annotations(net):
    frames, masks = clip(10)
    core = InferenceCore(net, 2, "compress", mem_every=3, top_k=8, schedule="relative")
    written = []
    for t in range(10):
        annotation = {1: masks[0]} if t == 0 else ({2: masks[1]} if t == 4 else None)
        before = sum(g.bank.writes for g in core.groups)
        core.step(frames[t], annotation, last=t == 9)
        written.append(sum(g.bank.writes for g in core.groups) - before)
    # frame 3 (3 after 0), the annotation at 4 updates the older bank, then 7 (3 after 4)
    assert [t for t, w in enumerate(written) if w] == [3, 4, 7]
    assert [g.objects for g in core.groups] == [[1], [2]]


def test_late_object_grouping_equals_per_object_banks(net):
    """Objects given together share a bank: same numbers as one bank per object (the original)."""
    frames, masks = clip(6)
    extra = torch.zeros(H, W)
    extra[40:60, 5:30] = 1

    def run(per_object: bool):
        core = InferenceCore(net, 3, "two-frames-compress", mem_every=2, top_k=8,
                             schedule="relative", per_object_banks=per_object)
        outs = []
        for t in range(6):
            annotation = {1: masks[0], 2: masks[1]} if t == 0 else ({3: extra} if t == 2 else None)
            outs.append(core.step(frames[t], annotation, last=t == 5))
        return torch.stack(outs), core

    grouped, core = run(False)
    separate, core_separate = run(True)
    assert [g.objects for g in core.groups] == [[1, 2], [3]]
    assert [g.objects for g in core_separate.groups] == [[1], [2], [3]]
    assert torch.isfinite(grouped).all()
    assert (grouped - separate).abs().max() < 1e-4
    # object 3 is absent before its annotation and present after it
    assert grouped[1, 3].max() == 0 and grouped[3, 3].max() > 0


def test_top_k_larger_than_memory_is_refused(net):
    frames, masks = clip(2)
    core = InferenceCore(net, 2, "compress", mem_every=3, top_k=25)  # 4 x 6 = 24 positions
    with pytest.raises(VOSDataError, match="top-k 25 is not in 1..24"):
        core.step(frames[0], {1: masks[0], 2: masks[1]})
    core = InferenceCore(net, 2, "two-frames-compress", mem_every=3, top_k=48)  # [gt, gt]
    core.step(frames[0], {1: masks[0], 2: masks[1]})


def test_mask_of_wrong_size_is_refused(net):
    frames, _ = clip(1)
    core = InferenceCore(net, 1, top_k=8)
    with pytest.raises(VOSDataError, match="mask of frame 0"):
        core.step(frames[0], {1: torch.ones(H + 20, W)})


def test_unknown_mode_is_refused(net):
    with pytest.raises(VOSDataError, match="unknown"):
        MemoryBank(net.mem_compress, 1, 8, "three-frames")


def test_topk_softmax_keeps_the_original_exponent_and_repairs_only_overflow():
    from rde.inference.memory import topk_softmax

    g = torch.Generator().manual_seed(0)
    affinity = torch.randn(1, 30, 6, generator=g)
    weights, index = topk_softmax(affinity, 5)
    values = torch.topk(affinity, 5, dim=1).values
    assert torch.equal(weights, values.exp() / values.exp().sum(1, keepdim=True))  # no shift
    affinity[:, :, 2] += 200  # exp overflows at query 2: the original's weights are NaN there
    affinity[:, :, 4] -= 200  # every exp underflows at query 4
    repaired, repaired_index = topk_softmax(affinity, 5)
    stable, _ = topk_softmax(affinity, 5, stable=True)
    assert torch.isfinite(repaired).all() and torch.equal(repaired_index, index)
    assert torch.allclose(repaired, stable, atol=1e-6)
    untouched = [0, 1, 3, 5]
    assert torch.equal(repaired[..., untouched], weights[..., untouched])


def test_inference_copy_folds_batchnorm_and_leaves_the_network_alone(net):
    from rde.inference.core import inference_network

    state = {k: v.clone() for k, v in net.state_dict().items()}
    folded = inference_network(net)
    assert folded is inference_network(net) and folded is not net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.key_encoder.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.key_encoder.modules())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    frame = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for ours, ref in zip(folded.encode_key(frame), net.encode_key(frame), strict=True):
            assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
