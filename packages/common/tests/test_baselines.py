"""Tests of vos_common.baselines: copy-first-frame and the flow-magnitude threshold, against
values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from vos_common.baselines import (
    carry_annotations_forward,
    copy_first_frame,
    flow_magnitude,
    flow_magnitude_mask,
    sequence_flow_masks,
)


def test_copy_first_frame_repeats_independent_copies():
    first = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    frames = list(copy_first_frame(first, 3))
    assert len(frames) == 3
    for frame in frames:
        assert frame.dtype == np.uint8
        assert frame.tolist() == [[0, 1], [2, 0]]
    frames[0][0, 0] = 9  # a copy, not a view of the input or of the other frames
    assert first[0, 0] == 0 and frames[1][0, 0] == 0


def test_copy_first_frame_rejects_bad_input():
    with pytest.raises(ValueError, match="length"):
        list(copy_first_frame(np.zeros((2, 2)), -1))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        list(copy_first_frame(np.zeros((2, 2, 3)), 1))


def test_carry_annotations_forward_adds_late_objects_and_replaces_regiven_ones():
    frame0 = np.array([[1, 1, 0], [0, 0, 0]], dtype=np.uint8)
    frame2 = np.array([[0, 0, 3], [0, 0, 3]], dtype=np.uint8)  # object 3 starts at frame 2
    frame3 = np.array([[0, 0, 0], [1, 0, 0]], dtype=np.uint8)  # object 1 given again
    maps = list(carry_annotations_forward({0: frame0, 2: frame2, 3: frame3}, 5))
    assert [m.tolist() for m in maps] == [
        [[1, 1, 0], [0, 0, 0]],
        [[1, 1, 0], [0, 0, 0]],
        [[1, 1, 3], [0, 0, 3]],
        [[0, 0, 3], [1, 0, 3]],
        [[0, 0, 3], [1, 0, 3]],
    ]


def test_carry_annotations_forward_is_empty_before_the_first_annotation():
    maps = list(carry_annotations_forward({1: np.array([[2, 0]], dtype=np.uint8)}, 3))
    assert [m.tolist() for m in maps] == [[[0, 0]], [[2, 0]], [[2, 0]]]
    with pytest.raises(ValueError, match="no annotation"):
        list(carry_annotations_forward({}, 2))


def test_flow_magnitude_and_threshold_by_hand():
    # magnitudes 0, 5 (3-4-5), 1, 2: mean 2.0, so only the 5 is strictly above it
    flow = np.array([[[0, 0], [3, 4]], [[1, 0], [0, -2]]], dtype=np.float32)
    assert flow_magnitude(flow).tolist() == [[0.0, 5.0], [1.0, 2.0]]
    assert flow_magnitude_mask(flow).tolist() == [[False, True], [False, False]]


def test_flow_threshold_ignores_non_finite_values():
    # finite magnitudes 1 and 3: mean 2, so only the 3 is foreground; NaN is background
    flow = np.array([[[1, 0], [np.nan, np.nan]], [[0, 3], [0, 1]]], dtype=np.float32)
    assert flow_magnitude_mask(flow).tolist() == [[False, False], [True, False]]
    assert not flow_magnitude_mask(np.full((2, 2, 2), np.nan)).any()


def test_constant_flow_gives_an_empty_mask():
    assert not flow_magnitude_mask(np.ones((3, 4, 2))).any()


def test_sequence_flow_masks_use_forward_flow_then_backward_for_the_last_frame():
    still = np.zeros((1, 2, 2), dtype=np.float32)
    right = np.array([[[2, 0], [0, 0]]], dtype=np.float32)  # left pixel moves
    left = np.array([[[0, 0], [2, 0]]], dtype=np.float32)  # right pixel moves
    calls = []

    def forward(t):
        calls.append(("fw", t))
        return right if t == 0 else still

    def backward(t):
        calls.append(("bw", t))
        return left

    masks = list(sequence_flow_masks(3, forward, backward))
    assert [m.tolist() for m in masks] == [[[True, False]], [[False, False]], [[False, True]]]
    assert calls == [("fw", 0), ("fw", 1), ("bw", 2)]
    with pytest.raises(ValueError, match="frame 0"):
        list(sequence_flow_masks(1, forward, backward))
