"""Configs, checkpoints, data rules, the --test export and one-line errors on bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rcf.config import list_shipped_configs, load_rcf_config


def one_line_error(capsys, code, expected_status: int = 2) -> str:
    assert code.value.code == expected_status
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: "), err
    return err


def smoke_checkpoint(tmp_path: Path, config: str = "configs/smoke/rcf_stage1.yaml") -> Path:
    from rcf.model.checkpoint import save_lightning_checkpoint
    from rcf.model.rcf_model import RCFModel

    torch.manual_seed(3)
    model = RCFModel(load_rcf_config(config).model_kwargs)
    folder = tmp_path / "run"
    folder.mkdir()
    save_lightning_checkpoint(
        folder / "last.ckpt", model, epoch=0, global_step=7, hyper_parameters={"x": 1}
    )
    return folder / "last.ckpt"


# ------------------------------------------------------------------------------------ configs
def test_shipped_configs_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = list_shipped_configs()
    for stage in (
        "rcf_stage1",
        "rcf_stage2.1",
        "rcf_stage2.2",
        "rcf_export_trainval",
        "rcf_export_trainval_ema",
    ):
        for folder in ("rcf", "rcf_stv2", "rcf_fbms59"):
            assert f"{folder}/{stage}.yaml" in names
    assert {"rcf/rcf_eval.yaml", "amd/amd.yaml", "amd/amd_eval.yaml"} <= set(names)
    for name in names:
        if not name.startswith("smoke/smoke_scale"):
            load_rcf_config(f"configs/{name}")
    s21 = load_rcf_config("configs/rcf/rcf_stage2.1.yaml")  # base: rcf_stage1.yaml
    assert (
        s21.epochs,
        s21.learning_rate,
        s21.model_kwargs.w_crf,
        s21.model_kwargs.backbone2.depth,
    ) == (20, 1e-5, 10.0, 50)
    assert s21.model_kwargs.backbone2.create_ema and s21.model_kwargs.w_entropy == 0
    fbms = load_rcf_config("configs/rcf_fbms59/rcf_stage1.yaml")
    assert (
        fbms.model_kwargs.mask_layer,
        fbms.model_kwargs.decode_head3.num_classes,
        fbms.override_max_epochs,
    ) == (3, 12, 4)
    stv2 = load_rcf_config("configs/rcf_stv2/rcf_stage2.2.yaml")
    assert stv2.drop_head_decode_head2 and stv2.model_kwargs.decode_head2.in_channels == [256, 2048]


def test_opts_use_original_keys_and_types():
    cfg = load_rcf_config(
        "configs/rcf/rcf_eval.yaml",
        [
            "object_channel",
            "2",
            "test_dataset_kwargs.split",
            "val.txt",
            "workers",
            "3",
            "export_all_seg",
            "false",
            "data_path",
            "/data/davis",
            "learning_rate",
            "1e-5",
        ],
    )
    assert (cfg.object_channel, cfg.test_dataset_kwargs.split, cfg.workers, cfg.export_all_seg) == (
        2,
        "val.txt",
        3,
        False,
    )
    assert cfg.data_path == "/data/davis" and cfg.learning_rate == 1e-5
    assert cfg.eval_pos_th == -1 and cfg.saved_eval_export_dir_name == "saved_eval_export"


def test_unknown_config_key_is_one_line(tmp_path, capsys):
    from rcf import train
    from rcf.config import resolve_config_path

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"base: {resolve_config_path('configs/rcf/rcf_stage1.yaml')}\n"
        "model_kwargs:\n  w_entropyy: 0.1\n"
    )
    with pytest.raises(SystemExit) as code:
        train.main([str(bad), "--print-config"])
    err = one_line_error(capsys, code)
    assert "bad.yaml" in err and "model_kwargs.w_entropyy" in err and "w_entropy" in err
    with pytest.raises(SystemExit) as code:
        train.main(["configs/rcf/rcf_stage1.yaml", "--print-config", "--opts", "not_a_key", "1"])
    assert "not_a_key" in one_line_error(capsys, code)


# -------------------------------------------------------------------------------- checkpoints
def test_checkpoint_formats(parity, tmp_path):
    from rcf.model.checkpoint import load_pretrained
    from rcf.model.rcf_model import RCFModel
    from torchvision.models import resnet50
    from vos_common.errors import VOSDataError
    from vos_common.parity import parity_state_dict

    state = parity_state_dict(parity / "keys_stage1.json")
    lightning = {
        "epoch": 199,
        "global_step": 43200,
        "pytorch-lightning_version": "1.7.7",
        "state_dict": {"model." + k: v for k, v in state.items()},
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
        "hparams_name": "args",
        "hyper_parameters": {},
    }
    torch.save(lightning, tmp_path / "last.ckpt")
    stage21 = RCFModel(load_rcf_config("configs/rcf/rcf_stage2.1.yaml").model_kwargs)
    report = load_pretrained(stage21, tmp_path / "last.ckpt")
    assert "EMA teacher starts from the main weights" in str(report)
    assert torch.equal(
        stage21.backbone2_ema.layer3[2].conv2.weight, state["backbone2.layer3.2.conv2.weight"]
    )
    # a stage-2 file (with EMA) into an eval model without EMA: EMA keys ignored, rest strict
    torch.save(
        {"state_dict": {"model." + k: v for k, v in stage21.state_dict().items()}},
        tmp_path / "s2.ckpt",
    )
    plain = RCFModel(load_rcf_config("configs/rcf/rcf_eval.yaml").model_kwargs)
    assert "ignored 332 EMA tensors" in str(load_pretrained(plain, tmp_path / "s2.ckpt"))
    # DenseCL / torchvision ResNet-50: into backbone2, fc ignored, verified strictly
    reference = resnet50()
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "densecl.pth")
    load_pretrained(plain, tmp_path / "densecl.pth")
    assert torch.equal(plain.backbone2.layer4[1].conv3.weight, reference.layer4[1].conv3.weight)
    # wrong file: one-line error naming the file and the mismatch
    fbms = parity_state_dict(parity / "keys_fbms59_stage1.json")
    torch.save({"model." + k: v for k, v in fbms.items()}, tmp_path / "fbms.ckpt")
    with pytest.raises(VOSDataError) as err:
        load_pretrained(plain, tmp_path / "fbms.ckpt")
    assert (
        "fbms.ckpt" in str(err.value)
        and "conv_seg" in str(err.value)
        and "\n" not in str(err.value)
    )
    torch.save({"weights": torch.zeros(1)}, tmp_path / "odd.pth")
    with pytest.raises(VOSDataError):
        load_pretrained(plain, tmp_path / "odd.pth")


# --------------------------------------------------------------------------------------- data
def test_eval_resize_is_the_originals():
    import cv2
    from rcf.config import TransformConfig
    from rcf.data.transforms import eval_image, eval_scale, rescale_size

    cfg = TransformConfig()
    assert eval_scale(cfg) == (9799, 392)
    assert rescale_size(480, 854, eval_scale(cfg)) == (392, 697)
    frame = np.random.default_rng(0).integers(0, 256, (480, 854, 3), dtype=np.uint8)
    out = eval_image(frame, cfg)
    resized = (
        cv2.resize(frame, (697, 392), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    )
    expected = (resized - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32
    )
    assert torch.allclose(out, torch.from_numpy(expected.transpose(2, 0, 1)), atol=1e-6)


def test_flow_never_rescaled_and_flip_keeps_u():
    from rcf.config import TransformConfig
    from rcf.data.transforms import TrainTransform

    frames = [np.full((96, 160, 3), 100, np.uint8)] * 2
    flow = np.zeros((96, 160, 2), np.float32)
    flow[..., 0], flow[..., 1] = 7.0, -3.0
    cfg = TransformConfig(
        strong_aug=True, img_scale=[9999, 66], ratio_range=[0.97, 1.0], crop_size=[64, 64]
    )
    flips = set()
    for seed in range(12):
        np.random.seed(seed)
        out = TrainTransform(cfg)(frames, {"gt_fw_flows": [flow], "gt_bw_flows": [flow]})
        assert out["imgs"].shape == (2, 3, 64, 64) and out["gt_fw_flows"].shape == (1, 2, 64, 64)
        assert torch.all(out["gt_fw_flows"][0, 0] == 7.0) and torch.all(
            out["gt_fw_flows"][0, 1] == -3.0
        )
        flips.add(seed)
    np.random.seed(0)
    fixed = TrainTransform(
        TransformConfig(
            strong_aug=True, negate_flipped_flow_u=True, img_scale=[9999, 66], crop_size=[64, 64]
        )
    )
    values = set()
    for seed in range(12):
        np.random.seed(seed)
        values.add(
            float(
                fixed(frames, {"gt_fw_flows": [flow], "gt_bw_flows": [flow]})["gt_fw_flows"][
                    0, 0, 0, 0
                ]
            )
        )
    assert values == {7.0, -7.0}  # the switch negates u exactly when the pair was flipped


def test_pair_indexing_repeats_last_pair(smoke_data):
    from rcf.config import DatasetKwargs, TransformConfig
    from rcf.data.dataset import PairDataset

    data = PairDataset(
        smoke_data,
        DatasetKwargs(load_flow=True, flow_suffix="_NewCT", split="trainval.txt"),
        TransformConfig(img_scale=[9999, 66], crop_size=[64, 64]),
    )
    assert len(data) == 16
    assert data.locate(6) == (0, 6) and data.locate(7) == (0, 6) and data.locate(8) == (1, 0)
    paths = data.paths(0, 2)
    assert paths["fw"].name == "00003.npy" and "Flows_NewCT" in str(paths["fw"])
    assert paths["bw"].name == "00003.npy" and "BackwardFlows_NewCT" in str(paths["bw"])


def test_lr_is_poly_per_epoch():
    from vos_common.training.schedules import PerEpoch, PolySchedule

    schedule = PerEpoch(PolySchedule(200, 0.9, 1e-6), 216)
    assert schedule(0, 1e-4) == schedule(215, 1e-4) == pytest.approx(1e-4)
    assert schedule(216, 1e-4) == pytest.approx((1e-4 - 1e-6) * (1 - 1 / 200) ** 0.9 + 1e-6)


# ------------------------------------------------------------------------------------ export
def test_test_export_layout_values_and_nothing_outside(smoke_data, tmp_path, monkeypatch):
    from rcf import train
    from rcf.data.transforms import eval_image
    from rcf.inference.export import quantise_probabilities
    from rcf.model.checkpoint import load_pretrained
    from rcf.model.rcf_model import RCFModel

    monkeypatch.chdir(tmp_path)
    ckpt = smoke_checkpoint(tmp_path)
    before = set(p for p in tmp_path.rglob("*"))
    assert (
        train.main(
            [
                "configs/smoke/rcf_eval.yaml",
                "--test",
                "--test-override-pretrained",
                str(ckpt),
                "--opts",
                "data_path",
                str(smoke_data),
            ]
        )
        == 0
    )
    created = set(tmp_path.rglob("*")) - before
    export = ckpt.parent / "saved_eval_export"
    assert created and all(p == export or export in p.parents for p in created)
    files = sorted(export.glob("*/pred_seg_*.png"))
    assert len(files) == 4 * 8 and {p.parent.name for p in files} == {"0", "1", "2", "3"}
    assert (export / "2" / "pred_seg_smoke-0109_00003_0000000.png").is_file()
    png = np.asarray(Image.open(export / "2" / "pred_seg_smoke-0109_00003_0000000.png"))
    assert png.shape == (32, 54, 3) and (png[..., 0] == png[..., 2]).all()
    model = RCFModel(load_rcf_config("configs/smoke/rcf_eval.yaml").model_kwargs)
    load_pretrained(model, ckpt)
    model.eval()
    frame = np.asarray(
        Image.open(smoke_data / "JPEGImages/480p/smoke-0109/00003.jpg").convert("RGB")
    )
    with torch.no_grad():
        expected = quantise_probabilities(
            model.segment(
                eval_image(
                    frame, load_rcf_config("configs/smoke/rcf_eval.yaml").test_transform_kwargs
                )[None]
            )
        )[0, 2].numpy()
    assert np.array_equal(png[..., 0], expected)
    # object slot only, flat
    assert (
        train.main(
            [
                "configs/smoke/rcf_eval.yaml",
                "--test",
                "--test-override-pretrained",
                str(ckpt),
                "--test-override-object-channel",
                "1",
                "--opts",
                "data_path",
                str(smoke_data),
                "export_all_seg",
                "false",
            ]
        )
        == 0
    )
    flat = sorted(export.glob("pred_seg_*_0000000.png"))
    assert len(flat) == 8
    assert np.array_equal(
        np.asarray(Image.open(flat[0])), np.asarray(Image.open(export / "1" / flat[0].name))
    )


# ------------------------------------------------------------------------------- bad input
def copy_data(smoke_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(smoke_data, target)
    return target


def test_bad_flow_size_is_one_line(smoke_data, tmp_path, capsys, monkeypatch):
    from rcf import train

    monkeypatch.chdir(tmp_path)
    data = copy_data(smoke_data, tmp_path)
    bad = data / "Flows_NewCT/480p/smoke-0000/00004.npy"
    np.save(bad, np.zeros((48, 80, 2), np.float32))
    with pytest.raises(SystemExit) as code:
        train.main(
            [
                "configs/smoke/rcf_stage1.yaml",
                "--opts",
                "data_path",
                str(data),
                "checkpoints_dir",
                "r1",
            ]
        )
    err = one_line_error(capsys, code)
    assert str(bad) in err and "80x48" in err and "160x96" in err


def test_missing_backward_flow_is_one_line(smoke_data, tmp_path, capsys, monkeypatch):
    from rcf import train

    monkeypatch.chdir(tmp_path)
    data = copy_data(smoke_data, tmp_path)
    missing = data / "BackwardFlows_NewCT/480p/smoke-0109/00005.npy"
    missing.unlink()
    with pytest.raises(SystemExit) as code:
        train.main(
            [
                "configs/smoke/rcf_stage1.yaml",
                "--opts",
                "data_path",
                str(data),
                "checkpoints_dir",
                "r2",
            ]
        )
    err = one_line_error(capsys, code)
    assert str(missing) in err and "does not exist" in err


def test_object_channel_out_of_range_is_one_line(smoke_data, tmp_path, capsys, monkeypatch):
    from rcf import maa, train

    monkeypatch.chdir(tmp_path)
    ckpt = smoke_checkpoint(tmp_path)
    with pytest.raises(SystemExit) as code:
        train.main(
            [
                "configs/smoke/rcf_eval.yaml",
                "--test",
                "--test-override-pretrained",
                str(ckpt),
                "--test-override-object-channel",
                "4",
                "--opts",
                "data_path",
                str(smoke_data),
            ]
        )
    assert "object channel 4 is out of range" in one_line_error(capsys, code)
    with pytest.raises(SystemExit) as code:
        train.main(
            ["configs/smoke/rcf_eval.yaml", "--print-config", "--opts", "object_channel", "7"]
        )
    assert "object_channel 7 is out of range" in one_line_error(capsys, code)
    with pytest.raises(SystemExit) as code:
        maa.entry(["--pretrain_dir", str(ckpt.parent), "--object-channel", "5", "--random-vit"])
    assert "out of range" in one_line_error(capsys, code, expected_status=maa.ERROR_STATUS)
    assert not (ckpt.parent / "saved_eval_export").exists()


def test_maa_and_semantic_constraints_outputs(smoke_data, tmp_path, monkeypatch):
    """MAA writes the slot to a file and returns it; semantic constraints write 0/255 labels."""
    from rcf import maa, semantic_constraints, train

    monkeypatch.chdir(tmp_path)
    ckpt = smoke_checkpoint(tmp_path, "configs/smoke/rcf_stage2.1.yaml")
    assert (
        train.main(
            [
                "configs/smoke/rcf_export_trainval_ema.yaml",
                "--test",
                "--test-override-pretrained",
                str(ckpt),
                "--opts",
                "data_path",
                str(smoke_data),
                "saved_eval_export_dir_name",
                "saved_eval_export",
            ]
        )
        == 0
    )
    status = maa.main(
        [
            "--pretrain_dir",
            str(ckpt.parent),
            "--random-vit",
            "--vit-arch",
            "vit_test",
            "--data-path",
            str(smoke_data),
            "--no-progress",
        ]
    )
    written = int((ckpt.parent / "object_channel.txt").read_text())
    assert status == written and 0 <= written < 4
    for slot in range(
        4
    ):  # reuse the export as the "EMA trainval export" of the semantic constraints
        assert (
            semantic_constraints.main(
                [
                    "--pretrain_dir",
                    str(ckpt.parent),
                    "--object-channel",
                    str(slot),
                    "--export-dir-name",
                    "saved_eval_export",
                    "--random-vit",
                    "--vit-arch",
                    "vit_test",
                    "--data-path",
                    str(smoke_data),
                    "--crf-sxy",
                    "10",
                    "--crf-iterations",
                    "3",
                    "--first-frames-only",
                    "--no-progress",
                ]
            )
            == 0
        )
    labels = sorted((ckpt.parent / "saved_eval_export_torchcrf_ncut_torchcrf" / "0").glob("*.png"))
    assert [p.name for p in labels] == [
        "pred_seg_smoke-0000_00000_0000000.png",
        "pred_seg_smoke-0109_00000_0000000.png",
    ]
    assert set(np.unique(np.asarray(Image.open(labels[0])))) <= {0, 255}


def test_segment_own_video(smoke_data, tmp_path):
    """rcf.segment on a video file: masks (0/255, frame size), CRF refinement and overlays."""
    from rcf import segment
    from vos_common.synth import SynthConfig, generate_video, write_benchmark

    ckpt = smoke_checkpoint(tmp_path)
    video_root = tmp_path / "clip"
    write_benchmark(
        [generate_video(SynthConfig(height=96, width=160, frames=4, seed=2), 0)],
        format="video",
        out=video_root,
    )
    video = next(video_root.rglob("*.mp4"))
    out = tmp_path / "seg"
    assert (
        segment.main(
            [
                "--video",
                str(video),
                "--checkpoint",
                str(ckpt),
                "--object-channel",
                "1",
                "--out",
                str(out),
                "--config",
                "configs/smoke/rcf_eval.yaml",
                "--crf",
                "--save-overlay",
                "--no-progress",
            ]
        )
        == 0
    )
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == 4
    mask = np.asarray(Image.open(masks[0]))
    assert mask.shape == (96, 160) and set(np.unique(mask)) <= {0, 255}
    assert (
        len(list((out / "overlays").glob("*.png"))) == 4
        and (out / "overlays" / "preview.gif").is_file()
    )
