"""Own video: python -m oast.segment on a synthetic mp4 (flow computed) and on frames + .flo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oast import segment
from oast.model.network import MobileViTVOS
from PIL import Image
from vos_common.io import write_flo
from vos_common.synth import SynthConfig, generate_videos, write_benchmark


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "oast_xxs.pth"
    torch.save({"model": MobileViTVOS("xxs").state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    config = SynthConfig(height=72, width=96, frames=5, num_objects=1, late_objects=0, seed=2)
    videos = generate_videos(config, count=1)
    write_benchmark(videos, format="video", out=root)
    return root / videos[0].name / f"{videos[0].name}.mp4", videos[0]


def test_segment_video_computes_flow(video, weights, tmp_path):
    path, _ = video
    out = tmp_path / "out"
    segment.main(
        [
            "--video",
            str(path),
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--img_size",
            "64",
            "64",
            "--save-overlay",
            str(tmp_path / "overlay"),
            "--name",
            "clip",
            "--save_prob",
        ]
    )
    masks = sorted((out / "masks" / "clip").glob("*.png"))
    flows = sorted((out / "flows" / "clip").glob("*.jpg"))
    assert len(masks) == len(flows) == 5  # a flow picture and a mask for every frame
    m = np.asarray(Image.open(masks[-1]))
    assert m.shape == (72, 96) and set(np.unique(m)) <= {0, 255}
    assert len(sorted((out / "prob" / "clip").glob("*.png"))) == 5
    assert (tmp_path / "overlay" / "clip" / "preview.gif").is_file()


def test_segment_frames_with_flo_files(video, weights, tmp_path, capsys):
    _, synth = video
    frames, flo = tmp_path / "frames", tmp_path / "flo"
    frames.mkdir()
    flo.mkdir()
    for t in range(len(synth)):
        Image.fromarray(synth.frames[t]).save(frames / f"{t:05d}.jpg")
        write_flo(flo / f"{t:05d}.flo", synth.flow("forward", 1)[t])
    out = tmp_path / "out"
    segment.main(
        [
            "--video",
            str(frames),
            "--weights",
            str(weights),
            "--out",
            str(out),
            "--flo",
            str(flo),
            "--img_size",
            "64",
            "64",
        ]
    )
    assert len(sorted((out / "masks" / "frames").glob("*.png"))) == len(synth)
    (flo / "00004.flo").unlink()
    with pytest.raises(SystemExit) as exc:
        segment.main(
            [
                "--video",
                str(frames),
                "--weights",
                str(weights),
                "--out",
                str(out),
                "--flo",
                str(flo),
                "--img_size",
                "64",
                "64",
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "00004.flo" in err and "missing" in err
