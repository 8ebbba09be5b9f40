"""Entry points end to end on the synthetic benchmark: tiny phase A -> B -> C -> test, and
one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oast import online_finetuning, segment, unlabeled_train
from oast import test as oast_test
from oast.checkpoint import read_checkpoint
from PIL import Image


def _one_line_error(capsys, main, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_tiny_phases_and_test(synth_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    common = [
        "--data_dir",
        str(synth_root),
        "--save_dir",
        str(runs),
        "--opts",
        "train.progress_bar",
        "false",
    ]
    unlabeled_train.main(["--config", "tiny_phase_a", "--epochs", "1", *common])
    assert read_checkpoint(runs / "tiny_phase_a_last.pth")["epoch"] == 1
    # --resume continues after the finished epoch (epoch 2 runs the adversarial branch)
    unlabeled_train.main(
        ["--config", "tiny_phase_a", "--resume", str(runs / "tiny_phase_a_last.pth"), *common]
    )
    a = read_checkpoint(runs / "tiny_phase_a_last.pth")
    assert a["epoch"] == 2 and set(a) >= {"model", "model_D", "optimizer_G", "optimizer_D"}
    assert (runs / "tiny_phase_a" / "metrics.csv").is_file()
    assert (runs / "tiny_phase_a.yaml").is_file()
    log = capsys.readouterr().err
    assert "resolved config" in log and "resumed from" in log and "adv_g" in log

    unlabeled_train.main(
        ["--config", "tiny_phase_b", "--finetune", str(runs / "tiny_phase_a_last.pth"), *common]
    )
    b = read_checkpoint(runs / "tiny_phase_b_last.pth")
    assert not torch.equal(
        a["model"]["decoder.conv_seg.weight"], b["model"]["decoder.conv_seg.weight"]
    )

    online_finetuning.main(
        ["--config", "tiny_phase_c", "--weight", str(runs / "tiny_phase_b_last.pth"), *common]
    )
    student = read_checkpoint(runs / "tiny_phase_c_student.pth")
    teacher = read_checkpoint(runs / "tiny_phase_c_teacher.pth")
    key = "decoder.conv_seg.bias"
    start, s, t = b["model"][key], student["model"][key], teacher["model"][key]
    assert not torch.equal(s, start)  # one AdamW step
    torch.testing.assert_close(t, 0.9996 * start + 0.0004 * s, rtol=0, atol=1e-7)  # EMA
    assert isinstance(teacher["model_D"], dict)  # a state_dict, not the module object

    out = tmp_path / "results"
    oast_test.main(
        [
            "--data-dir",
            str(synth_root),
            "--save_dir",
            str(out),
            "--weights",
            str(runs / "tiny_phase_c_teacher.pth"),
            "--model_scale",
            "xxs",
            "--img_size",
            "64",
            "64",
            "--test_datasets",
            "DAVIS-2016",
            "FBMS",
            "--device",
            "cpu",
            "--num_workers",
            "0",
        ]
    )
    masks = sorted((out / "test" / "DAVIS-2016").rglob("*.png"))
    assert len(masks) == 6  # every frame, the last one included
    assert len(sorted((out / "test" / "FBMS").rglob("*.png"))) == 6
    m = np.asarray(Image.open(masks[-1]))
    assert m.shape == (72, 96) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255}


def test_help_lists_the_original_flags(capsys):
    for main, flags in (
        (
            unlabeled_train.main,
            [
                "--epochs",
                "--data_dir",
                "--pretrained",
                "--labeled_datasets",
                "--finetune",
                "--start_epoch",
                "--start_adv",
                "--model_scale",
                "--mean",
                "--std",
                "--adv_loss",
                "--selection",
            ],
        ),
        (online_finetuning.main, ["--weight", "--lr_g", "--lr_d", "--seed", "--rates"]),
        (
            oast_test.main,
            [
                "--data_dir",
                "--save_dir",
                "--weights",
                "--model_scale",
                "--test_datasets",
                "--device",
                "--dropout",
            ],
        ),
        (segment.main, ["--video", "--weights", "--out", "--save-overlay", "--flow"]),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for flag in flags:
            assert flag in text, flag


def test_bad_input_errors(synth_root, tmp_path, capsys):
    err = _one_line_error(
        capsys,
        oast_test.main,
        [
            "--data_dir",
            str(synth_root),
            "--save_dir",
            str(tmp_path),
            "--weights",
            str(tmp_path / "nope.pth"),
        ],
    )
    assert "nope.pth" in err
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": {"foo.weight": torch.zeros(2)}}, wrong)
    err = _one_line_error(
        capsys,
        oast_test.main,
        ["--data_dir", str(synth_root), "--save_dir", str(tmp_path), "--weights", str(wrong)],
    )
    assert "wrong.pth" in err and "missing" in err
    err = _one_line_error(
        capsys,
        unlabeled_train.main,
        ["--config", "tiny_phase_a", "--data_dir", str(synth_root), "--img_size", "72", "96"],
    )
    assert "multiple of 64" in err
    err = _one_line_error(
        capsys,
        online_finetuning.main,
        [
            "--config",
            "tiny_phase_c",
            "--data_dir",
            str(synth_root),
            "--weight",
            str(wrong),
            "--rates",
            "0.5",
        ],
    )
    assert "rate 0.5" in err
    err = _one_line_error(
        capsys,
        unlabeled_train.main,
        ["--config", "tiny_phase_a", "--data_dir", str(tmp_path / "empty")],
    )
    assert "empty" in err
    err = _one_line_error(
        capsys,
        unlabeled_train.main,
        ["--config", "tiny_phase_a", "--opts", "train.unknown_key", "1"],
    )
    assert "unknown_key" in err
