"""Parity of the evaluation network's pieces with the original (shared/parity/rde/case_modules.pt)."""

from __future__ import annotations

import pytest
import torch
from rde.inference.memory import MODES, MemoryBank
from rde.model.network import l2_affinity
from rde.parity import compare
from vos_common.stm import soft_aggregate


@pytest.fixture(scope="module")
def encoded(parity_net, parity_clip):
    """Keys of frames 0, 3, 6, 7 and values of frames 0 (aggregated GT) and 3, 6 (GT masks)."""
    frames, masks = parity_clip["frames"], parity_clip["masks"]
    out = {}
    with torch.no_grad():
        for t in (0, 3, 6, 7):
            out[t] = parity_net.encode_key(frames[t:t + 1])
        first = soft_aggregate(masks[:, 0], keep_bg=True)[1:]
        out["v0"] = parity_net.encode_value(frames[0:1], out[0][2], first)
        out["v3"] = parity_net.encode_value(frames[3:4], out[3][2], masks[:, 3])
        out["v6"] = parity_net.encode_value(frames[6:7], out[6][2], masks[:, 6])
    return out


@pytest.mark.parametrize("frame", [0, 7])
def test_key_encoder(encoded, case_modules, frame):
    ref = case_modules[f"encode_key/f{frame}"]
    names = ["k16", "f16_thin", "f16", "f8", "f4"]
    failures = []
    for name, ours in zip(names, encoded[frame], strict=True):
        if name in ref:
            failures += [f"{name} {f}" for f in compare(ours, ref[name])]
    assert not failures, failures


@pytest.mark.parametrize("frame", [0, 3])
def test_value_encoder(encoded, case_modules, frame):
    assert not compare(encoded[f"v{frame}"], case_modules[f"encode_value/f{frame}"]["value"])


def test_sam_parts_and_recurrence(parity_net, encoded, case_modules):
    sam = parity_net.mem_compress
    with torch.no_grad():
        keys = torch.cat([encoded[0][0].unsqueeze(2), encoded[3][0].unsqueeze(2)], 2)
        values = torch.cat([encoded["v0"], encoded["v3"]], 2)  # K, C, 2, h, w
        key_parts = sam.key_encoder.forward_parts(keys)
        value_parts = sam.value_encoder.forward_parts(values)
        k1, v1 = sam(keys, values.unsqueeze(0))
        keys2 = torch.cat([k1, encoded[6][0].unsqueeze(2)], 2)
        values2 = torch.cat([v1, encoded["v6"].unsqueeze(0)], 3)
        k2, v2 = sam(keys2, values2)
    step1, step2 = case_modules["sam/step1"], case_modules["sam/step2"]
    failures = []
    for part in ("nonlocal", "aspp", "sam"):
        failures += [f"key_{part} {f}" for f in compare(key_parts[part], step1[f"key_{part}"])]
        failures += [f"value_{part} {f}"
                     for f in compare(value_parts[part], step1[f"value_{part}"])]
    failures += [f"step1 key {f}" for f in compare(k1, step1["key_out"])]
    failures += [f"step1 value {f}" for f in compare(v1[0], step1["value_out"])]
    failures += [f"step2 key {f}" for f in compare(k2, step2["key_out"])]
    failures += [f"step2 value {f}" for f in compare(v2[0], step2["value_out"])]
    assert not failures, failures


def _dedupe_index(index: torch.Tensor, layout: list[str], positions: int) -> torch.Tensor:
    """Map the second copy of a duplicated first frame onto the first copy (the fixtures' rule)."""
    gt_slots = [i for i, name in enumerate(layout) if name == "gt"]
    index = index.clone()
    if len(gt_slots) == 2:
        second = gt_slots[1]
        hit = (index // positions) == second
        index[hit] -= positions * (second - gt_slots[0])
    return index


@pytest.mark.parametrize("mode", MODES)
def test_memory_read_every_mode(parity_net, encoded, case_modules, mode):
    bank = MemoryBank(parity_net.mem_compress, 2, top_k=12, mode=mode)
    qk = encoded[7][0]
    failures = []
    with torch.no_grad():
        bank.add(encoded[0][0].unsqueeze(2), encoded["v0"])
        for state in ("initial", "updated"):
            if state == "updated":
                bank.add(encoded[3][0].unsqueeze(2), encoded["v3"])
                bank.add(encoded[6][0].unsqueeze(2), encoded["v6"])
            ref = case_modules[f"readout/{mode}/{state}"]
            assert bank.layout() == ref["layout"], (state, bank.layout())
            assert bank.positions() == ref["memory_entries"]
            weights, index = bank.topk(qk)
            order = torch.sort(weights[0], dim=0, descending=True)[0]
            failures += [f"{state} topk_weight {f}" for f in compare(order, ref["topk_weight"])]
            ours_index = torch.sort(_dedupe_index(index[0], bank.layout(), 28), dim=0)[0]
            confident = ref["topk_margin"] > 1e-5
            assert torch.equal(ours_index[:, confident], ref["topk_index"][:, confident]), state
            readout = bank.read(qk)
            failures += [f"{state} readout {f}" for f in compare(readout, ref["readout"])]
            if "readout_dense" in ref:
                mk, mv = bank.memory()
                raw = l2_affinity(mk, qk)[0]
                failures += [f"raw_affinity {f}" for f in compare(raw, ref["raw_affinity"])]
                dense = MemoryBank(None, 2, top_k=mk.shape[2], mode="gt")
                dense.gt_k = dense.mem_k = mk.view(1, mk.shape[1], mk.shape[2], 1)
                dense.gt_v = dense.mem_v = mv.view(2, mv.shape[1], mk.shape[2], 1)
                out = dense.read(qk.flatten(2).unsqueeze(-1))
                failures += [f"readout_dense {f}" for f in compare(out.view_as(readout),
                                                                    ref["readout_dense"])]
    assert not failures, failures


def test_decoder(parity_net, encoded, case_modules):
    bank = MemoryBank(parity_net.mem_compress, 2, top_k=12, mode="two-frames-compress")
    with torch.no_grad():
        bank.add(encoded[0][0].unsqueeze(2), encoded["v0"])
        bank.add(encoded[3][0].unsqueeze(2), encoded["v3"])
        bank.add(encoded[6][0].unsqueeze(2), encoded["v6"])
        k16, f16_thin, _, f8, f4 = encoded[7]
        logits = parity_net.decode(bank.read(k16), f16_thin, f8, f4)
        # the original's single 1024-channel input gives the same numbers
        logits_cat = parity_net.decoder(torch.cat([bank.read(k16), f16_thin.expand(2, -1, -1, -1)],
                                                  1), f8, f4)
    assert not compare(logits, case_modules["decoder/f7"]["logits"])
    assert not compare(logits_cat, case_modules["decoder/f7"]["logits"])


def test_soft_aggregation(case_modules):
    ref = case_modules["aggregate"]
    assert not compare(soft_aggregate(ref["prob_in"], keep_bg=True), ref["keep_bg"])
