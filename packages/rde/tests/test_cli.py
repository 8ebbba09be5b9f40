"""Entry points on the synthetic benchmark: outputs, formats, one-line errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from rde.parity import tiny_random_network
from vos_common.checkpoint import save_checkpoint
from vos_common.io.masks import read_label_map, write_label_map
from vos_common.synth import SynthConfig, generate_videos, write_benchmark


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rde_cli")
    davis = SynthConfig(height=60, width=90, frames=6, num_objects=(2, 2), late_objects=0, seed=1)
    write_benchmark(generate_videos(davis, 3), format="davis2017", out=root / "DAVIS" / "trainval")
    yv = SynthConfig(height=48, width=64, frames=16, num_objects=(2, 2), late_objects=1, seed=2)
    write_benchmark(generate_videos(yv, 3), format="ytvos2019", out=root / "YouTube")
    net = tiny_random_network(0)
    save_checkpoint(net.state_dict(), root / "tiny.pth")
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("mem_compress.")}
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4]
    save_checkpoint(state, root / "stage0.pth")
    return root


def run(module, argv):
    import importlib

    return importlib.import_module(f"rde.{module}").main([str(a) for a in argv])


def test_eval_davis_writes_palette_masks(data, tmp_path):
    out = tmp_path / "pred"
    run("eval_davis", ["--output", out, "--davis_path", data / "DAVIS", "--model", data / "tiny.pth",
                       "--mode", "two-frames-compress", "--mem_every", "3", "--top", "8"])
    videos = (data / "DAVIS/trainval/ImageSets/2017/val.txt").read_text().split()
    for video in videos:
        files = sorted((out / video).glob("*.png"))
        assert [f.name for f in files] == [f"{t:05d}.png" for t in range(6)]
        with Image.open(files[0]) as image:
            assert image.mode == "P" and image.size == (90, 60)
        gt0 = read_label_map(data / "DAVIS/trainval/Annotations/480p" / video / "00000.png")
        assert (read_label_map(files[0]) == gt0).mean() > 0.99  # frame 0 = aggregated GT
    assert not list(out.glob(".*partial"))


def test_eval_davis_2016_accepts_the_readme_command(data, tmp_path, capsys):
    out = tmp_path / "pred16"
    run("eval_davis_2016", ["--output", out, "--davis_path", data / "DAVIS", "--model",
                            data / "tiny.pth", "--mode", "two-frames-compress", "--mem_every", "3",
                            "--top", "8", "--split", "testdev", "--amp"])
    assert "--split testdev: ignored" in capsys.readouterr().err
    files = sorted(out.rglob("*.png"))
    assert files
    with Image.open(files[1]) as image:
        assert image.mode == "L" and set(np.unique(np.asarray(image))) <= {0, 255}


def test_eval_youtube_late_object_and_meta_frames(data, tmp_path):
    out = tmp_path / "yv"
    run("eval_youtube", ["--output", out, "--yv_path", data / "YouTube", "--model", data / "tiny.pth",
                         "--mem_every", "4", "--top", "8", "--res", "-1"])
    meta = json.loads((data / "YouTube/valid/meta.json").read_text())["videos"]
    late = 0
    for video, info in meta.items():
        listed = sorted({f for obj in info["objects"].values() for f in obj["frames"]})
        first = min(obj["frames"][0] for obj in info["objects"].values())
        written = sorted(p.stem for p in (out / "Annotations" / video).glob("*.png"))
        assert written == [f for f in listed if f >= first]
        ids = {int(k) for k in info["objects"]}
        seen = set()
        for name in written:
            seen |= set(np.unique(read_label_map(out / "Annotations" / video / f"{name}.png")))
        assert seen - {0} <= ids  # original (non-contiguous) ids
        late += any(obj["frames"][0] != first for obj in info["objects"].values())
    assert late  # the benchmark has an object that starts later


def test_eval_generic_and_segment(data, tmp_path):
    root = tmp_path / "generic"
    video = (data / "DAVIS/trainval/ImageSets/2017/val.txt").read_text().split()[0]
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations" / video).mkdir(parents=True)
    (root / "JPEGImages" / video).symlink_to(data / "DAVIS/trainval/JPEGImages/480p" / video)
    first = read_label_map(data / "DAVIS/trainval/Annotations/480p" / video / "00000.png")
    write_label_map(root / "Annotations" / video / "00000.png", np.where(first == 2, 7, first))
    run("eval_generic", ["--data_path", root, "--output", tmp_path / "gen", "--model",
                         data / "tiny.pth", "--top", "8", "--res", "-1"])
    out = read_label_map(tmp_path / "gen" / video / "00000.png")
    assert set(np.unique(out)) <= {0, 1, 7}
    seg = tmp_path / "seg"
    run("segment", ["--video", data / "DAVIS/trainval/JPEGImages/480p" / video, "--mask",
                    root / "Annotations" / video / "00000.png", "--model", data / "tiny.pth",
                    "--out", seg, "--top", "8", "--res", "-1", "--save-overlay"])
    assert len(list(seg.glob("*.png"))) == 6
    assert (seg / "overlay" / "preview.gif").is_file()


def bad(capsys, module, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run(module, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_stage0_checkpoint_is_refused(data, tmp_path, capsys):
    line = bad(capsys, "eval_davis", ["--output", tmp_path / "x", "--davis_path", data / "DAVIS",
                                      "--model", data / "stage0.pth"])
    assert "stage0.pth" in line and "stage-0" in line and "mem_compress" in line


def test_incomplete_checkpoint_names_missing_keys(data, tmp_path, capsys):
    import torch

    state = torch.load(data / "tiny.pth", weights_only=True)
    del state["mem_compress.compress_key.weight"]
    save_checkpoint(state, tmp_path / "broken.pth")
    line = bad(capsys, "eval_davis", ["--output", tmp_path / "x", "--davis_path", data / "DAVIS",
                                      "--model", tmp_path / "broken.pth"])
    assert "broken.pth" in line and "mem_compress.compress_key.weight" in line


def test_top_k_larger_than_memory(data, tmp_path, capsys):
    line = bad(capsys, "eval_davis", ["--output", tmp_path / "x", "--davis_path", data / "DAVIS",
                                      "--model", data / "tiny.pth", "--mode", "compress",
                                      "--top", "100"])
    assert "top-k 100" in line and "1..24" in line


def test_mask_of_wrong_size(data, tmp_path, capsys):
    video = data / "DAVIS/trainval/JPEGImages/480p"
    name = sorted(p.name for p in video.iterdir())[0]
    write_label_map(tmp_path / "small.png", np.ones((20, 30), np.uint8))
    line = bad(capsys, "segment", ["--video", video / name, "--mask", tmp_path / "small.png",
                                   "--model", data / "tiny.pth", "--out", tmp_path / "o"])
    assert "small.png" in line and "30x20" in line
    assert not (tmp_path / "o").exists()
