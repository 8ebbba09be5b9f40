"""The synthetic benchmark written in every layout and read back through ``vos_common.datasets``
gives exactly the masks and flows it was written from (frames are JPEG: close, not exact)."""

from __future__ import annotations

import numpy as np
import pytest

from vos_common.datasets import open_dataset
from vos_common.synth import SynthConfig, generate_videos, write_benchmark
from vos_common.synth.writers import VOID_LABEL, assign_splits, fbms_annotated_frames, ytvos_valid_id

CONFIG = SynthConfig(height=48, width=80, frames=7, num_objects=(2, 3), late_objects=1, seed=3,
                     fbms_every=3)
COUNT = 3


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Three videos written once in every format; ``(root, {name: video}, {split: [names]})``."""
    root = tmp_path_factory.mktemp("synth_all")
    videos = generate_videos(CONFIG, count=COUNT)
    write_benchmark(videos, format="all", out=root)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    for video, video_splits in zip(videos, assign_splits(COUNT)):
        for split in video_splits:
            splits[split].append(video.name)
    return root, {v.name: v for v in videos}, splits


def assert_frames_close(sequence, video, indices=None):
    indices = range(len(video.frames)) if indices is None else indices
    for position, t in enumerate(indices):
        frame = sequence.read_frame(position)
        assert frame.shape == video.frames[t].shape
        assert np.abs(frame.astype(int) - video.frames[t]).mean() < 6  # JPEG quality 95


def assert_flows_exact(sequence, video, gaps=(1,)):
    for gap in gaps:
        for direction in ("forward", "backward"):
            exact = video.flow(direction, gap)
            defined = [t for t in range(len(video.frames)) if not np.isnan(exact[t]).any()]
            assert defined, "the synthetic video must have flow to compare"
            for t in defined:
                np.testing.assert_array_equal(sequence.read_flow(t, gap, direction), exact[t])
            assert not sequence.has_flow(len(video.frames) - 1 if direction == "forward" else 0,
                                         gap, direction)


def test_davis2017_semi_supervised_masks_and_flows(written):
    root, videos, splits = written
    for split in ("train", "val"):
        dataset = open_dataset("davis2017", root / "davis2017", split=split,
                               flow_root=root / "davis2017" / "OpticalFlow")
        assert dataset.names == splits[split]
        for sequence in dataset:
            video = videos[sequence.name]
            assert sequence.annotated_frames == list(range(CONFIG.frames))
            for t in range(CONFIG.frames):
                np.testing.assert_array_equal(sequence.read_mask(t), video.masks[t])
            first_frame_ids = [i for i in np.unique(video.masks[0]).tolist() if i]
            assert sequence.objects() == list(range(1, max(first_frame_ids) + 1))
            assert_frames_close(sequence, video)
            assert_flows_exact(sequence, video, gaps=(1, 2))


def test_davis2017_rcf_npy_flows_are_the_exact_flows(written):
    root, videos, _ = written
    dataset = open_dataset("davis2017", root / "davis2017", split="train")
    for sequence in dataset:
        assert_flows_exact(sequence, videos[sequence.name], gaps=(1,))


def test_davis2017_unsupervised_keeps_ids_and_marks_void(written):
    root, videos, _ = written
    dataset = open_dataset("davis2017", root / "davis2017", split="val", task="unsupervised")
    for sequence in dataset:
        video = videos[sequence.name]
        assert sequence.void_label == VOID_LABEL
        for t in range(CONFIG.frames):
            mask = sequence.read_mask(t)
            void = mask == VOID_LABEL
            assert void.any()
            np.testing.assert_array_equal(mask[~void], video.masks[t][~void])


@pytest.mark.parametrize("gt_source", ["davis2016-original", "davis2017-binarised"])
def test_davis2016_both_sources_give_the_union_of_objects(written, gt_source):
    root, videos, splits = written
    folder = "davis2016" if gt_source == "davis2016-original" else "davis2017"
    dataset = open_dataset("davis2016", root / folder, split="val", gt_source=gt_source)
    assert dataset.names == splits["val"]
    assert dataset.meta["gt_source"] == gt_source
    for sequence in dataset:
        video = videos[sequence.name]
        for t in range(CONFIG.frames):
            np.testing.assert_array_equal(sequence.read_mask(t), (video.masks[t] > 0).astype(np.uint8))


def test_ytvos_train_valid_and_all_frames(written):
    root, videos, splits = written
    yt = root / "ytvos2019"
    listed = list(range(0, CONFIG.frames, 5))
    train = open_dataset("ytvos", yt, split="train")
    for sequence in train:
        video = videos[sequence.name]
        assert sequence.frame_names == [f"{t:05d}" for t in listed]
        for position, t in enumerate(listed):
            np.testing.assert_array_equal(sequence.read_mask(position), video.masks[t])
        assert_frames_close(sequence, video, listed)
    valid = open_dataset("ytvos", yt, split="valid", gt_root=yt / "valid_gt")
    assert valid.names == splits["val"]
    for sequence in valid:
        video = videos[sequence.name]
        remap = np.zeros(256, np.uint8)
        for obj in video.object_ids:
            remap[obj] = ytvos_valid_id(obj)
        for position, t in enumerate(listed):
            np.testing.assert_array_equal(sequence.read_mask(position), remap[video.masks[t]])
    all_frames = open_dataset("ytvos", yt, split="valid", all_frames=True)
    for sequence in all_frames:
        assert len(sequence) == CONFIG.frames
        assert_frames_close(sequence, videos[sequence.name])


def test_fbms59_original_and_resized(written):
    root, videos, splits = written
    annotated = fbms_annotated_frames(CONFIG.frames, CONFIG.fbms_every)
    test_set = open_dataset("fbms59", root / "fbms59", split="test", binary=True)
    assert test_set.names == splits["val"]
    for sequence in test_set:
        video = videos[sequence.name]
        assert sequence.annotated_frames == annotated
        for t in annotated:
            np.testing.assert_array_equal(sequence.read_mask(t), (video.masks[t] > 0).astype(np.uint8))
    regions = open_dataset("fbms59", root / "fbms59", split="test")
    for sequence in regions:
        video = videos[sequence.name]
        for t in annotated:
            mask = sequence.read_mask(t)
            # region ids are the .dat order; the partition of the frame must be the objects'
            for obj in np.unique(video.masks[t]).tolist():
                assert len(np.unique(mask[video.masks[t] == obj])) == 1
    resized = open_dataset("fbms59-resized", root / "fbms59" / "fbms59_resized")
    for sequence in resized:
        video = videos[sequence.name]
        for t in sequence.annotated_frames:
            np.testing.assert_array_equal(sequence.read_mask(t), (video.masks[t] > 0).astype(np.uint8))
        assert_flows_exact(sequence, video, gaps=(1,))


def test_segtrackv2_objects_and_merged(written):
    root, videos, _ = written
    instances = open_dataset("segtrackv2", root / "segtrackv2")
    merged = open_dataset("segtrackv2", root / "segtrackv2", merge_objects=True)
    assert instances.names == sorted(videos)
    for sequence, union in zip(instances, merged):
        video = videos[sequence.name]
        assert sequence.annotated_frames == list(range(CONFIG.frames))
        for t in range(CONFIG.frames):
            np.testing.assert_array_equal(union.read_mask(t), (video.masks[t] > 0).astype(np.uint8))
            mask = sequence.read_mask(t)
            np.testing.assert_array_equal(mask > 0, video.masks[t] > 0)
        assert_frames_close(sequence, video)


def test_oast_layout_every_frame_has_a_flow_picture_and_binary_label(written):
    root, videos, splits = written
    dataset = open_dataset("oast", root / "oast" / "DAVIS-2016", split="val")
    assert dataset.names == splits["val"]
    for sequence in dataset:
        video = videos[sequence.name]
        assert len(sequence) == CONFIG.frames  # no frame dropped for lack of a flow picture
        for t in range(CONFIG.frames):
            assert sequence.has_flow_picture(t)
            np.testing.assert_array_equal(sequence.read_mask(t), (video.masks[t] > 0).astype(np.uint8))


def test_frame_folder_and_video_file(written):
    root, videos, _ = written
    for name, video in videos.items():
        folder = open_dataset("frames", root / "frames" / name / "frames",
                              first_mask=root / "frames" / name / "00000.png")[0]
        assert len(folder) == CONFIG.frames
        np.testing.assert_array_equal(folder.read_mask(0), video.masks[0])
        assert_frames_close(folder, video)
        clip = open_dataset("video", root / "video" / name / f"{name}.mp4",
                            first_mask=root / "video" / name / "00000.png")[0]
        assert len(clip) == CONFIG.frames
        np.testing.assert_array_equal(clip.read_mask(0), video.masks[0])
        assert np.abs(clip.read_frame(3).astype(int) - video.frames[3]).mean() < 20  # mp4v is lossy
