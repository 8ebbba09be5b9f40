"""test_vos / convert_davis end to end, and one-line errors for bad inputs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sfc import convert_davis, segment, test_vos, train
from vos_common.io import read_label_map, write_label_map
from vos_common.synth import SynthConfig, generate_videos, write_benchmark


def run_cli(module, argv, capsys):
    """Call a CLI in-process; returns (exit code, stderr)."""
    try:
        code = module.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def case_args(case, filelist, save, checkpoint_dir, *extra):
    o = case["options"]
    argv = [
        "--filelist",
        str(filelist),
        "--fc-model",
        o["fc_model"],
        "--topk",
        str(o["topk"]),
        "--videoLen",
        str(o["videoLen"]),
        "--radius",
        str(o["radius"]),
        "--temperature",
        str(o["temperature"]),
        "--cropSize",
        "-1",
        "--save-path",
        str(save),
        "--checkpoint-dir",
        str(checkpoint_dir),
        *extra,
    ]
    if o["semantic_model"]:
        argv += ["--semantic-model", o["semantic_model"], "--lambd", str(o["lambd"])]
    return argv


def read_maps(folder, count):
    return np.stack([read_label_map(folder / f"{t:05d}.png") for t in range(count)])


@pytest.fixture(scope="module")
def fc_only_clip(cases, helpers, tmp_path_factory):
    root = helpers.davis_clip(cases["case_fc_only"], tmp_path_factory.mktemp("fc_only") / "DAVIS")
    filelist = root.parent / "list.txt"
    filelist.write_text(f"{root}/JPEGImages/480p/clip {root}/Annotations/480p/clip\n")
    return root, filelist


def test_fc_only_end_to_end_matches_original(cases, fc_only_clip, checkpoint_dir, tmp_path, capsys):
    case = cases["case_fc_only"]
    root, filelist = fc_only_clip
    save, direct, conv = tmp_path / "out", tmp_path / "direct", tmp_path / "conv"
    code, err = run_cli(
        test_vos,
        case_args(case, filelist, save, checkpoint_dir, "--davis-out", str(direct)),
        capsys,
    )
    assert code == 0, err
    assert "fine-grained" in err and "topk=10" in err  # the log says what was run
    T = len(case["inputs"]["frames_uint8"])
    assert sorted(p.name for p in save.glob("0_*_mask.png")) == sorted(
        f"0_{t}_mask.png" for t in range(T)
    )
    assert len(list(save.glob("0_*_blend.jpg"))) == T
    assert not list(root.rglob("*.npy"))  # no caches next to the dataset
    # folder arguments without and with trailing slashes
    code, err = run_cli(
        convert_davis,
        ["--in_folder", str(save), "--out_folder", str(conv) + "/", "--dataset", str(root) + "/"],
        capsys,
    )
    assert code == 0, err
    expected = case["propagation"]["index_maps"].numpy()
    near_tie = case["propagation"]["near_tie"].numpy()
    for folder in (conv, direct):
        got = read_maps(folder / "clip", T)
        assert not ((got != expected) & ~near_tie).any()
    assert np.array_equal(read_maps(conv / "clip", T), read_maps(direct / "clip", T))


def test_sfc_end_to_end_as_a_module_from_another_folder(cases, helpers, checkpoint_dir, tmp_path):
    """`python -m sfc.test_vos` then `python -m sfc.convert_davis`, run from an unrelated cwd."""
    case = cases["case_sfc"]
    root = helpers.davis_clip(case, tmp_path / "DAVIS")
    filelist = tmp_path / "list.txt"
    filelist.write_text(f"{root}/JPEGImages/480p/clip {root}/Annotations/480p/clip\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    argv = case_args(case, filelist, tmp_path / "out", checkpoint_dir, "--no-blend")
    done = subprocess.run(
        [sys.executable, "-m", "sfc.test_vos", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sfc.convert_davis",
            "-i",
            str(tmp_path / "out"),
            "-o",
            str(tmp_path / "conv"),
            "-d",
            str(root),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    got = read_maps(tmp_path / "conv" / "clip", len(case["inputs"]["frames_uint8"]))
    near_tie = case["propagation"]["near_tie"].numpy()
    assert not ((got != case["propagation"]["index_maps"].numpy()) & ~near_tie).any()


def test_synthetic_davis_two_sequences_whole_mode(checkpoint_dir, tmp_path, capsys):
    videos = generate_videos(SynthConfig(height=48, width=64, frames=5, num_objects=2, seed=1), 2)
    root = tmp_path / "DAVIS"
    write_benchmark(videos, format="davis2017", out=root)
    names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    filelist = tmp_path / "list.txt"
    filelist.write_text(
        "".join(f"{root}/JPEGImages/480p/{n}/ {root}/Annotations/480p/{n}/\n" for n in names)
    )
    argv = [
        "--filelist",
        str(filelist),
        "--fc-model",
        "fine-grained",
        "--topk",
        "5",
        "--videoLen",
        "2",
        "--radius",
        "3",
        "--temperature",
        "0.1",
        "--cropSize",
        "-1",
        "--save-path",
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(checkpoint_dir),
        "--davis-out",
        str(tmp_path / "direct"),
        "--no-blend",
    ]
    assert run_cli(test_vos, argv + ["--mode", "whole"], capsys)[0] == 0
    assert (
        run_cli(
            convert_davis,
            ["-i", str(tmp_path / "out"), "-o", str(tmp_path / "conv"), "-d", str(root)],
            capsys,
        )[0]
        == 0
    )
    for name in names:
        direct = read_maps(tmp_path / "direct" / name, 5)
        assert np.array_equal(direct, read_maps(tmp_path / "conv" / name, 5))
        truth = read_maps(root / "Annotations" / "480p" / name, 5)
        # frame 0 is the annotation downsampled to the grid and upsampled back
        assert (direct[0] == truth[0]).mean() > 0.9
        assert set(np.unique(direct)) <= set(np.unique(truth[0]))
    # the last step of the documented pipeline: vos_eval's DAVIS 2017 semi-supervised scores
    vos_eval = pytest.importorskip("vos_eval")
    result = vos_eval.evaluate_davis(root, tmp_path / "conv", task="semi-supervised", subset="val")
    assert 0.5 < result["J&F-Mean"] <= 1.0


def test_crop_size_reproduces_the_square_resize(fc_only_clip, checkpoint_dir, tmp_path, capsys):
    root, filelist = fc_only_clip
    argv = [
        "--filelist",
        str(filelist),
        "--fc-model",
        "fine-grained",
        "--topk",
        "5",
        "--videoLen",
        "2",
        "--radius",
        "3",
        "--temperature",
        "0.1",
        "--cropSize",
        "40",
        "--save-path",
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(checkpoint_dir),
        "--davis-out",
        str(tmp_path / "direct"),
        "--no-blend",
    ]
    assert run_cli(test_vos, argv, capsys)[0] == 0
    mask = read_label_map(tmp_path / "direct" / "clip" / "00000.png")
    assert mask.shape == (68, 90)  # resized back to the annotation size by the conversion
    assert (
        run_cli(
            test_vos, argv + ["--fix-crop-labels", "--save-path", str(tmp_path / "out2")], capsys
        )[0]
        == 0
    )


def one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_error_checkpoint_with_wrong_keys(fc_only_clip, checkpoint_dir, tmp_path, capsys):
    _, filelist = fc_only_clip
    state = torch.load(checkpoint_dir / "pretrained_fc.pth", weights_only=True)["model"]
    broken = {k.replace("online_encoder.", "online_net."): v for k, v in state.items()}
    torch.save({"model": broken, "epoch": 0}, tmp_path / "pretrained_fc.pth")
    code, err = run_cli(
        test_vos,
        [
            "--filelist",
            str(filelist),
            "--fc-model",
            "fine-grained",
            "--cropSize",
            "-1",
            "--checkpoint-dir",
            str(tmp_path),
            "--save-path",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    one_line_error(code, err, "pretrained_fc.pth", "missing")
    assert not (tmp_path / "out").exists()  # nothing written


def test_error_missing_checkpoint(fc_only_clip, tmp_path, capsys):
    _, filelist = fc_only_clip
    code, err = run_cli(
        test_vos,
        [
            "--filelist",
            str(filelist),
            "--fc-model",
            "fine-grained",
            "--semantic-model",
            "simsiam",
            "--checkpoint-dir",
            str(tmp_path),
            "--save-path",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    one_line_error(code, err, "pretrained_fc.pth", "not found")


def test_error_filelist_names_missing_folder(tmp_path, checkpoint_dir, capsys):
    filelist = tmp_path / "list.txt"
    filelist.write_text(f"{tmp_path}/nope/JPEGImages {tmp_path}/nope/Annotations\n")
    code, err = run_cli(
        test_vos,
        [
            "--filelist",
            str(filelist),
            "--fc-model",
            "fine-grained",
            "--checkpoint-dir",
            str(checkpoint_dir),
            "--save-path",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    one_line_error(code, err, "nope/JPEGImages", "does not exist", "line 1")


def test_error_annotation_of_wrong_size(cases, helpers, tmp_path, checkpoint_dir, capsys):
    root = helpers.davis_clip(cases["case_fc_only"], tmp_path / "DAVIS")
    write_label_map(
        root / "Annotations" / "480p" / "clip" / "00000.png", np.zeros((60, 90), np.uint8)
    )
    filelist = tmp_path / "list.txt"
    filelist.write_text(f"{root}/JPEGImages/480p/clip {root}/Annotations/480p/clip\n")
    code, err = run_cli(
        test_vos,
        [
            "--filelist",
            str(filelist),
            "--fc-model",
            "fine-grained",
            "--checkpoint-dir",
            str(checkpoint_dir),
            "--save-path",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    one_line_error(code, err, "00000.png", "90x60", "90x68")


def test_error_convert_missing_prediction(fc_only_clip, tmp_path, capsys):
    root, _ = fc_only_clip
    (tmp_path / "empty").mkdir()
    code, err = run_cli(
        convert_davis,
        ["-i", str(tmp_path / "empty"), "-o", str(tmp_path / "conv"), "-d", str(root)],
        capsys,
    )
    one_line_error(code, err, "0_0_mask.png")
    assert not (tmp_path / "conv").exists()


def test_error_no_model(fc_only_clip, tmp_path, capsys):
    _, filelist = fc_only_clip
    code, err = run_cli(test_vos, ["--filelist", str(filelist)], capsys)
    one_line_error(code, err, "--fc-model")


@pytest.mark.parametrize("module", [test_vos, convert_davis, segment, train])
def test_help_lists_every_option(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    parser = module.build_parser()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help, action.option_strings


def test_error_invalid_option_is_one_line(fc_only_clip, checkpoint_dir, tmp_path, capsys):
    _, filelist = fc_only_clip
    base = [
        "--filelist",
        str(filelist),
        "--fc-model",
        "fine-grained",
        "--cropSize",
        "-1",
        "--checkpoint-dir",
        str(checkpoint_dir),
        "--save-path",
        str(tmp_path / "out"),
    ]
    one_line_error(*run_cli(test_vos, base + ["--topk", "0"], capsys), "topk")
    one_line_error(*run_cli(test_vos, base + ["--long-mem", "0", "9"], capsys), "--long-mem 9")
