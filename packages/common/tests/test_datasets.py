"""Dataset readers read back tiny fixtures written in each dataset's exact layout."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from vos_common.datasets import (
    DATASET_KINDS,
    DAVIS2016,
    DAVIS2017,
    FBMS59,
    OASTDataset,
    RCFResized,
    SegTrackV2,
    SequenceDataset,
    VideoFileSequence,
    YouTubeVOS,
    open_dataset,
    read_fbms_definition,
    read_frame_folder,
    read_video,
)
from vos_common.errors import VOSDataError
from vos_common.io import write_binary_mask, write_flo, write_frame, write_label_map

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib
from fixtures_formats import (  # noqa: E402
    backward_value,
    forward_value,
    frame,
    label_map,
    save_image,
    write_davis_sequence,
    write_fbms_def,
    write_frames,
    write_lines,
    write_oast_video,
    write_rcf_flows,
    write_ytvos_split,
)


def assert_error(excinfo: pytest.ExceptionInfo, *names: str) -> None:
    """The error is one line and names every given file."""
    message = str(excinfo.value)
    assert "\n" not in message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"


# ----------------------------------------------------------------------------------- DAVIS 2017
H = 48
WIDE_MASKS = [
    label_map(H, 91, {1: (2, 20, 3, 30), 2: (25, 40, 40, 80)}),
    label_map(H, 91, {1: (3, 21, 4, 31), 2: (25, 41, 41, 81)}),
    # id 3 appears late with an id above the first frame's maximum: ignored
    label_map(H, 91, {1: (4, 22, 5, 32), 2: (26, 42, 42, 82), 3: (44, 47, 0, 10)}),
    label_map(H, 91, {2: (27, 43, 43, 83)}),
]
# id 2 is absent from the first frame but below its maximum: still an object
ODD_MASKS = [label_map(H, 115, {1: (0, 10, 0, 10), 3: (20, 30, 100, 115)})] * 3


@pytest.fixture
def davis2017(tmp_path: Path) -> Path:
    root = tmp_path / "DAVIS"
    write_davis_sequence(root, "wide", WIDE_MASKS)
    write_davis_sequence(root, "odd", ODD_MASKS, seed=10)
    write_lines(root / "ImageSets/2017/val.txt", ["wide", "odd"])
    write_lines(root / "ImageSets/2017/train.txt", ["odd"])
    write_rcf_flows(root / "Flows_NewCT/480p/wide", root / "BackwardFlows_NewCT/480p/wide",
                    [f"{i:05d}" for i in range(4)], H, 91)
    return root


def test_davis2017_semi_supervised_reads_frames_masks_and_official_object_set(davis2017: Path):
    data = DAVIS2017(davis2017, split="val")
    assert data.names == ["wide", "odd"] and len(data) == 2
    wide, odd = data["wide"], data["odd"]
    assert data[1] is odd and [s.name for s in data] == ["wide", "odd"]
    assert wide.frame_names == ["00000", "00001", "00002", "00003"] and len(odd) == 3
    assert wide.original_size == (48, 91) and odd.original_size == (48, 115)  # never 854
    assert wide.read_frame(1).shape == (48, 91, 3)
    for index, expected in enumerate(WIDE_MASKS):
        np.testing.assert_array_equal(wide.read_mask(index), expected)
    assert wide.objects() == [1, 2] and wide.first_frames() == {1: 0, 2: 0}
    assert odd.objects() == [1, 2, 3]
    assert wide.void_label is None and wide.meta["task"] == "semi-supervised"
    assert DAVIS2017(davis2017, split="train").names == ["odd"]
    assert DAVIS2017(davis2017, split="val", sequences=["odd"]).names == ["odd"]


def test_davis2017_rcf_flows_map_later_frame_names_to_convention(davis2017: Path):
    wide = DAVIS2017(davis2017)["wide"]
    assert sorted(wide.flow_paths[("forward", 1)]) == [0, 1, 2]
    assert sorted(wide.flow_paths[("backward", 1)]) == [1, 2, 3]
    for t in range(3):  # file 0000{t+1}.npy of Flows_NewCT is t -> t+1
        assert wide.flow_paths[("forward", 1)][t].name == f"{t + 1:05d}.npy"
        np.testing.assert_array_equal(wide.read_flow(t, 1, "forward")[5, 7], forward_value(t))
    for t in range(1, 4):  # file of frame t in BackwardFlows_NewCT is t -> t-1
        np.testing.assert_array_equal(wide.read_flow(t, 1, "backward")[0, 0], backward_value(t))
    assert not wide.has_flow(3, 1, "forward") and not wide.has_flow(0, 1, "backward")
    assert DAVIS2017(davis2017)["odd"].flow_paths == {}


def test_davis2017_middlebury_flow_root_named_after_source_frame(davis2017: Path, tmp_path: Path):
    flows = tmp_path / "flows"
    for t in range(4):  # forward t -> t+2 exists only for t = 0, 1; t = 2, 3 are dropped
        name = f"{t:05d}.flo"
        write_flo(flows / "forward_gap2/wide" / name, np.full((H, 91, 2), t, np.float32))
        write_flo(flows / "backward_gap2/wide" / name, np.full((H, 91, 2), -t, np.float32))
    wide = DAVIS2017(davis2017, flow_root=flows)["wide"]
    assert wide.flow_gaps("forward") == [1, 2] and wide.flow_gaps("backward") == [1, 2]
    assert sorted(wide.flow_paths[("forward", 2)]) == [0, 1]
    assert sorted(wide.flow_paths[("backward", 2)]) == [2, 3]
    assert wide.read_flow(1, 2, "forward")[0, 0, 0] == 1
    assert wide.read_flow(3, 2, "backward")[0, 0, 0] == -3


def test_davis2017_test_dev_semi_supervised_has_only_the_first_mask(tmp_path: Path):
    root = tmp_path / "DAVIS"
    write_davis_sequence(root, "carousel", WIDE_MASKS, annotated=[0])
    write_lines(root / "ImageSets/2017/test-dev.txt", ["carousel"])
    sequence = DAVIS2017(root, split="test-dev")["carousel"]
    assert sequence.annotated_frames == [0] and len(sequence) == 4
    assert sequence.objects() == [1, 2]


def test_davis2017_unsupervised_void_and_2019_lists(tmp_path: Path):
    root = tmp_path / "DAVIS"
    masks = [label_map(H, 91, {1: (2, 20, 3, 30), 255: (30, 34, 0, 91)}) for _ in range(2)]
    write_davis_sequence(root, "bear", masks, annotation_dir="Annotations_unsupervised")
    write_lines(root / "ImageSets/2017/val.txt", ["bear"])
    bear = DAVIS2017(root, split="val", task="unsupervised")["bear"]
    assert bear.void_label == 255 and bear.objects() == [1]
    np.testing.assert_array_equal(bear.read_mask(1), masks[1])
    assert (bear.read_mask(0) == 255).sum() == 4 * 91
    # test-dev unsupervised reads ImageSets/2019; its GT is withheld (no annotation folder)
    write_davis_sequence(root, "dogs", WIDE_MASKS, annotated=[])
    write_davis_sequence(root, "carousel", WIDE_MASKS, annotated=[0])
    write_lines(root / "ImageSets/2017/test-dev.txt", ["carousel"])
    write_lines(root / "ImageSets/2019/test-dev.txt", ["dogs"])
    data = DAVIS2017(root, split="test-dev", task="unsupervised")
    assert data.names == ["dogs"]
    assert data["dogs"].annotated_frames == [] and data["dogs"].objects() == []
    assert DAVIS2017(root, split="test-dev").names == ["carousel"]


def test_davis2017_full_resolution_folder(tmp_path: Path):
    root = tmp_path / "DAVIS"
    masks = [label_map(72, 130, {1: (0, 30, 0, 40)}) for _ in range(2)]
    write_davis_sequence(root, "shooting", masks, resolution="Full-Resolution")
    write_lines(root / "ImageSets/2017/val.txt", ["shooting"])
    sequence = DAVIS2017(root, resolution="Full-Resolution")["shooting"]
    assert sequence.original_size == (72, 130)
    np.testing.assert_array_equal(sequence.read_mask(1), masks[1])


# ----------------------------------------------------------------------------------- DAVIS 2016
def write_davis2016_original(root: Path) -> None:
    lines = []
    for name, count in (("blackswan", 3), ("cows", 2)):
        names = write_frames(root / "JPEGImages/480p" / name, count, 30, 50)
        for i, stem in enumerate(names):
            mask = np.zeros((30, 50), dtype=np.uint8)
            mask[5:15 + i, 10:20] = 1
            write_binary_mask(root / "Annotations/480p" / name / f"{stem}.png", mask)
            lines.append(f"/JPEGImages/480p/{name}/{stem}.jpg /Annotations/480p/{name}/{stem}.png")
    # the reported bear/00077.png case: grey + alpha; channel 0 decides
    grey = np.zeros((30, 50), dtype=np.uint8)
    grey[0:4, 0:4] = 255
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], axis=-1), mode="LA").save(
        root / "Annotations/480p/cows/00001.png")
    write_lines(root / "ImageSets/480p/val.txt", lines)


def test_davis2016_original_release(tmp_path: Path):
    root = tmp_path / "DAVIS2016"
    write_davis2016_original(root)
    forward, backward = (root / folder / "480p/blackswan"
                         for folder in ("Flows_NewCT", "BackwardFlows_NewCT"))
    write_rcf_flows(forward, backward, ["00000", "00001", "00002"], 30, 50)
    data = DAVIS2016(root, split="val")
    assert data.names == ["blackswan", "cows"] and data.meta["gt_source"] == "davis2016-original"
    swan, cows = data["blackswan"], data["cows"]
    assert swan.meta["gt_source"] == "davis2016-original"
    assert swan.frame_names == ["00000", "00001", "00002"] and swan.annotated_frames == [0, 1, 2]
    assert swan.objects() == [1] and swan.first_frames() == {1: 0}
    expected = np.zeros((30, 50), dtype=np.uint8)
    expected[5:17, 10:20] = 1
    np.testing.assert_array_equal(swan.read_mask(2), expected)
    two_channel = cows.read_mask(1)
    assert two_channel.sum() == 16 and two_channel[:4, :4].all()
    np.testing.assert_array_equal(swan.read_flow(1, 1, "forward")[0, 0], forward_value(1))


def test_davis2016_derived_from_2017_binarises(davis2017: Path):
    write_lines(davis2017 / "ImageSets/2016/val.txt", ["wide"])
    data = DAVIS2016(davis2017, split="val")
    wide = data["wide"]
    assert data.meta["gt_source"] == wide.meta["gt_source"] == "davis2017-binarised"
    assert data.names == ["wide"] and wide.objects() == [1]
    for index, indexed in enumerate(WIDE_MASKS):
        np.testing.assert_array_equal(wide.read_mask(index), (indexed > 0).astype(np.uint8))
    assert set(np.unique(wide.read_mask(2)).tolist()) == {0, 1}


def test_davis2016_missing_frame_listed_in_imagesets(tmp_path: Path):
    root = tmp_path / "DAVIS2016"
    write_davis2016_original(root)
    list_path = root / "ImageSets/480p/val.txt"
    extra = "/JPEGImages/480p/cows/00009.jpg /Annotations/480p/cows/00009.png\n"
    list_path.write_text(list_path.read_text() + extra)
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2016(root)
    assert_error(excinfo, "00009.jpg", "val.txt")


# ---------------------------------------------------------------------------------- YouTube-VOS
YT_VIDEOS = {
    "a1": {"frames": ["00000", "00005", "00010", "00015"], "annotated": ["00000", "00010"],
           "objects": {1: {"category": "dog", "frames": ["00000", "00005", "00010", "00015"],
                           "box": (2, 12, 2, 20)},
                       3: {"category": "cat", "frames": ["00010", "00015"],
                           "box": (20, 30, 30, 50)}}},
    "b2": {"frames": ["00000", "00005", "00010"], "annotated": ["00005"],
           "objects": {2: {"category": "person", "frames": ["00005", "00010"],
                           "box": (5, 25, 5, 25)}}},
}


@pytest.fixture
def ytvos(tmp_path: Path) -> Path:
    root = tmp_path / "youtube-vos"
    write_ytvos_split(root, "valid", YT_VIDEOS)
    return root


def test_ytvos_valid_sparse_first_appearance_masks(ytvos: Path):
    data = YouTubeVOS(ytvos, split="valid")
    assert data.names == ["a1", "b2"]
    a1, b2 = data["a1"], data["b2"]
    assert a1.frame_names == ["00000", "00005", "00010", "00015"]
    assert a1.objects() == [1, 3]  # ids need not be contiguous
    assert a1.first_frames() == {1: 0, 3: 2}
    assert a1.annotated_frames == [0, 2]
    assert a1.required_frames == {0: [1], 1: [1], 2: [1, 3], 3: [1, 3]}
    assert set(np.unique(a1.read_mask(2)).tolist()) == {0, 3}  # only the objects starting there
    np.testing.assert_array_equal(a1.read_mask(0), label_map(36, 64, {1: (2, 12, 2, 20)}))
    assert b2.first_frames() == {2: 1} and b2.annotated_frames == [1]  # no object in frame 0
    assert b2.required_frames == {1: [2], 2: [2]}
    assert a1.meta["categories"] == {1: "dog", 3: "cat"}


def test_ytvos_all_frames_map_annotations_by_name(ytvos: Path):
    write_frames(ytvos / "valid_all_frames/JPEGImages/a1", 16, 36, 64)
    write_frames(ytvos / "valid_all_frames/JPEGImages/b2", 11, 36, 64)
    a1 = YouTubeVOS(ytvos, split="valid", all_frames=True)["a1"]
    assert len(a1) == 16 and a1.frame_names[10] == "00010"
    assert a1.annotated_frames == [0, 10] and a1.first_frames() == {1: 0, 3: 10}
    assert a1.required_frames == {0: [1], 5: [1], 10: [1, 3], 15: [1, 3]}
    assert set(np.unique(a1.read_mask(10)).tolist()) == {0, 3}


def test_ytvos_train_every_frame_annotated_and_gt_root(tmp_path: Path, ytvos: Path):
    root = tmp_path / "yt-train"
    videos = {"a1": dict(YT_VIDEOS["a1"], annotated=YT_VIDEOS["a1"]["frames"])}
    write_ytvos_split(root, "train", videos)
    a1 = YouTubeVOS(root, split="train")["a1"]
    assert a1.annotated_frames == [0, 1, 2, 3] and a1.required_frames is None
    assert set(np.unique(a1.read_mask(3)).tolist()) == {0, 1, 3}
    gt = tmp_path / "gt"
    for name in YT_VIDEOS["b2"]["objects"][2]["frames"]:
        write_label_map(gt / "Annotations/b2" / f"{name}.png", label_map(36, 64, {2: (0, 5, 0, 5)}))
    b2 = YouTubeVOS(ytvos, split="valid", gt_root=gt, sequences=["b2"])["b2"]
    assert b2.annotated_frames == [1, 2]
    assert b2.meta["given_annotation_paths"][1].parent.parent.name == "Annotations"
    assert b2.read_mask(2)[:5, :5].min() == 2
    for name in YT_VIDEOS["a1"]["frames"][1:]:  # 00000 left out
        write_label_map(gt / "Annotations/a1" / f"{name}.png", label_map(36, 64, {1: (0, 5, 0, 5)}))
    with pytest.raises(VOSDataError) as excinfo:
        YouTubeVOS(ytvos, split="valid", gt_root=gt, sequences=["a1"])
    assert_error(excinfo, "a1/00000.png")


def test_ytvos_meta_naming_missing_frame(ytvos: Path):
    meta_path = ytvos / "valid/meta.json"
    meta = json.loads(meta_path.read_text())
    meta["videos"]["b2"]["objects"]["2"]["frames"].append("00095")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(VOSDataError) as excinfo:
        YouTubeVOS(ytvos, split="valid")
    assert_error(excinfo, "meta.json", "b2", "00095")


# --------------------------------------------------------------------------------------- FBMS-59
RED, GREEN, BLUE = 255 * 65536, 255 * 256, 255


@pytest.fixture
def fbms(tmp_path: Path) -> Path:
    root = tmp_path / "FBMS"
    cars = root / "Testset/cars1"
    write_frames(cars, 0, 24, 32, names=[f"cars1_{n}" for n in range(1, 13)])
    for n in (1, 10):
        grey = np.zeros((24, 32), dtype=np.uint8)
        grey[2:12, 3:3 + n] = 255
        save_image(cars / "GroundTruth" / f"cars1_{n:02d}.pgm", grey)
    write_fbms_def(cars / "GroundTruth/cars1Def.dat", [0, 255],
                   [(1, "cars1_01.pgm", "cars1_1.jpg"), (10, "cars1_10.pgm", "cars1_10.jpg")],
                   total=12)
    marple = root / "Testset/marple2"
    write_frames(marple, 0, 24, 32, names=[f"marple2_{n:03d}" for n in range(1, 4)])
    rgb = np.zeros((24, 32, 3), dtype=np.uint8)
    rgb[0:5, 0:5] = (255, 0, 0)
    rgb[10:15, 10:15] = (0, 255, 0)
    rgb[20:24, 20:24] = (0, 0, 255)  # not in the Def.dat: background (the cats04 case)
    save_image(marple / "GroundTruth/marple2_003.ppm", rgb)
    write_fbms_def(marple / "GroundTruth/marple2Def.dat", [0, RED, GREEN],
                   [(3, "marple2_003.ppm", "marple2_003.jpg")], total=3, descriptive=True)
    write_frames(root / "Trainingset/bear01", 0, 24, 32, names=["bear01_0001"])
    save_image(root / "Trainingset/bear01/GroundTruth/bear01_0001.pgm",
               np.zeros((24, 32), np.uint8))
    write_fbms_def(root / "Trainingset/bear01/GroundTruth/bear01Def.dat", [0, 128],
                   [(1, "bear01_0001.pgm", "bear01_0001.jpg")], total=1)
    return root


def test_fbms_definition_file_parsing(fbms: Path):
    plain = read_fbms_definition(fbms / "Testset/cars1/GroundTruth/cars1Def.dat")
    assert plain.region_codes == [0, 255] and plain.penalty == [[0, 1], [1, 0]]
    assert plain.total_frames == 12
    assert plain.labelled == [(1, "cars1_01.pgm", "cars1_1.jpg"),
                              (10, "cars1_10.pgm", "cars1_10.jpg")]
    described = read_fbms_definition(fbms / "Testset/marple2/GroundTruth/marple2Def.dat")
    assert described.region_codes == [0, RED, GREEN]
    assert described.labelled == [(3, "marple2_003.ppm", "marple2_003.jpg")]
    assert described.header.startswith("Ground truth definition file")


def test_fbms_regions_sparse_frames_and_unlisted_colours(fbms: Path):
    data = FBMS59(fbms, split="test")
    assert data.names == ["cars1", "marple2"]
    cars, marple = data["cars1"], data["marple2"]
    assert cars.frame_names == [f"cars1_{n}" for n in range(1, 13)]  # numeric, not lexicographic
    assert cars.annotated_frames == [0, 9] and cars.objects() == [1]
    expected = np.zeros((24, 32), dtype=np.uint8)
    expected[2:12, 3:13] = 1
    np.testing.assert_array_equal(cars.read_mask(9), expected)
    ids = marple.read_mask(2)
    assert marple.objects() == [1, 2] and marple.meta["background_code"] == 0
    assert (ids[0:5, 0:5] == 1).all() and (ids[10:15, 10:15] == 2).all()
    assert ids[20:24, 20:24].max() == 0 and (ids > 0).sum() == 50
    assert marple.first_frames() == {1: 2, 2: 2}
    binary = FBMS59(fbms, split="test", binary=True)["marple2"]
    assert binary.objects() == [1] and set(np.unique(binary.read_mask(2)).tolist()) == {0, 1}
    assert FBMS59(fbms, split="train").names == ["bear01"]
    assert FBMS59(fbms, split="trainval").names == ["bear01", "cars1", "marple2"]


def test_fbms_bad_definition_files(fbms: Path):
    dat = fbms / "Testset/cars1/GroundTruth/cars1Def.dat"
    lines = dat.read_text().splitlines()
    dat.write_text("\n".join(lines[:7]) + "\n")  # cut before the labelled-frame entries
    with pytest.raises(VOSDataError) as excinfo:
        FBMS59(fbms)
    assert_error(excinfo, "cars1Def.dat")
    write_fbms_def(dat, [0, 255], [(1, "cars1_01.pgm", "cars1_99.jpg")], total=12)
    with pytest.raises(VOSDataError) as excinfo:
        FBMS59(fbms)
    assert_error(excinfo, "cars1Def.dat", "cars1_99.jpg")


# --------------------------------------------------------------------------------- RCF resized
@pytest.fixture
def fbms_resized(tmp_path: Path) -> Path:
    root = tmp_path / "data_fbms59_resized"
    names = write_frames(root / "JPEGImages/cars1", 6, 24, 40)
    write_frames(root / "JPEGImages/dogs01", 2, 24, 40)
    for i in (0, 3):
        mask = np.zeros((24, 40, 3), dtype=np.uint8)
        mask[4:10, 4:10] = 255
        mask[10, 4] = 100  # soft edge below the 0.5 rule
        mask[11, 4] = 200
        save_image(root / "Annotations/cars1" / f"{names[i]}.png", mask)
    write_rcf_flows(root / "Flows_NewCT/cars1", root / "BackwardFlows_NewCT/cars1", names, 24, 40)
    write_lines(root / "val.txt", ["JPEGImages/dogs01/ 00000.jpg 00001.jpg",
                                   "JPEGImages/cars1/ " + " ".join(f"{n}.jpg" for n in names)])
    write_lines(root / "val_ann.txt", ["JPEGImages/cars1/ 00000.jpg 00003.jpg"])
    return root


def test_rcf_resized_list_files_masks_and_flows(fbms_resized: Path):
    data = RCFResized(fbms_resized, list_file="val.txt", dataset="fbms59-resized")
    assert data.names == ["cars1", "dogs01"]  # RCF sorts the lines
    cars = data["cars1"]
    assert len(cars) == 6 and cars.annotated_frames == [0, 3] and cars.objects() == [1]
    expected = np.zeros((24, 40), dtype=np.uint8)
    expected[4:10, 4:10] = 1
    expected[11, 4] = 1
    np.testing.assert_array_equal(cars.read_mask(3), expected)
    assert sorted(cars.flow_paths[("forward", 1)]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(cars.read_flow(4, 1, "forward")[0, 0], forward_value(4))
    np.testing.assert_array_equal(cars.read_flow(5, 1, "backward")[0, 0], backward_value(5))
    annotated_only = RCFResized(fbms_resized, list_file=fbms_resized / "val_ann.txt")["cars1"]
    assert annotated_only.frame_names == ["00000", "00003"]
    assert annotated_only.annotated_frames == [0, 1]
    assert annotated_only.flow_paths == {}  # 00000 and 00003 are not neighbours
    assert RCFResized(fbms_resized).names == ["cars1", "dogs01"]
    stv2 = open_dataset("segtrackv2-resized", fbms_resized)
    assert stv2.meta["dataset"] == "segtrackv2-resized" and len(stv2["cars1"]) == 6


def test_rcf_list_naming_missing_frame(fbms_resized: Path):
    write_lines(fbms_resized / "bad.txt", ["JPEGImages/cars1/ 00000.jpg 00042.jpg"])
    with pytest.raises(VOSDataError) as excinfo:
        RCFResized(fbms_resized, list_file="bad.txt")
    assert_error(excinfo, "00042.jpg", "bad.txt")


# ------------------------------------------------------------------------------------ SegTrackv2
def stv2_mask(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """3-channel 0/255 mask with one soft pixel of 100 (background) next to the box."""
    mask = np.zeros((height, width, 3), dtype=np.uint8)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 255
    mask[y1, x0] = 100
    return mask


@pytest.fixture
def segtrack(tmp_path: Path) -> Path:
    root = tmp_path / "SegTrackv2"
    bird = write_frames(root / "JPEGImages/birdfall", 0, 20, 30, ext=".png",
                        names=[f"birdfall_{n:05d}" for n in (1, 2, 10)])
    for i, stem in enumerate(bird):
        save_image(root / "GroundTruth/birdfall" / f"{stem}.bmp",
                   stv2_mask(20, 30, (2, 6 + i, 2, 8)))
    cheetah = write_frames(root / "JPEGImages/cheetah", 3, 20, 30, ext=".bmp")
    for stem in cheetah:
        save_image(root / "GroundTruth/cheetah/1" / f"{stem}.bmp", stv2_mask(20, 30, (0, 5, 0, 5)))
        save_image(root / "GroundTruth/cheetah/2" / f"{stem}.png",  # other extension
                   stv2_mask(20, 30, (3, 10, 3, 10)))
    write_lines(root / "ImageSets/all.txt", ["*birdfall", "*cheetah"])
    write_lines(root / "ImageSets/birdfall.txt", ["../JPEGImages/birdfall/"] + bird)
    write_lines(root / "ImageSets/cheetah.txt", ["../JPEGImages/cheetah/"] + cheetah)
    return root


def test_segtrack_single_and_multi_object_sequences(segtrack: Path):
    data = SegTrackV2(segtrack)
    assert data.names == ["birdfall", "cheetah"]
    bird, cheetah = data["birdfall"], data["cheetah"]
    assert bird.frame_names == ["birdfall_00001", "birdfall_00002", "birdfall_00010"]
    assert bird.objects() == [1] and bird.annotated_frames == [0, 1, 2]
    assert bird.meta["path_prefix"] == "../JPEGImages/birdfall/"
    expected = np.zeros((20, 30), dtype=np.uint8)
    expected[2:8, 2:8] = 1  # the soft 100 pixel at row 8 stays background
    np.testing.assert_array_equal(bird.read_mask(2), expected)
    assert cheetah.objects() == [1, 2] and cheetah.annotated_frames == [0, 1, 2]
    ids = cheetah.read_mask(1)
    assert (ids[0:3, 0:3] == 1).all() and (ids[3:10, 3:10] == 2).all() and ids[5, 0] == 0
    assert cheetah.first_frames() == {1: 0, 2: 0}
    merged = SegTrackV2(segtrack, merge_objects=True)["cheetah"]
    assert merged.objects() == [1]
    np.testing.assert_array_equal(merged.read_mask(1), (ids > 0).astype(np.uint8))


def test_segtrack_missing_listed_frame_and_object_mask(segtrack: Path):
    (segtrack / "ImageSets/birdfall.txt").write_text("prefix/\nbirdfall_00001\nbirdfall_00077\n")
    with pytest.raises(VOSDataError) as excinfo:
        SegTrackV2(segtrack)
    assert_error(excinfo, "birdfall_00077", "birdfall.txt")
    (segtrack / "GroundTruth/cheetah/2/00001.png").unlink()
    with pytest.raises(VOSDataError) as excinfo:
        SegTrackV2(segtrack, sequences=["cheetah"])
    assert_error(excinfo, "00001")


# ------------------------------------------------------------------------------------------ OAST
def test_oast_frame_list_rule_and_flow_pictures(tmp_path: Path):
    root = tmp_path / "DAVIS-2016"
    write_oast_video(root / "val", "blackswan", frames=4, flows=3, labels=[0, 1, 2, 3])
    write_oast_video(root / "val", "cars", frames=5, flows=4, labels=[0, 3])
    data = OASTDataset(root, split="val")
    swan, cars = data["blackswan"], data["cars"]
    # the flow list: there is no flow picture for the last frame
    assert swan.frame_names == ["00000", "00001", "00002"]
    assert cars.frame_names == ["00000", "00003"]  # fewer labels than flows: the label list
    assert cars.annotated_frames == [0, 1] and cars.objects() == [1]
    expected = np.zeros((24, 32), dtype=np.uint8)
    expected[2:13, 3:12] = 1
    np.testing.assert_array_equal(cars.read_mask(1), expected)
    assert cars.read_flow_picture(1).shape == (24, 32, 3)
    assert cars.flow_picture_paths[1].name == "00003.jpg"
    everything = OASTDataset(root, split="val", frame_rule="all")["cars"]
    assert len(everything) == 5 and everything.annotated_frames == [0, 3]
    assert sorted(everything.flow_picture_paths) == [0, 1, 2, 3]
    assert not everything.has_flow_picture(4)


def test_oast_unlabelled_youtube_objects_and_folder_mismatch(tmp_path: Path):
    root = tmp_path / "Youtube-objects"
    write_oast_video(root / "val", "aeroplane0001", frames=3, flows=2, labels=None)
    video = OASTDataset(root)["aeroplane0001"]
    assert len(video) == 2 and video.annotated_frames == [] and video.objects() == []
    write_frames(root / "val/images/boat0002", 2, 24, 32)
    with pytest.raises(VOSDataError) as excinfo:
        OASTDataset(root)
    assert_error(excinfo, "boat0002")


# --------------------------------------------------------------------------------- folder, video
def test_frame_folder_natural_order_and_first_masks(tmp_path: Path):
    folder = tmp_path / "clip"
    write_frames(folder, 0, 20, 24, names=["1", "2", "10"], ext=".png")
    write_frame(folder / "11.bmp", frame(20, 24, 9))
    indexed = label_map(20, 24, {1: (0, 5, 0, 5), 2: (10, 15, 10, 15)})
    write_label_map(folder / "mask.png", indexed)
    sequence = read_frame_folder(folder, first_mask=folder / "mask.png")
    assert sequence.frame_names == ["1", "2", "10", "11"] and sequence.name == "clip"
    np.testing.assert_array_equal(sequence.read_mask(0), indexed)
    assert sequence.objects() == [1, 2]
    write_binary_mask(tmp_path / "binary.png", indexed > 0)
    binary = read_frame_folder(folder, first_mask=tmp_path / "binary.png")
    np.testing.assert_array_equal(binary.read_mask(0), (indexed > 0).astype(np.uint8))
    assert binary.objects() == [1]


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (width, height))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def test_video_file_lazy_and_cached(tmp_path: Path):
    frames = [frame(32, 48, seed) for seed in range(5)]
    write_video(tmp_path / "clip.avi", frames)
    write_binary_mask(tmp_path / "first.png", np.ones((32, 48), bool))
    video = read_video(tmp_path / "clip.avi", first_mask=tmp_path / "first.png")
    assert isinstance(video, VideoFileSequence)
    assert len(video) == 5 and video.original_size == (32, 48)
    assert video.frame_names == ["00000", "00001", "00002", "00003", "00004"]
    for index in (3, 4, 1):  # forwards, then backwards (reopens)
        np.testing.assert_array_equal(video.read_frame(index), frames[index])
    assert video.read_mask(0).all() and video.objects() == [1]
    cached = read_video(tmp_path / "clip.avi", cache_dir=tmp_path / "cache")
    assert len(cached) == 5 and cached.frame_paths[2].name == "00002.png"
    np.testing.assert_array_equal(cached.read_frame(2), frames[2])
    stamp = (tmp_path / "cache/00000.png").stat().st_mtime_ns
    assert len(read_video(tmp_path / "clip.avi", cache_dir=tmp_path / "cache")) == 5
    assert (tmp_path / "cache/00000.png").stat().st_mtime_ns == stamp  # reused, not decoded again


def test_corrupt_video(tmp_path: Path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 50)
    with pytest.raises(VOSDataError) as excinfo:
        read_video(tmp_path / "broken.mp4")
    assert_error(excinfo, "broken.mp4")


# ---------------------------------------------------------------------------------- open_dataset
def test_open_dataset_maps_every_kind(davis2017: Path, ytvos: Path, fbms: Path, segtrack: Path,
                                      tmp_path: Path):
    write_lines(davis2017 / "ImageSets/2016/val.txt", ["odd"])
    write_oast_video(tmp_path / "oast/val", "v", frames=2, flows=1, labels=None)
    write_frames(tmp_path / "frames", 2, 10, 12)
    write_video(tmp_path / "clip.avi", [frame(16, 16, 0)] * 2)
    opened = {
        "davis2017": open_dataset("davis2017", davis2017, split="val", flow_root=None),
        "davis2016": open_dataset("davis2016", davis2017),
        "ytvos": open_dataset("ytvos", ytvos, split="valid"),
        "fbms59": open_dataset("fbms59", fbms, binary=True),
        "segtrackv2": open_dataset("segtrackv2", segtrack, merge_objects=True),
        "oast": open_dataset("oast", tmp_path / "oast"),
        "frames": open_dataset("frames", tmp_path / "frames"),
        "video": open_dataset("video", tmp_path / "clip.avi"),
    }
    assert set(opened) | {"fbms59-resized", "segtrackv2-resized"} == set(DATASET_KINDS)
    assert all(isinstance(data, SequenceDataset) for data in opened.values())
    for data in opened.values():  # data-loader workers receive pickled sequences
        copy = pickle.loads(pickle.dumps(data[0]))
        np.testing.assert_array_equal(copy.read_frame(0), data[0].read_frame(0))
        if data[0].annotation_paths:
            np.testing.assert_array_equal(copy.read_mask(copy.annotated_frames[0]),
                                          data[0].read_mask(data[0].annotated_frames[0]))
    assert opened["davis2016"].names == ["odd"] and opened["frames"].names == ["frames"]
    assert len(opened["video"]["clip"]) == 2
    with pytest.raises(VOSDataError) as excinfo:
        open_dataset("davis2018", davis2017)
    assert_error(excinfo, "davis2018")


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kind", sorted(DATASET_KINDS))
def test_missing_root_folder(tmp_path: Path, kind: str):
    with pytest.raises(VOSDataError) as excinfo:
        open_dataset(kind, tmp_path / "nowhere")
    assert_error(excinfo, "nowhere")


def test_empty_or_missing_imagesets_list(davis2017: Path):
    (davis2017 / "ImageSets/2017/val.txt").write_text("\n\n")
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017, split="val")
    assert_error(excinfo, "val.txt", "empty")
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017, split="test-dev")
    assert_error(excinfo, "test-dev.txt", "does not exist")


def test_sequence_folder_without_frames(davis2017: Path):
    (davis2017 / "JPEGImages/480p/blank").mkdir()
    write_lines(davis2017 / "ImageSets/2017/val.txt", ["wide", "blank"])
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017)
    assert_error(excinfo, "blank", "no frames")


def test_mask_size_differs_from_frame(davis2017: Path):
    narrow = label_map(H, 90, {1: (0, 4, 0, 4)})
    write_label_map(davis2017 / "Annotations/480p/wide/00001.png", narrow)
    wide = DAVIS2017(davis2017)["wide"]
    with pytest.raises(VOSDataError) as excinfo:
        wide.read_mask(1)
    assert_error(excinfo, "00001.png", "90x48")


def test_rgb_png_where_indexed_is_required(davis2017: Path):
    rgb = np.zeros((H, 91, 3), np.uint8)
    Image.fromarray(rgb).save(davis2017 / "Annotations/480p/wide/00002.png")
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017)["wide"].read_mask(2)
    assert_error(excinfo, "00002.png", "indexed")


def test_corrupt_jpeg_frame(davis2017: Path):
    path = davis2017 / "JPEGImages/480p/wide/00001.jpg"
    path.write_bytes(path.read_bytes()[:200])
    wide = DAVIS2017(davis2017)["wide"]  # decoding is lazy: opening still works
    with pytest.raises(VOSDataError) as excinfo:
        wide.read_frame(1)
    assert_error(excinfo, "00001.jpg")


def test_annotation_without_frame_and_missing_first_mask(davis2017: Path):
    write_label_map(davis2017 / "Annotations/480p/odd/00007.png", ODD_MASKS[0])
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017)
    assert_error(excinfo, "00007.png")
    (davis2017 / "Annotations/480p/odd/00007.png").unlink()
    (davis2017 / "Annotations/480p/odd/00000.png").unlink()
    with pytest.raises(VOSDataError) as excinfo:
        DAVIS2017(davis2017)
    assert_error(excinfo, "00000.png", "first-frame")
