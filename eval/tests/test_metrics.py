"""Hand-computed J, F, boundary maps, radius, Recall and Decay (evaluation.md 2.1 - 2.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from vos_eval.metrics import (
    MaskBoundary,
    boundary_map,
    boundary_measure,
    boundary_radius,
    decay_bin_edges,
    dilate,
    disk,
    disk_rectangles,
    object_statistics,
    region_similarity,
)


def grid(text: str) -> np.ndarray:
    """A bool mask from rows of '#' (set) and '.' (unset)."""
    return np.array([[c == "#" for c in row.strip()] for row in text.strip().splitlines()])


SQUARE_6x8 = grid("""
    ........
    .###....
    .###....
    .###....
    ........
    ........
""")
SHIFTED_6x8 = grid("""
    ........
    ...###..
    ...###..
    ...###..
    ........
    ........
""")


def test_boundary_map_runs_half_a_pixel_towards_the_top_left():
    # Outside pixels above / left of the object, inside pixels of its bottom row / right column.
    expected = grid("""
        ####....
        #..#....
        #..#....
        ####....
        ........
        ........
    """)
    assert np.array_equal(boundary_map(SQUARE_6x8), expected)


def test_no_boundary_where_the_object_touches_the_image_border():
    mask = grid("""
        ####
        ####
        ####
        ....
        ....
    """)
    expected = grid("""
        ....
        ....
        ####
        ....
        ....
    """)
    assert np.array_equal(boundary_map(mask), expected)
    assert not boundary_map(np.ones((4, 5), bool)).any()  # a full-frame mask has no boundary


def test_a_hole_draws_an_inner_boundary():
    mask = np.ones((5, 5), bool)
    mask[2, 2] = False
    expected = np.zeros((5, 5), bool)
    expected[1:3, 1:3] = True
    assert np.array_equal(boundary_map(mask), expected)


def test_boxed_boundary_equals_full_frame_boundary_also_at_borders():
    rng = np.random.default_rng(3)
    for _ in range(200):
        mask = np.zeros((int(rng.integers(1, 30)), int(rng.integers(1, 30))), bool)
        top, left = rng.integers(0, mask.shape[0]), rng.integers(0, mask.shape[1])
        mask[top : top + rng.integers(1, 30), left : left + rng.integers(1, 30)] = True
        mask[rng.random(mask.shape) < 0.05] ^= True
        boxed = MaskBoundary.of(mask, 2.0)
        full = np.zeros_like(mask)
        full[
            boxed.top : boxed.top + boxed.pixels.shape[0],
            boxed.left : boxed.left + boxed.pixels.shape[1],
        ] = boxed.pixels
        assert np.array_equal(full, boundary_map(mask))
        assert boxed.count == int(boundary_map(mask).sum())


@pytest.mark.parametrize(
    ("width", "radius", "ones"), [(854, 8, 197), (910, 9, 253), (1152, 10, 317)]
)
def test_radius_follows_each_frames_diagonal(width, radius, ones):
    assert boundary_radius(480, width) == radius
    assert int(disk(radius).sum()) == ones


def test_other_radii_and_pixel_tolerance():
    assert [
        boundary_radius(h, w) for h, w in [(360, 640), (480, 640), (720, 1280), (1080, 1920)]
    ] == [6, 7, 12, 18]
    assert boundary_radius(480, 854, bound_th=3) == 3
    with pytest.raises(ValueError):
        boundary_radius(480, 854, bound_th=2.5)


def test_dilation_by_rectangles_equals_the_disk():
    rng = np.random.default_rng(0)
    for radius in (1, 2, 5, 8, 9, 10):
        source = rng.random((40, 50)) < 0.01
        kernel = disk(radius).astype(bool)
        half = kernel.shape[0] // 2
        expected = np.zeros_like(source)
        for y, x in zip(*np.nonzero(source), strict=True):
            for dy, dx in zip(*np.nonzero(kernel), strict=True):
                yy, xx = y + dy - half, x + dx - half
                if 0 <= yy < 40 and 0 <= xx < 50:
                    expected[yy, xx] = True
        assert np.array_equal(dilate(source, radius), expected), radius
    assert disk_rectangles(8) == [(8, 0), (7, 3), (6, 5), (5, 6), (3, 7), (0, 8)]


def test_j_by_hand():
    assert region_similarity(SHIFTED_6x8, SQUARE_6x8) == pytest.approx(3 / 15)  # 3 shared of 15
    assert region_similarity(SQUARE_6x8, SQUARE_6x8) == 1.0
    assert region_similarity(np.zeros((6, 8)), SQUARE_6x8) == 0.0  # one side empty
    assert region_similarity(np.zeros((6, 8)), np.zeros((6, 8))) == 1.0  # both empty
    holed = SQUARE_6x8.copy()
    holed[2, 2] = False
    assert region_similarity(holed, SQUARE_6x8) == pytest.approx(8 / 9)
    void = np.zeros((6, 8), bool)
    void[1:4, 4:6] = True  # ignore the part of the prediction that misses
    assert region_similarity(SHIFTED_6x8, SQUARE_6x8, void) == pytest.approx(3 / 9)


def test_f_by_hand_with_a_radius_of_one():
    # Boundary rings of 12 pixels each, 2 columns apart. With the 5-pixel disk of radius 1,
    # 8 of the 12 prediction pixels are within reach of the GT ring and 8 of 12 the other way.
    assert boundary_measure(SHIFTED_6x8, SQUARE_6x8, bound_th=1) == pytest.approx(2 / 3)
    # Shifted by one column every ring pixel is within reach: F = 1 although J < 1.
    one_column = np.roll(SQUARE_6x8, 1, axis=1)
    assert boundary_measure(one_column, SQUARE_6x8, bound_th=1) == 1.0


def test_f_edge_cases():
    empty = np.zeros((6, 8), bool)
    assert boundary_measure(empty, SQUARE_6x8) == 0.0  # prediction has no boundary
    assert boundary_measure(SQUARE_6x8, empty) == 0.0  # ground truth has no boundary
    assert boundary_measure(empty, empty) == 1.0
    full = np.ones((6, 8), bool)
    assert boundary_measure(full, full) == 1.0  # neither has a drawable boundary
    assert boundary_measure(full, SQUARE_6x8) == 0.0


def test_void_is_removed_before_boundaries_are_taken():
    void = np.zeros((6, 8), bool)
    void[:, 4:] = True
    # Outside the void both masks are the same, so their boundaries agree exactly.
    assert boundary_measure(SHIFTED_6x8 | SQUARE_6x8, SQUARE_6x8, void, bound_th=1) == 1.0


def test_decay_bins_overlap_by_one_frame():
    assert decay_bin_edges(48) == [0, 12, 24, 35, 47]
    assert decay_bin_edges(3) == [0, 1, 1, 2, 2]
    assert decay_bin_edges(2) == [0, 0, 1, 1, 1]
    assert decay_bin_edges(1) == [0, 0, 0, 0, 0]
    assert decay_bin_edges(300)[4] == 299
    assert decay_bin_edges(300, official_uint8_wrap=True)[4] == 43


def test_statistics_n_1_2_3():
    one = object_statistics(np.array([0.7]))
    assert (one.mean, one.recall, one.decay) == (pytest.approx(0.7), 1.0, 0.0)
    two = object_statistics(np.array([0.9, 0.3]))
    assert (two.mean, two.recall, two.decay) == (pytest.approx(0.6), 0.5, pytest.approx(0.6))
    three = object_statistics(np.array([1.0, 0.6, 0.2]))
    assert three.recall == pytest.approx(2 / 3)
    assert three.decay == pytest.approx(0.6)  # mean(1.0, 0.6) - 0.2


def test_statistics_n_48():
    values = np.arange(48) / 47
    stats = object_statistics(values)
    assert stats.mean == pytest.approx(0.5)
    assert stats.recall == 0.5  # 24..47 are > 0.5; exactly 0.5 would not count
    assert stats.decay == pytest.approx(6 / 47 - 41 / 47)  # bins 0..12 and 35..47
    assert object_statistics(np.array([0.5, 0.5])).recall == 0.0


def test_statistics_of_no_frames_are_nan():
    stats = object_statistics(np.zeros(0))
    assert math.isnan(stats.mean) and math.isnan(stats.recall) and math.isnan(stats.decay)


def test_official_uint8_wrap_makes_long_decay_nan():
    values = np.linspace(1, 0, 300)
    assert object_statistics(values).decay == pytest.approx(
        np.mean(values[:76]) - np.mean(values[224:])
    )
    assert math.isnan(object_statistics(values, official_uint8_wrap=True).decay)
