"""Whole-clip propagation parity with the original (shared/parity/rde/case_propagation.pt)."""

from __future__ import annotations

import pytest
import torch
from rde.inference.core import InferenceCore, propagate
from rde.parity import compare
from vos_common.parity import load_case
from vos_common.stm import unpad


@pytest.fixture(scope="module")
def case(parity_folder):
    return load_case(parity_folder / "case_propagation.pt")


def check_probabilities(ours: torch.Tensor, ref: torch.Tensor) -> None:
    """>= 99 % of the elements within 2e-3 and none off by more than 0.1 (near-tie rule)."""
    diff = (ours - ref).abs()
    assert diff.max().item() <= 0.1, diff.max().item()
    assert (diff <= 2e-3).float().mean().item() >= 0.99


@pytest.mark.parametrize(("run", "readout"), [("two-frames-compress/mem_every3", "sparse"),
                                              ("two-frames-compress/mem_every3", "dense"),
                                              ("gt-compress/mem_every2", "sparse")])
def test_propagation(parity_net, parity_clip, case, run, readout):
    ref = case["propagation"][run]
    core = InferenceCore(parity_net, 2, ref["mode"], ref["mem_every"], ref["top_k"],
                         readout=readout)
    frames, onehot = parity_clip["raw_frames"], parity_clip["raw_onehot"]
    probs = []
    for t in range(frames.shape[0]):
        annotation = {1: onehot[0, 0, 0], 2: onehot[1, 0, 0]} if t == 0 else None
        probs.append(core.step(frames[t], annotation, last=t == frames.shape[0] - 1))
    prob = torch.stack(probs, 1)
    assert prob.shape == ref["prob"].shape
    check_probabilities(prob, ref["prob"])
    labels = unpad(prob[:, :, 0], parity_clip["pad"]).argmax(0).to(torch.uint8)
    assert (labels != ref["labels"]).float().mean().item() <= 0.002
    bank = core.groups[0].bank  # the final bank equals the reference's
    assert not compare(bank.mem_k, ref["bank"]["mem_k"])
    assert not compare(bank.gt_k, ref["bank"]["gt_k"])
    assert not compare(bank.mem_v, ref["bank"]["mem_v"])


def test_propagate_helper_matches_the_core(parity_net, parity_clip, case):
    ref = case["propagation"]["gt-compress/mem_every2"]
    prob = propagate(parity_net, parity_clip["raw_frames"][:4], parity_clip["raw_onehot"][:, 0],
                     ref["mode"], ref["mem_every"], ref["top_k"])
    assert prob.shape == (3, 4, 1, 64, 112)
    check_probabilities(prob, ref["prob"][:, :4])  # the same bank states up to frame 3
