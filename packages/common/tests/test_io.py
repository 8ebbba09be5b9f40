"""Round-trips and bad-input errors for vos_common.io (masks, frames, flow files, colour wheel)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vos_common.errors import VOSDataError
from vos_common.io import (
    DAVIS_PALETTE,
    atomic_open,
    flow_to_color,
    read_binary_mask,
    read_flo,
    read_flow,
    read_flow_npy,
    read_frame,
    read_kitti_flow,
    read_label_map,
    read_mask,
    resize_flow,
    resize_mask,
    size_for_height,
    voc_palette,
    write_binary_mask,
    write_flo,
    write_flow_npy,
    write_frame,
    write_kitti_flow,
    write_label_map,
)



def test_davis_palette_matches_the_dataset_convention():
    voc = voc_palette()
    # VOC bit-interleaving map: id 1 = dark red, 2 = dark green, 3 = olive, 8 = (64, 0, 0).
    assert voc[1].tolist() == [128, 0, 0]
    assert voc[2].tolist() == [0, 128, 0]
    assert voc[8].tolist() == [64, 0, 0]
    assert voc[15].tolist() == [192, 128, 128]
    # DAVIS PNGs store 191 where VOC has 192, and a grey ramp from id 22 on.
    assert DAVIS_PALETTE[15].tolist() == [191, 128, 128]
    assert DAVIS_PALETTE[22].tolist() == [22, 22, 22]
    assert DAVIS_PALETTE[255].tolist() == [255, 255, 255]
    assert not (DAVIS_PALETTE[:22] == 192).any()


def test_label_map_round_trip_keeps_raw_indices(tmp_path):
    ids = np.random.default_rng(0).integers(0, 8, size=(13, 17)).astype(np.uint8)
    ids[0, 0] = 255  # void survives as an index, not as a colour
    path = tmp_path / "00000.png"
    write_label_map(path, ids)
    image = Image.open(path)
    assert image.mode == "P"
    assert np.asarray(image.getpalette()[:6]).tolist() == DAVIS_PALETTE[:2].reshape(-1).tolist()
    np.testing.assert_array_equal(read_label_map(path), ids)
    np.testing.assert_array_equal(read_mask(path), ids)


def test_label_map_from_grey_png_is_accepted(tmp_path):
    ids = np.random.default_rng(0).integers(0, 4, size=(5, 6)).astype(np.uint8)
    Image.fromarray(ids, mode="L").save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "grey.png"), ids)


def test_rgb_png_where_indexed_is_required_raises_with_file_name(tmp_path):
    path = tmp_path / "rgb_mask.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    with pytest.raises(VOSDataError, match="rgb_mask.png.*RGB"):
        read_label_map(path)


@pytest.mark.parametrize("fg_value,mode", [(255, "L"), (1, "L"), (255, "LA"), (200, "RGB")])
def test_binary_masks_follow_the_davis2016_rule(tmp_path, fg_value, mode):
    mask = np.random.default_rng(0).random((9, 11)) > 0.5
    plane = np.where(mask, fg_value, 0).astype(np.uint8)
    if mode == "LA":  # grey with a stray alpha channel, as one DAVIS 2016 file has
        array = np.stack([plane, np.full_like(plane, 255)], axis=-1)
    elif mode == "RGB":
        array = np.stack([plane, plane // 2, plane], axis=-1)
    else:
        array = plane
    path = tmp_path / f"mask_{mode}_{fg_value}.png"
    Image.fromarray(array, mode=mode).save(path)
    np.testing.assert_array_equal(read_binary_mask(path), mask)
    np.testing.assert_array_equal(read_mask(path, binary=True), mask.astype(np.uint8))


def test_binary_mask_of_a_palette_png_uses_indices_not_colours(tmp_path):
    ids = np.array([[0, 1], [2, 0]], np.uint8)
    write_label_map(tmp_path / "p.png", ids)
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "p.png"), ids > 0)


def test_write_binary_mask_three_channels_for_segtrack(tmp_path):
    mask = np.random.default_rng(0).random((6, 7)) > 0.5
    write_binary_mask(tmp_path / "m.bmp", mask, channels=3)
    image = Image.open(tmp_path / "m.bmp")
    assert image.mode == "RGB"
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "m.bmp"), mask)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg"])
def test_frame_round_trip(tmp_path, suffix):
    frame = np.random.default_rng(0).integers(0, 256, size=(24, 40, 3)).astype(np.uint8)
    frame = np.repeat(np.repeat(frame[::4, ::4], 4, 0), 4, 1)  # blocky: JPEG keeps it close
    write_frame(tmp_path / f"f{suffix}", frame)
    back = read_frame(tmp_path / f"f{suffix}")
    assert back.shape == frame.shape and back.dtype == np.uint8
    if suffix == ".jpg":
        assert np.abs(back.astype(int) - frame).mean() < 20
    else:
        np.testing.assert_array_equal(back, frame)


def test_grey_frame_is_returned_as_rgb(tmp_path):
    Image.fromarray(np.full((3, 5), 77, np.uint8)).save(tmp_path / "g.png")
    frame = read_frame(tmp_path / "g.png")
    assert frame.shape == (3, 5, 3) and (frame == 77).all()


def test_corrupt_and_truncated_jpeg_raise(tmp_path):
    frame = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3)).astype(np.uint8)
    write_frame(tmp_path / "ok.jpg", frame)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.jpg").write_bytes(b"not a jpeg at all")
    for name in ("truncated.jpg", "garbage.jpg"):
        with pytest.raises(VOSDataError, match=name):
            read_frame(tmp_path / name)
    with pytest.raises(VOSDataError, match="missing.jpg"):
        read_frame(tmp_path / "missing.jpg")


def test_size_for_height_follows_the_aspect_ratio():
    assert size_for_height((1080, 1920)) == (480, 853)
    assert size_for_height((720, 1280)) == (480, 853)
    assert size_for_height((480, 910)) == (480, 910)  # bike-packing keeps its width
    assert size_for_height((960, 2304)) == (480, 1152)


def test_resize_mask_keeps_ids_and_resize_flow_scales_vectors():
    ids = np.array([[0, 3], [7, 255]], np.uint8)
    big = resize_mask(ids, (4, 4))
    assert set(np.unique(big).tolist()) == {0, 3, 7, 255}
    flow = np.ones((10, 20, 2), np.float32)
    half = resize_flow(flow, (5, 10))
    np.testing.assert_allclose(half[..., 0], 0.5)
    np.testing.assert_allclose(half[..., 1], 0.5)
    kept = resize_flow(flow, (5, 10), rescale=False)
    np.testing.assert_allclose(kept, 1.0)


def test_flo_round_trip_is_exact_and_layout_is_middlebury(tmp_path):
    flow = np.random.default_rng(0).normal(scale=5, size=(7, 9, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    data = (tmp_path / "a.flo").read_bytes()
    assert data[:4] == b"PIEH"
    assert len(data) == 12 + 8 * 7 * 9
    assert np.frombuffer(data, "<i4", 2, 4).tolist() == [9, 7]  # width then height
    # first pixel's (u, v) come first, interleaved
    assert np.frombuffer(data, "<f4", 2, 12).tolist() == flow[0, 0].tolist()
    np.testing.assert_array_equal(read_flo(tmp_path / "a.flo"), flow)
    np.testing.assert_array_equal(read_flow(tmp_path / "a.flo"), flow)


def test_truncated_and_wrong_magic_flo_raise(tmp_path):
    flow = np.zeros((4, 5, 2), np.float32)
    write_flo(tmp_path / "a.flo", flow)
    data = (tmp_path / "a.flo").read_bytes()
    (tmp_path / "short.flo").write_bytes(data[:-4])
    (tmp_path / "header.flo").write_bytes(data[:6])
    (tmp_path / "magic.flo").write_bytes(b"XXXX" + data[4:])
    with pytest.raises(VOSDataError, match="short.flo.*truncated"):
        read_flo(tmp_path / "short.flo")
    with pytest.raises(VOSDataError, match="header.flo.*truncated"):
        read_flo(tmp_path / "header.flo")
    with pytest.raises(VOSDataError, match="magic.flo.*magic"):
        read_flo(tmp_path / "magic.flo")


def test_kitti_png_round_trip_within_quantisation(tmp_path):
    rng = np.random.default_rng(11)
    flow = rng.uniform(-100, 100, size=(6, 8, 2)).astype(np.float32)
    valid = rng.random((6, 8)) > 0.3
    write_kitti_flow(tmp_path / "k.png", flow, valid)
    back, back_valid = read_kitti_flow(tmp_path / "k.png")
    # half a quantisation step, plus float32 rounding of values up to 100
    assert np.abs(back - flow).max() <= 0.5 / 64 + 1e-4
    np.testing.assert_array_equal(back_valid, valid)
    # channel order on disk: OpenCV's B is the valid flag, R is u
    import cv2

    raw = cv2.imread(str(tmp_path / "k.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[..., 0], valid.astype(np.uint16))
    np.testing.assert_array_equal(raw[..., 2], np.round(flow[..., 0] * 64 + 32768).astype(np.uint16))


def test_npy_flow_round_trip_and_shape_check(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 6, 2)).astype(np.float32)
    write_flow_npy(tmp_path / "00001.npy", flow)
    np.testing.assert_array_equal(read_flow_npy(tmp_path / "00001.npy"), flow)
    np.save(tmp_path / "bad.npy", np.zeros((5, 6, 3)))
    with pytest.raises(VOSDataError, match="bad.npy"):
        read_flow_npy(tmp_path / "bad.npy")


def test_colour_wheel_known_directions():
    flow = np.zeros((1, 6, 2), np.float32)
    flow[0, 1] = (1, 0)  # right
    flow[0, 2] = (-1, 0)  # left
    flow[0, 3] = (0, 1)  # down
    flow[0, 4] = (0, -1)  # up
    flow[0, 5] = (0.5, 0)  # right, half the largest magnitude
    rgb = flow_to_color(flow).astype(int)
    assert rgb[0, 0].tolist() == [255, 255, 255]  # zero flow is white
    # hue from the angle of (-u, -v): +x lands on the wheel's last hue (red), -x half way
    # round (between cyan and blue), +y a quarter round (red -> yellow ramp).
    assert rgb[0, 1].tolist() == [255, 0, 0]
    assert rgb[0, 2].tolist() == [0, 209, 255]
    assert rgb[0, 3].tolist() == [255, 229, 0]
    assert rgb[0, 4].tolist() == [88, 0, 255]
    # same direction, half the magnitude: half-way between white and red
    assert rgb[0, 5].tolist() == [255, 127, 127]


def test_colour_wheel_uses_given_scale_and_darkens_beyond_it():
    flow = np.zeros((1, 2, 2), np.float32)
    flow[0, 0] = (2, 0)
    flow[0, 1] = (1, 0)
    rgb = flow_to_color(flow, max_magnitude=1.0)
    # magnitude 1: the pure hue; magnitude 2 > 1: the hue darkened to 75 %
    assert rgb[0, 1].tolist() == [255, 0, 0]
    assert rgb[0, 0].tolist() == [int(np.floor(255 * 0.75)), 0, 0]
    nan_flow = np.full((1, 1, 2), np.nan, np.float32)
    assert flow_to_color(nan_flow)[0, 0].tolist() == [0, 0, 0]  # unknown renders black


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as handle:
            handle.write("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_open(target, "w") as handle:
        handle.write("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_vos_data_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(VOSDataError("/data/x.png", "mask is 3x4 but its frame is 5x6")))
    assert isinstance(err, VOSDataError)
    assert str(err) == "/data/x.png: mask is 3x4 but its frame is 5x6"
    assert err.path == "/data/x.png"


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    with atomic_open(tmp_path / "f.txt", "w") as handle:
        handle.write("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "f.txt").st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask
