"""DAVIS 2016 (GT source recorded), RCF's protocols, YouTube-VOS pack / local scores, OAST."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import square, write_davis_sequence
from PIL import Image
from vos_common.io import write_binary_mask, write_label_map
from vos_eval import (
    SubmissionIncomplete,
    check_submission,
    evaluate_davis,
    evaluate_rcf_davis2016,
    evaluate_rcf_iou,
    evaluate_youtube,
    oast_batch_iou,
    oast_iou,
    pack_submission,
)
from vos_eval.__main__ import main

SHAPE = (40, 60)


def original_2016_root(root: Path, lengths: dict[str, int]) -> None:
    """DAVIS 2016 release layout: per-frame ImageSets lines and 0/255 grey masks (a 6x6 square)."""
    lines = []
    for name, length in lengths.items():
        for t in range(length):
            write_binary_mask(
                root / "Annotations" / "480p" / name / f"{t:05d}.png", square(SHAPE, 10, 10, 6)
            )
            lines.append(
                f"/JPEGImages/480p/{name}/{t:05d}.jpg /Annotations/480p/{name}/{t:05d}.png"
            )
    (root / "ImageSets" / "480p").mkdir(parents=True)
    (root / "ImageSets" / "480p" / "val.txt").write_text("\n".join(lines) + "\n")


def test_davis2016_original_release_drops_first_and_last(tmp_path):
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    original_2016_root(root, {"bear": 4})
    for t, offset in enumerate([0, 0, 3, 0]):  # 0/255 predictions; frame 2 is 3 columns off
        write_binary_mask(results / "bear" / f"{t:05d}.png", square(SHAPE, 10, 10 + offset, 6))
    grey_alpha = np.stack([square(SHAPE, 10, 10, 6, 255), np.full(SHAPE, 255, np.uint8)], axis=2)
    Image.fromarray(grey_alpha, "LA").save(root / "Annotations" / "480p" / "bear" / "00001.png")
    result = evaluate_davis(root, results, year=2016)  # the grey + alpha GT file reads as channel 0
    assert result.settings["gt_source"] == "original"
    assert "original DAVIS 2016 release" in result.description
    assert result.objects[0].frames == ["00001", "00002"]
    assert result.objects[0].j == pytest.approx([1.0, 18 / 54])  # 18 shared of 54 pixels


def test_davis2016_derived_from_2017_merges_objects(tmp_path):
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    gt = [square(SHAPE, 5, 5, 4, 1, square(SHAPE, 20, 20, 4, 2)) for _ in range(3)]
    pred = [(labels > 0).astype(np.uint8) for labels in gt]  # 0/1 binary prediction of the union
    write_davis_sequence(root, "cows", gt, pred, results)
    (root / "ImageSets" / "2016").mkdir(parents=True)
    (root / "ImageSets" / "2016" / "val.txt").write_text("cows\n")
    result = evaluate_davis(root, results, year=2016)
    assert result.settings["gt_source"] == "2017"
    assert "derived from the DAVIS 2017 annotations" in result.description
    assert result["J-Mean"] == 1.0


def test_rcf_davis2016_scores_every_frame_and_weights_by_frames(tmp_path):
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    original_2016_root(root, {"aaa": 3, "bbb": 5})
    results.mkdir()
    for t in range(3):  # grey value 90 > 0.35 * 256: foreground
        Image.fromarray(square(SHAPE, 10, 10, 6, 90)).save(
            results / f"pred_seg_aaa_{t:05d}_0000000.png"
        )
    for t in range(5):  # grey value 89: background
        Image.fromarray(square(SHAPE, 10, 10, 6, 89)).save(
            results / f"pred_seg_bbb_{t:05d}_0000000.png"
        )
    result = evaluate_rcf_davis2016(root, results)
    assert result["J-Mean"] == 0.5  # sequence-weighted
    assert result["J-FrameMean"] == pytest.approx(3 / 8)  # frame-weighted, all 8 frames
    assert list(result.global_scores)[:3] == ["J&F-Mean", "J-Mean", "J-FrameMean"]
    assert "ALL frames scored" in result.description


def test_rcf_segtrack_iou_skips_empty_unions_and_pools_frames(tmp_path):
    data, results = tmp_path / "data_SegTrackv2", tmp_path / "results"
    data.mkdir()
    (data / "trainval.txt").write_text(
        "JPEGImages/bird/ 00000.png 00001.png 00002.png\nJPEGImages/frog/ 00000.bmp\n"
    )
    gt_square = square(SHAPE, 5, 5, 4, 255)
    gt_square[5, 5] = 127  # an edge value below 0.5 * 255: background, so 15 GT pixels
    gts = {
        ("bird", "00000.png"): gt_square,
        ("bird", "00001.png"): np.zeros(SHAPE, np.uint8),
        ("bird", "00002.png"): gt_square,
        ("frog", "00000.bmp"): gt_square,
    }
    for (name, frame), mask in gts.items():  # 3-channel masks, as SegTrackv2 ships them
        (data / "Annotations" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.repeat(mask[..., None], 3, axis=2)).save(
            data / "Annotations" / name / frame
        )
    right_half = np.zeros(SHAPE, np.uint8)
    right_half[5:9, 7:9] = 255
    preds = {
        ("bird", 0): square(SHAPE, 5, 5, 4, 255),
        ("bird", 1): np.zeros(SHAPE, np.uint8),
        ("bird", 2): right_half,
        ("frog", 0): np.zeros(SHAPE, np.uint8),
    }
    results.mkdir()
    for (name, index), mask in preds.items():
        Image.fromarray(mask).save(results / f"pred_seg_{name}_{index:05d}_0000000.png")
    result = evaluate_rcf_iou("segtrackv2", data, results)
    bird, frog = result.objects
    assert bird.j[0] == pytest.approx(15 / 16)
    assert np.isnan(bird.j[1])  # empty union: NaN, skipped
    assert bird.j[2] == pytest.approx(8 / 15)
    assert list(frog.j) == [0.0]
    assert result["mIoU"] == pytest.approx(
        (15 / 16 + 8 / 15 + 0) / 3
    )  # frame-weighted over 3 frames
    assert result.per_sequence_rows[0] == ("bird", (pytest.approx((15 / 16 + 8 / 15) / 2),))


def test_rcf_fbms_skips_frames_without_ground_truth(tmp_path):
    data, results = tmp_path / "data_fbms59", tmp_path / "results"
    (data / "Annotations" / "cars1").mkdir(parents=True)
    (data / "val_all.txt").write_text("JPEGImages/cars1/ 00000.jpg 00001.jpg 00002.jpg\n")
    for frame in ("00000", "00002"):
        Image.fromarray(square(SHAPE, 5, 5, 4, 255)).save(
            data / "Annotations" / "cars1" / f"{frame}.png"
        )
    results.mkdir()
    for index in (0, 2):  # prediction named by the index in the full frame list
        Image.fromarray(square(SHAPE, 5, 5, 4, 255)).save(
            results / f"pred_seg_cars1_{index:05d}_0000000.png"
        )
    result = evaluate_rcf_iou("fbms59", data, results)
    assert result.objects[0].frames == ["00000", "00002"]
    assert result["mIoU"] == 1.0


def youtube_layout(root: Path) -> Path:
    meta = {
        "videos": {
            "vidA": {
                "objects": {
                    "1": {"category": "cat", "frames": ["00000", "00005", "00010"]},
                    "3": {"category": "dog", "frames": ["00005", "00010"]},
                }
            },
            "vidB": {"objects": {"2": {"category": "zebra", "frames": ["00000", "00005"]}}},
        }
    }
    split = root / "train"
    split.mkdir(parents=True)
    (split / "meta.json").write_text(json.dumps(meta))
    for video, frames in (("vidA", ["00000", "00005", "00010"]), ("vidB", ["00000", "00005"])):
        for frame in frames:
            labels = square(SHAPE, 5, 5, 6, 1 if video == "vidA" else 2)
            if video == "vidA" and frame != "00000":
                square(SHAPE, 20, 30, 6, 3, labels)
            write_label_map(split / "Annotations" / video / f"{frame}.png", labels)
    return split


def test_youtube_pack_refuses_incomplete_and_lists_missing(tmp_path, capsys):
    split = youtube_layout(tmp_path / "ytvos")
    predictions = tmp_path / "pred"
    for path in (split / "Annotations").glob("*/*.png"):
        if path.parent.name == "vidB" and path.stem == "00005":
            continue
        write_label_map(predictions / path.parent.name / path.name, np.asarray(Image.open(path)))
    with pytest.raises(SubmissionIncomplete) as refused:
        pack_submission(split / "meta.json", predictions, tmp_path / "sub.zip")
    assert refused.value.missing == {"vidB": ["00005"]}
    assert (
        main(
            [
                "youtube-pack",
                "--meta",
                str(split / "meta.json"),
                "--predictions",
                str(predictions),
                "--output",
                str(tmp_path / "sub.zip"),
            ]
        )
        == 2
    )
    assert "vidB: 00005" in capsys.readouterr().err
    assert not (tmp_path / "sub.zip").exists()
    write_label_map(predictions / "vidB" / "00005.png", square(SHAPE, 5, 5, 6, 2))
    report = pack_submission(
        split / "meta.json", predictions, tmp_path / "sub.zip", annotations=split / "Annotations"
    )
    assert report.frames == 5
    with zipfile.ZipFile(tmp_path / "sub.zip") as archive:
        assert sorted(archive.namelist())[0] == "Annotations/vidA/00000.png"
    assert check_submission(split / "meta.json", tmp_path / "sub.zip") == 5


def test_youtube_pack_refuses_remapped_ids(tmp_path):
    split = youtube_layout(tmp_path / "ytvos")
    predictions = tmp_path / "pred"
    for path in (split / "Annotations").glob("*/*.png"):
        labels = np.asarray(Image.open(path)).copy()
        labels[labels == 3] = 2  # contiguous ids instead of the original 3
        write_label_map(predictions / path.parent.name / path.name, labels)
    with pytest.raises(Exception, match="ORIGINAL object ids"):
        pack_submission(split / "meta.json", predictions, tmp_path / "sub.zip")


def test_youtube_local_scores_with_seen_unseen_split(tmp_path):
    split = youtube_layout(tmp_path / "ytvos")
    predictions = tmp_path / "pred"
    for path in (split / "Annotations").glob("*/*.png"):
        labels = np.asarray(Image.open(path)).copy()
        if path.parent.name == "vidA":
            labels[labels == 3] = 0  # the dog (unseen) is missed
        write_label_map(predictions / path.parent.name / path.name, labels)
    result = evaluate_youtube(
        tmp_path / "ytvos", predictions, split="train", seen_categories={"cat", "zebra"}
    )
    objects = {obj.name: obj for obj in result.objects}
    assert objects["vidA_1"].frames == ["00005", "00010"]  # the given first frame is not scored
    assert objects["vidA_3"].frames == ["00010"]
    assert result["J-seen"] == 1.0 and result["J-unseen"] == 0.0
    assert result["Overall"] == pytest.approx(0.5)


def test_oast_iou():
    gt = square(SHAPE, 5, 5, 4, 255)
    assert oast_iou(gt, gt) == 1.0
    assert oast_iou(np.zeros(SHAPE), np.zeros(SHAPE)) == 1.0  # both empty
    probabilities = np.where(square(SHAPE, 5, 5, 2, 1) > 0, 0.6, 0.4)
    assert oast_iou(probabilities, gt) == pytest.approx(4 / 16)
    assert oast_batch_iou(np.stack([gt, gt]), np.stack([gt, np.zeros(SHAPE)])) == pytest.approx(0.5)
