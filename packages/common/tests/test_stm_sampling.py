"""vos_common.stm sampling: three-frame sampler, skip curriculum, object choice, TPS warp."""

from __future__ import annotations

import numpy as np
import pytest
from vos_common.stm import SkipCurriculum, bl30k_object_filter, choose_objects, sample_three_frames
from vos_common.stm.pseudo_video import random_tps_warp, tps_backward_map


def test_three_frames_follow_the_reference_bounds():
    rng = np.random.default_rng(0)
    reversed_seen = forward_seen = False
    for _ in range(2000):
        n, jump = int(rng.integers(3, 40)), int(rng.integers(1, 30))
        frames = sample_three_frames(n, jump, rng)
        assert all(0 <= f < n for f in frames)
        ordered = frames if frames[0] <= frames[2] else frames[::-1]
        forward_seen |= frames[0] < frames[2]
        reversed_seen |= frames[0] > frames[2]
        j = min(n, jump)
        assert ordered[1] - ordered[0] <= j + 1 and ordered[2] - ordered[1] <= j + 1
        assert ordered[0] <= ordered[1] <= ordered[2]
    assert forward_seen and reversed_seen


def test_gap_can_reach_max_jump_plus_one():
    rng = np.random.default_rng(1)
    gaps = set()
    for _ in range(3000):
        f = sorted(sample_three_frames(100, 5, rng))
        gaps.add(f[1] - f[0])
    assert max(gaps) == 6


def test_short_video_collapses_first_gap():
    rng = np.random.default_rng(2)
    for _ in range(100):
        f = sample_three_frames(4, 10, rng)  # J = n: s = 0, f1 = min(..., n - J = 0)
        assert sorted(f)[:2] == [0, 0]
    with pytest.raises(ValueError):
        sample_three_frames(2, 5)


def test_curriculum_switches_at_epoch_fractions_and_returns_to_five():
    c = SkipCurriculum(total_epochs=20, fractions=(0.1, 0.2, 0.3, 0.4, 0.9))
    assert c.switch_epochs == [2, 4, 6, 8, 18]
    assert [c.max_skip(e) for e in (0, 1, 2, 4, 6, 8, 17, 18, 19)] == [
        5,
        5,
        10,
        15,
        20,
        25,
        25,
        5,
        5,
    ]
    c2 = SkipCurriculum.for_iterations(1001, 100)
    assert c2.total_epochs == 11


def test_object_choice_and_bl30k_filter():
    first = np.zeros((40, 40), np.uint8)
    first[:35, :35] = 1  # 1225 px > 900: kept
    first[36:, 36:] = 2  # 16 px: dropped (<= 100)
    others = [first.copy(), first.copy()]
    masks = [first, *others]
    assert bl30k_object_filter(masks, 1) and not bl30k_object_filter(masks, 2)
    small = np.zeros((60, 60), np.uint8)
    small[:20, :20] = 3  # 400 px in the first frame
    later = np.zeros((60, 60), np.uint8)
    later[:25, :25] = 3  # 625 px later: grows -> rejected
    assert not bl30k_object_filter([small, later, later], 3)
    stays = np.zeros((60, 60), np.uint8)
    stays[:19, :19] = 3  # 361 px < 400 in both later frames -> kept
    assert bl30k_object_filter([small, stays, stays], 3)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        target, second = choose_objects(masks, rng)
        assert {target, second} == {1, 2}
        seen.add(target)
    assert seen == {1, 2}
    assert choose_objects(masks, rng, keep=bl30k_object_filter) == (1, None)
    assert choose_objects([np.zeros((4, 4), np.uint8)] * 3, rng) == (None, None)


def test_tps_identity_when_points_do_not_move():
    pts = np.array([[0.1, 0.2], [0.8, 0.3], [0.5, 0.9], [0.3, 0.6]])
    map_x, map_y = tps_backward_map(pts, pts, 20, 30)
    ys, xs = np.mgrid[0:20, 0:30]
    assert np.allclose(map_x, xs, atol=1e-4) and np.allclose(map_y, ys, atol=1e-4)


def test_tps_moves_control_points_and_keeps_masks_binary():
    src = np.array([[0.5, 0.5], [0.2, 0.2], [0.8, 0.2], [0.2, 0.8], [0.8, 0.8]])
    dst = src.copy()
    dst[0] += [0.1, 0.0]  # the centre moves right by 10 % of the width
    map_x, _ = tps_backward_map(src, dst, 101, 101)
    assert map_x[50, 60] == pytest.approx(50, abs=0.5)  # output (60, 50) samples input (50, 50)
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    mask = (rng.random((64, 80)) > 0.5).astype(np.uint8) * 255
    warped, warped_mask = random_tps_warp(image, mask, scale=0.02, rng=rng)
    assert warped.shape == image.shape and warped.dtype == np.uint8
    assert set(np.unique(warped_mask)) <= {0, 255}
    assert not np.array_equal(warped, image)
