"""FC pre-training: crops and boxes, the PixPro loss, the EMA target, the network's keys, a
tiny run on the synthetic benchmark with exact resume, and ytvos.csv generation."""

from __future__ import annotations

import json
import math
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sfc import train
from sfc.data.pairs import Crop, FramePairs, crop_view, random_resized_crop
from sfc.data.ytvos import csv_rows, read_csv, write_csv, ytvos_videos
from sfc.model.encoder import encoder_from_state, make_encoder
from sfc.model.fine_grained import FineGrained, positive_mask, regression_loss, target_momentum
from vos_common.synth import SynthConfig, generate_videos, write_benchmark

TINY = train.CONFIG_DIR / "fc_pretrain_tiny.yaml"


def test_crop_box_from_crop_parameters():
    box = Crop(i=10, j=20, h=50, w=40).box(height=101, width=201)
    assert box == pytest.approx((20 / 200, 10 / 100, 59 / 200, 59 / 100), abs=1e-6)


def test_random_resized_crop_stays_inside_and_respects_ratio():
    rng = random.Random(0)
    for _ in range(200):
        crop = random_resized_crop(90, 160, (0.0, 1.0), rng=rng)
        assert 0 <= crop.i and crop.i + crop.h <= 90 and 0 <= crop.j and crop.j + crop.w <= 160
        assert crop.h > 0 and crop.w > 0
    # impossible scale -> the central fallback crop with the ratio clamped to 4/3
    fallback = random_resized_crop(90, 300, (5.0, 6.0), rng=rng)
    assert (fallback.h, fallback.w) == (90, 120) and fallback.j == 90


def test_crop_view_uses_cifar_statistics():
    image = Image.fromarray(np.full((20, 30, 3), 128, np.uint8))
    view = crop_view(image, Crop(0, 0, 20, 30), 8)
    expected = (128 / 255 - torch.tensor([0.4914, 0.4822, 0.4465])) / torch.tensor(
        [0.2023, 0.1994, 0.2010]
    )
    assert torch.allclose(view[:, 3, 3], expected, atol=1e-6)


def naive_loss(p, z, box_p, box_z, radius):
    """The loss written out cell by cell (spec 2.3)."""
    B, C, H, W = p.shape
    total = 0.0
    for b in range(B):

        def centers(box):
            x0, y0, x1, y1 = box.tolist()
            bw, bh = (x1 - x0) / W, (y1 - y0) / H
            return [
                (x0 + (x + 0.5) * bw, y0 + (y + 0.5) * bh) for y in range(H) for x in range(W)
            ], math.hypot(bw, bh)

        ca, da = centers(box_p[b])
        cb, db = centers(box_z[b])
        num = den = 0.0
        for i, (xa, ya) in enumerate(ca):
            for j, (xb, yb) in enumerate(cb):
                if math.hypot(xa - xb, ya - yb) / max(da, db) < radius:
                    num += float(p[b, :, i // W, i % W] @ z[b, :, j // W, j % W])
                    den += 1
        total += num / (den + 1e-6)
    return -2 * total / B


def test_regression_loss_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    p = F.normalize(torch.randn(3, 8, 4, 5, generator=g), dim=1)
    z = F.normalize(torch.randn(3, 8, 4, 5, generator=g), dim=1)
    box_p = torch.tensor([[0.0, 0.0, 0.6, 0.7], [0.1, 0.2, 0.9, 0.8], [0.0, 0.0, 0.2, 0.2]])
    box_z = torch.tensor([[0.2, 0.1, 0.9, 0.9], [0.1, 0.2, 0.9, 0.8], [0.7, 0.7, 1.0, 1.0]])
    ours = regression_loss(p, z, box_p, box_z, 0.5)
    assert abs(ours.item() - naive_loss(p, z, box_p, box_z, 0.5)) < 1e-5
    # the third pair does not overlap: it adds 0 and still counts in the mean
    assert positive_mask(box_p, box_z, 4, 5)[2].sum() == 0


def test_positive_radius_is_strict():
    # one cell per view: bin 3 x 4 (diagonal 5), centres 2.5 apart -> ratio exactly 0.5
    box = torch.tensor([[0.0, 0.0, 3.0, 4.0]])
    shifted = torch.tensor([[2.5, 0.0, 5.5, 4.0]])
    assert positive_mask(box, shifted, 1, 1, radius=0.5)[0, 0, 0] == 0
    assert positive_mask(box, shifted, 1, 1, radius=0.5001)[0, 0, 0] == 1


def test_target_momentum_schedule():
    assert target_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert target_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert target_momentum(100, 100, 0.99) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def small_net():
    torch.manual_seed(0)
    return FineGrained(projection_hidden_dim=64, projection_dim=16, prediction_hidden_dim=64)


def test_ema_moves_parameters_not_buffers(small_net):
    net = small_net
    with torch.no_grad():
        for p in net.online_encoder.parameters():
            p.add_(0.01)
    before_p = {k: v.clone() for k, v in net.target_encoder.named_parameters()}
    online_p = dict(net.online_encoder.named_parameters())
    before_b = {k: v.clone() for k, v in net.target_encoder.named_buffers()}
    net.momentum_update(0.9)
    for name, value in net.target_encoder.named_parameters():
        expected = 0.9 * before_p[name] + 0.1 * online_p[name]
        assert (value - expected).abs().max().item() <= 1e-6, name
        assert not value.requires_grad
    for name, value in net.target_encoder.named_buffers():
        assert torch.equal(value, before_b[name])


def test_network_keys_are_the_released_container(parity_folder):
    """Default widths give exactly the key/shape/dtype table of the released pretrained_fc.pth."""
    table = json.loads((parity_folder / "keys_fine-grained.json").read_text())
    net = FineGrained()
    ours = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in net.state_dict().items()}
    assert ours == table
    assert sum(p.numel() for p in net.predictor.parameters()) == 1_054_976
    assert sum(p.numel() for p in net.online_projector.parameters()) == 1_579_264


def test_forward_loss_and_gradients(small_net):
    g = torch.Generator().manual_seed(1)
    views = torch.randn(2, 1, 3, 32, 32, generator=g)
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0]], [[0.1, 0.1, 0.8, 0.9]]])
    small_net.train()
    loss = small_net(views, views.clone(), boxes, boxes.clone(), momentum=0.99)
    assert -4.0 <= loss.item() <= 4.0
    loss.backward()
    assert small_net.online_encoder.conv1.weight.grad is not None
    assert small_net.target_encoder.conv1.weight.grad is None


