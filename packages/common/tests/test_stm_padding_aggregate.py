"""vos_common.stm: padding to multiples of 16 and log-odds soft aggregation (hand-computed values)."""

from __future__ import annotations

import math

import torch
from vos_common.stm import (
    aggregate_logits,
    pad_amounts,
    pad_divide_by,
    padded_size,
    soft_aggregate,
    unpad,
)


def test_pad_split_puts_the_smaller_half_on_top_and_left():
    assert pad_amounts(85, 147) == (6, 7, 5, 6)  # (left, right, top, bottom)
    assert pad_amounts(480, 854) == (5, 5, 0, 0)
    assert pad_amounts(96, 160) == (0, 0, 0, 0)
    assert padded_size(85, 147) == (96, 160)


def test_pad_is_zero_in_normalised_space_and_unpad_inverts_it():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7) + 1
    padded, pad = pad_divide_by(x, 16)
    assert padded.shape == (2, 3, 16, 16) and pad == (4, 5, 5, 6)
    assert padded[..., :5, :].abs().sum() == 0 and padded[..., :, :4].abs().sum() == 0
    assert torch.equal(padded[..., 5:10, 4:11], x)
    assert torch.equal(unpad(padded, pad), x)
    # any number of leading dims, and a 2-D mask
    mask = torch.ones(5, 7)
    padded_mask, pad2 = pad_divide_by(mask, 16)
    assert padded_mask.shape == (16, 16) and pad2 == pad and padded_mask.sum() == 35
    five_d, _ = pad_divide_by(torch.ones(3, 4, 1, 5, 7), 16)
    assert five_d.shape == (3, 4, 1, 16, 16)


def test_aggregate_matches_hand_computed_log_odds():
    p = torch.tensor([0.8, 0.5]).view(2, 1, 1, 1)
    logits = aggregate_logits(p, dim=0).flatten()
    background = (1 - 0.8) * (1 - 0.5)
    expected = [math.log(background / (1 - background)), math.log(0.8 / 0.2), 0.0]
    assert torch.allclose(logits, torch.tensor(expected), atol=1e-6)
    merged = soft_aggregate(p, dim=0).flatten()
    odds = torch.tensor([background / (1 - background), 4.0, 1.0])
    assert torch.allclose(merged, odds / odds.sum(), atol=1e-6)
    assert torch.allclose(soft_aggregate(p, dim=0, keep_bg=False).flatten(), merged[1:])


def test_one_hot_mask_is_clamped_to_1e7_odds():
    onehot = torch.tensor([1.0, 0.0]).view(2, 1, 1, 1)
    merged = soft_aggregate(onehot, dim=0).flatten()
    assert merged[1].item() > 1 - 1e-6
    assert 1e-15 < merged[0].item() < 1e-13 and 1e-15 < merged[2].item() < 1e-13


def test_aggregate_along_channel_axis_of_a_batch():
    p = torch.rand(3, 2, 4, 4)
    assert torch.allclose(soft_aggregate(p, dim=1).sum(1), torch.ones(3, 4, 4), atol=1e-5)
    assert torch.allclose(aggregate_logits(p, dim=1)[1], aggregate_logits(p[1], dim=0))
