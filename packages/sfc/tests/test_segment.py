"""`python -m sfc.segment` on the user's own video file / frame folder."""

from __future__ import annotations

import numpy as np
import pytest
from sfc import segment
from vos_common.io import read_label_map, write_frame, write_label_map
from vos_common.synth import SynthConfig, generate_video
from vos_common.viz import write_mp4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    video = generate_video(SynthConfig(height=56, width=80, frames=6, num_objects=2, seed=4), 0)
    root = tmp_path_factory.mktemp("own")
    frames = root / "frames"
    for t, frame in enumerate(video.frames):
        write_frame(frames / f"{t:05d}.png", frame)
    write_label_map(root / "first.png", video.masks[0])
    write_mp4(root / "clip.mp4", list(video.frames), fps=10)
    return root, video


def run(argv, capsys):
    try:
        code = segment.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


COMMON = [
    "--fc-model",
    "fine-grained",
    "--semantic-model",
    "none",
    "--topk",
    "5",
    "--videoLen",
    "3",
    "--radius",
    "4",
    "--height",
    "0",
]


def test_frame_folder_with_overlay(clip, checkpoint_dir, tmp_path, capsys):
    root, video = clip
    out = tmp_path / "out"
    code, err = run(
        [
            "--video",
            str(root / "frames"),
            "--mask",
            str(root / "first.png"),
            "--out",
            str(out),
            "--checkpoint-dir",
            str(checkpoint_dir),
            "--save-overlay",
            *COMMON,
        ],
        capsys,
    )
    assert code == 0, err
    masks = [read_label_map(out / f"{t:05d}.png") for t in range(6)]
    assert all(m.shape == (56, 80) for m in masks)
    assert set(np.unique(masks[-1])) <= set(np.unique(video.masks[0]))
    assert (masks[-1] == video.masks[-1]).mean() > 0.8
    assert (out / "overlay" / "preview.mp4").stat().st_size > 0
    assert len(list((out / "overlay").glob("*.png"))) == 6


def test_video_file_at_reduced_height(clip, checkpoint_dir, tmp_path, capsys):
    root, _ = clip
    out = tmp_path / "out"
    argv = [
        "--video",
        str(root / "clip.mp4"),
        "--mask",
        str(root / "first.png"),
        "--out",
        str(out),
        "--checkpoint-dir",
        str(checkpoint_dir),
        *COMMON[:-2],
        "--height",
        "40",
    ]
    code, err = run(argv, capsys)
    assert code == 0, err
    assert read_label_map(out / "00005.png").shape == (56, 80)  # written at the video's size
    assert "propagated at 57x40" in err


def test_mask_of_wrong_size_is_one_line(clip, checkpoint_dir, tmp_path, capsys):
    root, _ = clip
    write_label_map(tmp_path / "bad.png", np.ones((20, 20), np.uint8))
    code, err = run(
        [
            "--video",
            str(root / "frames"),
            "--mask",
            str(tmp_path / "bad.png"),
            "--out",
            str(tmp_path / "o"),
            "--checkpoint-dir",
            str(checkpoint_dir),
            *COMMON,
        ],
        capsys,
    )
    assert code == 2 and err.count("error:") == 1 and "bad.png" in err