@pytest.fixture(scope="module")
def synth_ytvos(tmp_path_factory):
    root = tmp_path_factory.mktemp("ytvos")
    videos = generate_videos(SynthConfig(height=40, width=56, frames=5, num_objects=1, seed=2), 3)
    write_benchmark(videos, format="ytvos2019", out=root)
    return root


def test_ytvos_csv_generation(synth_ytvos, tmp_path):
    rows = csv_rows(synth_ytvos)
    assert rows and all(first == 0 and count == 5 for _, first, count in rows)
    path = write_csv(rows, tmp_path / "ytvos.csv")
    assert read_csv(path) == rows
    videos = ytvos_videos(synth_ytvos, csv_fallback_dir=tmp_path / "run", log=lambda m: None)
    assert len(videos) == len(rows) and all(len(v) == 5 for v in videos)
    assert (tmp_path / "run" / "ytvos.csv").is_file()
    assert not (synth_ytvos / "ytvos.csv").exists()  # never written into the dataset


def test_frame_pairs_sample_per_epoch(synth_ytvos):
    videos = ytvos_videos(synth_ytvos)
    data = FramePairs(videos, img_size=16, clips_per_video=3, seed=5)
    assert len(data) == 3 * len(videos)

    class Epoch:
        epoch = 0

    data.epoch_source = Epoch
    starts0 = [data.clip_start(0, s) for s in range(3)]
    assert len(set(starts0)) == 3  # without replacement within a video
    epochs = []
    for epoch in range(4):
        Epoch.epoch = epoch
        epochs.append(tuple(data.clip_start(0, s) for s in range(3)))
    assert epochs[0] == tuple(starts0) and len(set(epochs)) > 1  # a new draw every epoch
    item = data[0]
    assert item["view1"].shape == (1, 3, 16, 16) and item["box1"].shape == (1, 4)


def run_train(argv):
    try:
        return train.main(argv)
    except SystemExit as exit_:
        return exit_.code


def test_tiny_training_resumes_exactly_and_loads_as_encoder(synth_ytvos, tmp_path):
    base = [str(TINY), "--data-path", str(synth_ytvos), "--opts", "train.max_steps", "3"]
    assert run_train(base + ["--output-dir", str(tmp_path / "full")]) == 0
    assert (
        run_train(base + ["--output-dir", str(tmp_path / "part"), "--opts", "train.max_steps", "3"])
        == 0
    )
    first = torch.load(tmp_path / "full" / "pretrained_fc.pth", weights_only=False)
    # resume the second run from step 1 into a new folder: same final weights
    assert (
        run_train(
            base
            + [
                "--resume",
                str(tmp_path / "part" / "checkpoints" / "step_1"),
                "--output-dir",
                str(tmp_path / "resumed"),
            ]
        )
        == 0
    )
    resumed = torch.load(tmp_path / "resumed" / "pretrained_fc.pth", weights_only=False)
    assert first["model"].keys() == resumed["model"].keys()
    for key, value in first["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert len(first["model"]) == 267 and first["args"].img_size == 64
    # the exported container loads through the official fine-grained path (args Namespace inside)
    encoder = make_encoder("fine-grained", tmp_path / "full")
    same = encoder_from_state("fine-grained", first["model"])
    x = torch.randn(1, 3, 24, 32)
    with torch.no_grad():
        assert torch.equal(encoder(x), same(x))
    lines = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 4 and "loss" in lines[0]


def test_train_errors_without_data(tmp_path, capsys):
    assert run_train([str(TINY), "--output-dir", str(tmp_path / "x")]) == 2
    assert "--data-path" in capsys.readouterr().err


def test_train_help_lists_original_flags(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--batch-size",
        "--lr",
        "--epochs",
        "--pos-radius",
        "--momentum-target",
        "--clips-per-video",
        "--output-dir",
        "--resume",
        "--opts",
        "--data-path",
    ):
        assert flag in text
    assert os.path.isfile(train.DEFAULT_CONFIG)
