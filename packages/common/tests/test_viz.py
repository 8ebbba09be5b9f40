"""Tests of vos_common.viz: overlay colours, panels, contact sheets, GIF / MP4 writers and
the ``--save-overlay`` helper (including atomic writes)."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from vos_common.datasets import open_dataset
from vos_common.io import DAVIS_PALETTE, flow_to_color, read_frame
from vos_common.synth import SynthConfig, generate_video, write_benchmark
from vos_common.viz import (
    add_overlay_arguments,
    add_title,
    contact_sheet,
    flow_image,
    flow_images,
    label_image,
    mask_contours,
    overlay_mask,
    overlay_options,
    save_overlays,
    side_by_side,
    write_gif,
    write_mp4,
    write_video,
)

SMALL = SynthConfig(height=48, width=80, frames=5, seed=0)


@pytest.fixture(scope="module")
def video():
    return generate_video(SMALL, 0)


def gif_frame_count(path: Path) -> int:
    with Image.open(path) as image:
        return image.n_frames


def mp4_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_overlay_blends_palette_colours_inside_masks_and_keeps_the_rest(video):
    frame, labels = video.frames[0], video.masks[0]
    assert len(np.unique(labels)) >= 3  # background and at least two objects
    alpha = 0.6
    result = overlay_mask(frame, labels, alpha=alpha)
    assert result.shape == frame.shape and result.dtype == np.uint8
    background = labels == 0
    np.testing.assert_array_equal(result[background], frame[background])
    for object_id in np.unique(labels[labels > 0]):
        inside = labels == object_id
        expected = (1 - alpha) * frame[inside].astype(float) + alpha * DAVIS_PALETTE[
            object_id
        ].astype(float)
        assert np.abs(result[inside].astype(float) - expected).max() <= 0.5 + 1e-6
    # alpha 1 paints the exact palette colour, alpha 0 leaves the frame untouched.
    opaque = overlay_mask(frame, labels, alpha=1.0)
    np.testing.assert_array_equal(
        opaque[labels == 1], np.broadcast_to(DAVIS_PALETTE[1], opaque[labels == 1].shape)
    )
    np.testing.assert_array_equal(overlay_mask(frame, labels, alpha=0.0), frame)


def test_overlay_contours_are_opaque_object_colours_on_the_boundary():
    frame = np.full((20, 30, 3), 200, np.uint8)
    labels = np.zeros((20, 30), np.uint8)
    labels[5:15, 5:15] = 1
    labels[5:15, 15:25] = 2
    edge = mask_contours(labels)
    assert edge[5, 5] and edge[14, 10] and edge[10, 14] and edge[10, 15]  # includes the 1|2 border
    assert not edge[10, 10] and not edge[0, 0]
    result = overlay_mask(frame, labels, alpha=0.5, contours=True)
    np.testing.assert_array_equal(result[5, 5], DAVIS_PALETTE[1])
    np.testing.assert_array_equal(result[10, 20 + 4], DAVIS_PALETTE[2])
    np.testing.assert_array_equal(
        result[10, 10], np.rint(0.5 * 200 + 0.5 * DAVIS_PALETTE[1].astype(float))
    )
    white = overlay_mask(frame, labels, contours=True, contour_color=(255, 255, 255))
    np.testing.assert_array_equal(white[edge], np.full((edge.sum(), 3), 255))
    # An object cut by the frame border gets no line along the border.
    labels[:, :3] = 3
    assert not mask_contours(labels)[10, 0] and mask_contours(labels)[10, 2]


def test_overlay_rejects_mismatched_shapes(video):
    with pytest.raises(ValueError, match="label map"):
        overlay_mask(video.frames[0], video.masks[0][:10])
    with pytest.raises(ValueError, match="alpha"):
        overlay_mask(video.frames[0], video.masks[0], alpha=1.5)


def test_label_image_uses_the_palette(video):
    colours = label_image(video.masks[0])
    np.testing.assert_array_equal(colours, DAVIS_PALETTE[video.masks[0]])


def test_side_by_side_panels(video):
    frame, truth = video.frames[1], video.masks[1]
    prediction = np.roll(truth, 3, axis=1)
    panel = side_by_side(frame, truth, prediction, gap=4)
    bar = panel.shape[0] - frame.shape[0]
    assert bar > 0 and panel.shape[1] == 2 * frame.shape[1] + 4
    np.testing.assert_array_equal(panel[bar:, :80], overlay_mask(frame, truth, contours=True))
    np.testing.assert_array_equal(panel[bar:, 84:], overlay_mask(frame, prediction, contours=True))
    assert (panel[:bar] < 128).any()  # the title text is drawn
    unannotated = side_by_side(frame, None, prediction)
    np.testing.assert_array_equal(unannotated[bar:, :80], frame)


def test_flow_images_use_the_io_colour_wheel_with_one_scale(video):
    flows = video.flow("forward", 1)[:3]
    np.testing.assert_array_equal(flow_image(flows[0]), flow_to_color(flows[0]))
    np.testing.assert_array_equal(flow_image(flows[0].transpose(2, 0, 1)), flow_to_color(flows[0]))
    shared = flow_images(flows)
    scale = max(np.nanmax(np.linalg.norm(f, axis=-1)) for f in flows)
    for flow, image in zip(flows, shared, strict=True):
        np.testing.assert_array_equal(image, flow_to_color(flow, scale))


def test_contact_sheet_size_and_placement():
    images = [np.full((30, 40, 3), value, np.uint8) for value in (10, 60, 110, 160, 210)]
    images.append(np.full((20, 50), 250, np.uint8))  # grey, and a different size
    sheet = contact_sheet(images, columns=4, gap=3)
    cell_h, cell_w = 30, 50
    assert sheet.shape == (2 * cell_h + 3, 4 * cell_w + 3 * 3, 3)
    np.testing.assert_array_equal(sheet[0:30, 0:40], images[0])
    np.testing.assert_array_equal(sheet[33:63, 0:40], images[4])
    np.testing.assert_array_equal(sheet[33:53, 53:103], np.repeat(images[5][..., None], 3, axis=2))
    assert (sheet[0:30, 40:50] == 255).all()  # padding of a narrower image
    labelled = contact_sheet(images[:3], labels=["a", "b", "c"], gap=2)
    bar = add_title(images[0], "a").shape[0] - 30  # the title bar of a 50 px wide cell
    assert labelled.shape == (2 * (30 + bar) + 2, 2 * 40 + 2, 3)
    with pytest.raises(ValueError, match="labels"):
        contact_sheet(images, labels=["only one"])


def test_gif_has_every_frame_and_is_written_atomically(tmp_path, video):
    path = tmp_path / "out" / "clip.gif"
    assert write_gif(path, list(video.frames), fps=5) == len(video)
    assert gif_frame_count(path) == len(video)
    with Image.open(path) as image:
        assert image.size == (80, 48) and image.info["duration"] == 200
    assert no_temporary_files(tmp_path)


def test_mp4_is_readable_with_the_right_frame_count(tmp_path, video):
    path = tmp_path / "clip.mp4"
    assert write_mp4(path, iter(video.frames), fps=10) == len(video)
    frames = mp4_frames(path)
    assert len(frames) == len(video) and frames[0].shape == (48, 80, 3)
    # Colours survive the lossy codec roughly (BGR in OpenCV).
    assert np.abs(frames[2][..., ::-1].astype(int) - video.frames[2].astype(int)).mean() < 12
    odd = tmp_path / "odd.mp4"
    write_video(odd, [f[:47, :79] for f in video.frames], fps=10)
    assert mp4_frames(odd)[0].shape == (48, 80, 3)  # padded to even, nothing cut
    assert no_temporary_files(tmp_path)


def test_failed_video_writes_leave_nothing_behind(tmp_path, video):
    target = tmp_path / "bad.gif"
    with pytest.raises(ValueError, match="one size"):
        write_gif(target, [video.frames[0], video.frames[1][:20]])
    with pytest.raises(ValueError, match="one size"):
        write_mp4(tmp_path / "bad.mp4", [video.frames[0], video.frames[1][:20]])
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / "bad.avi", video.frames)
    assert list(tmp_path.iterdir()) == []


def test_save_overlays_from_arrays(tmp_path, video):
    predictions = [np.roll(mask, 2, axis=0) for mask in video.masks]
    saved = save_overlays(tmp_path / "seq", video.frames, predictions, preview="gif", fps=10)
    assert [p.name for p in saved.frames] == [f"{i:05d}.png" for i in range(len(video))]
    np.testing.assert_array_equal(
        read_frame(saved.frames[3]), overlay_mask(video.frames[3], predictions[3], contours=True)
    )
    assert saved.preview == tmp_path / "seq" / "preview.gif" and gif_frame_count(
        saved.preview
    ) == len(video)
    assert no_temporary_files(tmp_path)


def test_save_overlays_from_a_sequence_with_ground_truth_and_mp4(tmp_path):
    root = tmp_path / "davis"
    write_benchmark([generate_video(SMALL, 1)], format="davis2017", out=root)
    sequence = open_dataset("davis2017", root, split="val")[0]
    truth = [sequence.read_mask(i) if sequence.has_mask(i) else None for i in range(len(sequence))]
    half = [cv2.resize(sequence.read_mask(0), (40, 24), interpolation=cv2.INTER_NEAREST)] * len(
        sequence
    )
    saved = save_overlays(
        tmp_path / "out", sequence, half, ground_truth=truth, preview="mp4", preview_width=None
    )
    assert [p.stem for p in saved.frames] == sequence.frame_names
    first = read_frame(saved.frames[0])
    frame = sequence.read_frame(0)
    assert first.shape[1] == 2 * frame.shape[1] + 4  # ground truth | prediction
    assert len(mp4_frames(saved.preview)) == len(sequence)
    assert no_temporary_files(tmp_path / "out")
    with pytest.raises(ValueError, match="label maps"):
        save_overlays(tmp_path / "x", sequence, half[:2])


def test_cli_options():
    parser = argparse.ArgumentParser()
    add_overlay_arguments(parser)
    args = parser.parse_args(
        ["--save-overlay", "out", "--overlay-preview", "mp4", "--overlay-no-contours"]
    )
    assert args.save_overlay == Path("out")
    assert overlay_options(args) == {"preview": "mp4", "fps": 10.0, "alpha": 0.5, "contours": False}
    assert parser.parse_args([]).save_overlay is None
