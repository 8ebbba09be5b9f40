"""OAST's samples over its layout: frame lists, strides, masks of any format, augmentation."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch
from oast.data.datasets import OASTFrames
from oast.data.transforms import augment, random_crop_box, to_network
from oast.inference.predict import postprocess, preprocess
from PIL import Image
from vos_common.errors import VOSDataError
from vos_common.training.seeding import fork_rng


def test_sample_counts_and_tensors(synth_root):
    labeled = OASTFrames(
        synth_root, ["YouTubeVOS-2018", "DAVIS-2016"], "labeled", (64, 64), youtube_stride=2
    )
    # 3 train videos x 6 frames: YouTube-VOS every 2nd frame (3 each), DAVIS all 6
    assert len(labeled) == 3 * 3 + 3 * 6
    assert [f.index for f in labeled.frames[:3]] == [0, 2, 4]
    unlabeled = OASTFrames(synth_root, ["Youtube-objects"], "unlabeled", (64, 64))
    assert len(unlabeled) == 6
    test = OASTFrames(synth_root, ["DAVIS-2016", "FBMS"], "test", (64, 64), colour_copy=True)
    fbms = [f for f in test.frames if f.dataset == "FBMS"]
    assert len(fbms) == 2  # sparse labels: only annotated frames (the release's rule)
    s = labeled[0]
    assert s["image"].shape == s["flow"].shape == (3, 64, 64) and s["mask"].shape == (1, 64, 64)
    assert float(s["flow"].min()) >= 0 and float(s["flow"].max()) <= 1
    assert set(torch.unique(s["mask"]).tolist()) <= {0.0, 1.0}
    t = test[0]
    assert {"image", "flow", "mask", "image_c"} <= set(t)
    assert (t["height"], t["width"]) == (72, 96)
    assert "mask" not in unlabeled[0]


def test_palette_and_rgb_masks_binarise_to_one(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root / "DAVIS-2016", root / "DAVIS-2016")
    labels = root / "DAVIS-2016" / "train" / "labels"
    video = sorted(p for p in labels.iterdir())[0]
    first = sorted(video.iterdir())[0]
    binary = np.asarray(Image.open(first)) > 0
    palette = Image.fromarray(binary.astype(np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
    palette.save(first)
    ds = OASTFrames(root, ["DAVIS-2016"], "test", (64, 64), split="train")
    mask = ds[0]["mask"]
    assert float(mask.max()) == 1.0  # the release would give 1/255 here
    rgb = np.stack([binary * 200] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(first)
    assert (
        float(OASTFrames(root, ["DAVIS-2016"], "test", (64, 64), split="train")[0]["mask"].max())
        == 1.0
    )


def test_missing_flow_picture(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root / "DAVIS-2016", root / "DAVIS-2016")
    flows = root / "DAVIS-2016" / "val" / "flows"
    video = sorted(flows.iterdir())[0]
    last = sorted(video.iterdir())[-1]
    last.unlink()
    # the release's rule skips the frame silently
    assert len(OASTFrames(root, ["DAVIS-2016"], "test", (64, 64), frame_rule="oast")) == 5
    # every frame needs a prediction: one line naming the missing file
    with pytest.raises(VOSDataError) as err:
        OASTFrames(root, ["DAVIS-2016"], "test", (64, 64), frame_rule="all")
    assert last.stem in str(err.value) and "flow picture missing" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(VOSDataError, match="dataset folder not found"):
        OASTFrames(root, ["FBMS"], "test", (64, 64))


def test_augmentation_is_deterministic_and_geometric(synth_root):
    ds = OASTFrames(synth_root, ["DAVIS-2016"], "labeled", (64, 64))
    with fork_rng(7):
        a = ds[3]
    with fork_rng(7):
        b = ds[3]
    with fork_rng(8):
        c = ds[3]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["image"], c["image"])
    image = Image.new("RGB", (96, 72), (255, 255, 255))
    mask = Image.new("L", (96, 72), 255)
    for seed in range(6):
        random.seed(seed)
        np.random.seed(seed)
        box = random_crop_box(96, 72)
        assert 36 <= box[2] - box[0] <= 95 and 12 <= box[3] - box[1] <= 71
        img, flow, m = augment(image, image.copy(), mask)
        assert img.size == flow.size == m.size
        assert set(np.unique(np.asarray(m)).tolist()) <= {0, 255}


def test_pre_and_post_processing():
    frame = np.random.default_rng(0).integers(0, 256, (72, 96, 3), dtype=np.uint8)
    picture = np.full((72, 96, 3), 255, np.uint8)
    image, flow = preprocess(frame, picture, (64, 128))
    assert image.shape == flow.shape == (3, 64, 128)
    assert torch.equal(flow, torch.ones(3, 64, 128))
    ref = to_network(Image.fromarray(frame), Image.fromarray(picture), None, (64, 128))
    assert torch.equal(image, ref["image"])
    logits = torch.full((1, 64, 128), -3.0)
    logits[:, 16:48, 32:96] = 3.0
    mask, prob = postprocess(logits, (72, 96))
    assert mask.shape == (72, 96) and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert mask[36, 48] == 255 and mask[0, 0] == 0
    assert prob.min() >= 0 and prob.max() <= 1
    with pytest.raises(ValueError, match="differ in size"):
        preprocess(frame, picture[:10], (64, 64))


def test_flo_files_render_to_flow_pictures(tmp_path, capsys):
    from oast.data.flow_pictures import main as render_main
    from vos_common.io import flow_to_color, write_flo

    flow = np.zeros((8, 12, 2), np.float32)
    flow[2:6, 3:9] = (2.0, -1.0)
    (tmp_path / "flo" / "clip").mkdir(parents=True)
    write_flo(tmp_path / "flo" / "clip" / "00000.flo", flow)
    render_main([str(tmp_path / "flo"), str(tmp_path / "flows")])
    picture = np.asarray(Image.open(tmp_path / "flows" / "clip" / "00000.jpg"))
    expected = flow_to_color(flow)
    assert picture.shape == expected.shape
    diff = np.abs(picture.astype(int) - expected.astype(int))
    assert diff[4, 6].max() <= 12 and diff.mean() < 12  # JPEG of sharp edges
    assert (picture[0, 0] > 240).all()  # zero flow renders white
    with pytest.raises(SystemExit):
        render_main([str(tmp_path / "nothing"), str(tmp_path / "out")])
    assert "not found" in capsys.readouterr().err
