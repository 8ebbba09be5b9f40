"""Training: the tiny config learns on the synthetic benchmark (beats copying the first frame in
J&F on held-out videos), resumes exactly, and stage 0 -> stage 2 widens the value encoder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mivos_prop import eval_davis, train
from mivos_prop.model import ModelSpec, PropagationNetwork, TrainingNetwork
from mivos_prop.model.checkpoint import load_network_for_training, load_weights
from mivos_prop.model.losses import LossConfig, kept_fraction
from vos_common.datasets import DAVIS2017
from vos_common.io import read_label_map, write_frame
from vos_common.synth import LazyVideos, SynthConfig, generate_videos, write_benchmark

TINY = Path(train.__file__).with_name("configs") / "tiny_synthetic.yaml"


def j_and_f(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Region similarity and boundary F (vos_eval's when installed, else the same definitions)."""
    try:
        from vos_eval.metrics import boundary_measure, region_similarity

        return region_similarity(pred, gt), boundary_measure(pred, gt)
    except ImportError:
        union = (pred | gt).sum()
        j = 1.0 if union == 0 else (pred & gt).sum() / union
        radius = max(1, round(0.008 * np.hypot(*gt.shape)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))

        def edge(m):
            m = m.astype(np.uint8)
            return (m - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0

        bp, bg = edge(pred), edge(gt)
        if not bp.any() and not bg.any():
            return float(j), 1.0
        if not bp.any() or not bg.any():
            return float(j), 0.0
        precision = (bp & cv2.dilate(bg.astype(np.uint8), kernel).astype(bool)).sum() / bp.sum()
        recall = (bg & cv2.dilate(bp.astype(np.uint8), kernel).astype(bool)).sum() / bg.sum()
        f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        return float(j), float(f)


@pytest.fixture(scope="module")
def synthetic_davis(tmp_path_factory):
    root = tmp_path_factory.mktemp("mivos_train") / "DAVIS"
    cfg = SynthConfig(
        height=64, width=96, frames=8, num_objects=(1, 2), seed=5, late_objects=0, max_speed=0.05
    )
    write_benchmark(generate_videos(cfg, 9), format="davis2017", out=root / "2017" / "trainval")
    return root


def run_train(argv):
    code = train.main(["--threads", "1", *argv])
    assert code == 0


@pytest.fixture(scope="module")
def matrix_benchmark(tmp_path_factory):
    """The evaluation matrix's synthetic benchmark: 15 videos (10 train, 5 val) x 20 frames."""
    root = tmp_path_factory.mktemp("mivos_matrix") / "DAVIS"
    cfg = SynthConfig(height=64, width=96, frames=20, num_objects=(1, 2), seed=0, late_objects=0)
    write_benchmark(LazyVideos(cfg, 15), format="davis2017", out=root / "2017" / "trainval")
    return root


def test_tiny_config_beats_copying_the_first_frame(matrix_benchmark, tmp_path, capsys):
    """Held out: the shipped tiny config trains on the 10 train videos (data.davis_split) and
    its own synthetic videos (another seed), and is scored on the 5 val videos only."""
    run_dir = tmp_path / "tiny"
    run_train(
        [
            "--config",
            str(TINY),
            "--id",
            "tiny",
            "--output",
            str(run_dir),
            "--opts",
            "data.davis_root",
            str(matrix_benchmark),
        ]
    )
    weights = run_dir / "tiny_600.pth"
    assert weights.is_file() and (run_dir / "metrics.csv").is_file()
    log = capsys.readouterr()
    assert "max skip 2" in log.out + log.err  # the curriculum switched at an epoch boundary
    trained_on = {p.name for p in (run_dir / "synthetic_train" / "JPEGImages").iterdir()}
    val = list(DAVIS2017(matrix_benchmark / "2017" / "trainval", split="val"))
    assert len(val) == 5 and not trained_on & {s.name for s in val}
    out = tmp_path / "pred"
    assert (
        eval_davis.main(
            [
                "--model",
                str(weights),
                "--smoke-model",
                "--threads",
                "1",
                "--davis",
                str(matrix_benchmark / "2017"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    scores = {"ours": [], "copy": []}  # (J, F) per object and frame
    for sequence in val:
        first = sequence.read_mask(0)
        for obj in [int(o) for o in np.unique(first) if o]:
            for t in range(1, len(sequence)):
                gt = sequence.read_mask(t) == obj
                pred = read_label_map(out / sequence.name / f"{t:05d}.png") == obj
                for name, mask in (("ours", pred), ("copy", first == obj)):
                    scores[name].append(j_and_f(mask, gt))
    ours, copy = np.mean(scores["ours"], 0), np.mean(scores["copy"], 0)
    print(f"tiny mivos_prop J {ours[0]:.3f} F {ours[1]:.3f}; copying the first frame "
          f"J {copy[0]:.3f} F {copy[1]:.3f}")
    assert ours[0] >= copy[0] + 0.02 and ours.mean() >= copy.mean() + 0.02, (ours, copy)


def test_resume_continues_exactly(synthetic_davis, tmp_path):
    opts = [
        "--opts",
        "data.davis_root",
        str(synthetic_davis),
        "train.max_steps",
        "4",
        "train.checkpoint_every",
        "2",
        "data.synthetic_videos",
        "3",
    ]
    run_train(["--config", str(TINY), "--id", "a", "--output", str(tmp_path / "a"), *opts])
    # a second run picks the first one up at step 2 (same config) and must end identically
    run_train(
        [
            "--config",
            str(TINY),
            "--id",
            "b",
            "--output",
            str(tmp_path / "b"),
            "--resume",
            str(tmp_path / "a/checkpoints/step_2"),
            *opts,
        ]
    )
    a = torch.load(tmp_path / "a" / "a_4.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "b_4.pth", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stage0_to_stage2_widens_the_value_encoder(tmp_path, synthetic_davis):
    static = tmp_path / "static"
    videos = generate_videos(SynthConfig(height=48, width=64, frames=1, num_objects=1, seed=9), 4)
    for folder in ("fss/cls", "flat"):
        for v in videos:
            write_frame(static / folder / f"{v.name}.jpg", v.frames[0])
            cv2.imwrite(
                str(static / folder / f"{v.name}.png"), (v.masks[0] > 0).astype(np.uint8) * 255
            )
    run_train(
        [
            "--config",
            str(TINY),
            "--stage",
            "0",
            "--id",
            "s0",
            "--output",
            str(tmp_path / "s0"),
            "--opts",
            "data.static_root",
            str(static),
            "data.static_folders",
            "[fss, flat]",
            "data.static_repeat",
            "{flat: 2}",
            "train.max_steps",
            "2",
            "model.freeze_bn",
            "true",
        ]
    )
    s0 = torch.load(tmp_path / "s0" / "s0_2.pth", weights_only=True)
    assert s0["mask_rgb_encoder.conv1.weight"].shape[1] == 4
    mo = TrainingNetwork(single_object=False, spec=ModelSpec.smoke())
    load_network_for_training(mo, tmp_path / "s0" / "s0_2.pth")
    widened = mo.state_dict()["mask_rgb_encoder.conv1.weight"]
    assert widened.shape[1] == 5 and torch.equal(
        widened[:, :4], s0["mask_rgb_encoder.conv1.weight"]
    )
    block = widened[:, 4].reshape(64, -1)
    assert torch.allclose(
        block.t() @ block, torch.eye(49), atol=1e-4
    )  # 64 x 49: orthonormal columns
    run_train(
        [
            "--config",
            str(TINY),
            "--id",
            "s02",
            "--output",
            str(tmp_path / "s02"),
            "--load_network",
            str(tmp_path / "s0" / "s0_2.pth"),
            "--opts",
            "data.davis_root",
            str(synthetic_davis),
            "train.max_steps",
            "1",
            "model.freeze_bn",
            "true",
            "data.synthetic_videos",
            "3",
        ]
    )
    trained = torch.load(tmp_path / "s02" / "s02_1.pth", weights_only=True)
    for key in ("mask_rgb_encoder.bn1.running_mean", "rgb_encoder.layer2.0.bn1.running_var"):
        assert torch.equal(trained[key], s0[key])  # BN statistics frozen
    assert not torch.equal(
        trained["mask_rgb_encoder.bn1.weight"], s0["mask_rgb_encoder.bn1.weight"]
    )
    load_weights(PropagationNetwork(spec=ModelSpec.smoke()), tmp_path / "s02" / "s02_1.pth")


def test_kept_fraction_schedule():
    cfg = LossConfig()
    assert [kept_fraction(i, cfg) for i in (0, 19999, 20000, 70000, 70001)] == [1, 1, 1, 0.15, 0.15]
    assert kept_fraction(45000, cfg) == pytest.approx(0.575)


def test_shipped_stage_configs_hold_the_paper_hyperparameters():
    from vos_common.config import load_config

    for stage, batch, steps, milestone in (
        (0, 14, 300000, 250000),
        (1, 8, 500000, 450000),
        (2, 8, 150000, 125000),
    ):
        cfg = load_config(train.default_config(stage), train.MiVOSTrainConfig)
        assert cfg.stage == stage and cfg.train.batch_size == batch
        assert cfg.train.max_steps == steps and cfg.train.schedule.milestones == [milestone]
        assert cfg.train.optimizer.lr == 1e-5 and cfg.train.optimizer.weight_decay == 1e-7
        assert cfg.train.seed == 14159265 and cfg.model.freeze_bn
        assert (cfg.loss.start_warm, cfg.loss.end_warm, cfg.loss.top_p) == (20000, 70000, 0.15)
    assert (
        load_config(train.default_config(1), train.MiVOSTrainConfig).data.skip_fractions[-1] == 0.8
    )
