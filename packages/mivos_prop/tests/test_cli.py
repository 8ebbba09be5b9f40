"""The entry points on a small synthetic benchmark (DAVIS 2017 / 2016, YouTube-VOS, a video file),
and their one-line errors on bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mivos_prop import eval_davis, eval_davis_2016, eval_youtube, segment, try_correspondence
from mivos_prop.model import ModelSpec, PropagationNetwork
from PIL import Image
from vos_common.io import read_label_map, write_label_map
from vos_common.synth import SynthConfig, generate_videos, write_benchmark
from vos_common.viz import write_mp4


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("mivos_cli")
    cfg = SynthConfig(height=40, width=72, frames=5, num_objects=2, seed=2, late_objects=0)
    videos = generate_videos(cfg, 2)
    write_benchmark(videos, format="davis2017", out=root / "DAVIS" / "2017" / "trainval")
    write_benchmark(videos, format="davis2016", out=root / "DAVIS" / "2016")
    late = SynthConfig(height=40, width=72, frames=11, num_objects=2, seed=4, late_objects=1)
    write_benchmark(generate_videos(late, 1), format="ytvos2019", out=root / "YouTube")
    torch.manual_seed(0)
    net = PropagationNetwork(spec=ModelSpec.smoke())
    torch.save(net.state_dict(), root / "smoke.pth")
    write_mp4(root / "clip.mp4", list(videos[0].frames), fps=10)
    write_label_map(root / "first.png", videos[0].masks[0])
    return {"root": root, "model": str(root / "smoke.pth"), "videos": videos}


def run(module, argv, capsys):
    try:
        code = module.main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def model_args(bench):
    return ["--model", bench["model"], "--smoke-model", "--threads", "1"]


def test_eval_davis_writes_every_frame_with_the_dataset_palette(bench, tmp_path, capsys):
    out = tmp_path / "d17"
    code, stdout, _ = run(
        eval_davis,
        [
            *model_args(bench),
            "--davis",
            str(bench["root"] / "DAVIS" / "2017"),
            "--output",
            str(out),
            "--mem_every",
            "2",
        ],
        capsys,
    )
    assert code == 0
    assert "top_k=50" in stdout and "FPS" in stdout  # the run log names the configuration
    names = Path(bench["root"] / "DAVIS/2017/trainval/ImageSets/2017/val.txt").read_text().split()
    for name in names:
        files = sorted(p.name for p in (out / name).iterdir())
        assert files == [f"{t:05d}.png" for t in range(5)]
        image = Image.open(out / name / "00000.png")
        assert image.mode == "P" and image.size == (72, 40)
        gt = read_label_map(
            bench["root"] / "DAVIS/2017/trainval/Annotations/480p" / name / "00000.png"
        )
        assert np.array_equal(read_label_map(out / name / "00000.png"), gt)  # frame 0 = given mask
        palette = Image.open(
            bench["root"] / "DAVIS/2017/trainval/Annotations/480p" / name / "00000.png"
        ).getpalette()
        assert image.getpalette()[:30] == palette[:30]


def test_eval_davis_2016_writes_binary_masks(bench, tmp_path, capsys):
    out = tmp_path / "d16"
    code, _, _ = run(
        eval_davis_2016,
        [
            *model_args(bench),
            "--davis",
            str(bench["root"] / "DAVIS" / "2016"),
            "--output",
            str(out),
            "--no_top",
        ],
        capsys,
    )
    assert code == 0
    name = (bench["root"] / "DAVIS/2017/trainval/ImageSets/2016/val.txt").read_text().split()[0]
    image = Image.open(out / name / "00003.png")
    assert image.mode == "L" and set(np.unique(np.asarray(image))) <= {0, 255}
    assert len(list((out / name).iterdir())) == 5


def test_eval_youtube_writes_original_ids_from_the_first_annotated_frame(bench, tmp_path, capsys):
    out = tmp_path / "yv"
    code, _, _ = run(
        eval_youtube,
        [
            *model_args(bench),
            "--yv",
            str(bench["root"] / "YouTube"),
            "--output",
            str(out),
            "--use_km",
            "--short-side",
            "32",
        ],
        capsys,
    )
    assert code == 0
    video = next((bench["root"] / "YouTube/valid/Annotations").iterdir())
    annotated = sorted(p.stem for p in video.iterdir())
    written = sorted(p.stem for p in (out / video.name).iterdir())
    all_frames = sorted(
        p.stem
        for p in (bench["root"] / "YouTube/valid_all_frames/JPEGImages" / video.name).iterdir()
    )
    assert written == [f for f in all_frames if f >= annotated[0]]
    ids = set()
    for name in annotated:
        ids |= set(np.unique(read_label_map(video / f"{name}.png")).tolist())
    pred = read_label_map(out / video.name / f"{annotated[0]}.png")
    assert pred.shape == (40, 72)
    assert set(np.unique(pred).tolist()) <= ids  # original (non-contiguous) ids
    late = read_label_map(video / f"{annotated[-1]}.png")
    late_pred = read_label_map(out / video.name / f"{annotated[-1]}.png")
    for obj in set(np.unique(late).tolist()) - {0}:
        assert ((late_pred == obj) & (late == obj)).sum() > 0.5 * (late == obj).sum()


def test_segment_own_video_with_overlays(bench, tmp_path, capsys):
    out, overlay = tmp_path / "seg", tmp_path / "overlay"
    code, stdout, _ = run(
        segment,
        [
            "--video",
            str(bench["root"] / "clip.mp4"),
            "--mask",
            str(bench["root"] / "first.png"),
            "--out",
            str(out),
            *model_args(bench),
            "--max-memory-frames",
            "2",
            "--save-overlay",
            str(overlay),
        ],
        capsys,
    )
    assert code == 0, stdout
    assert sorted(p.name for p in out.iterdir()) == [f"{t:05d}.png" for t in range(5)]
    assert (overlay / "preview.gif").is_file() and len(list(overlay.glob("*.png"))) == 5
    assert "max_memory_frames=2" in stdout


def test_correspondence_picture(bench, tmp_path, capsys):
    frames = bench["root"] / "DAVIS/2017/trainval/JPEGImages/480p" / bench["videos"][0].name
    out = tmp_path / "corr.png"
    code, _, _ = run(
        try_correspondence,
        [
            *model_args(bench),
            "--src",
            str(frames / "00000.jpg"),
            "--tgt",
            str(frames / "00003.jpg"),
            "--point",
            "20,15",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    assert Image.open(out).size == (144, 40)


def test_correspondence_transfer_sums_to_one():
    from mivos_prop.correspondence import correspondence_affinity, point_map, transfer

    torch.manual_seed(0)
    net = PropagationNetwork(spec=ModelSpec.smoke()).eval()
    a, b = torch.randn(3, 40, 72), torch.randn(3, 40, 72)
    weights, grid, pad = correspondence_affinity(net, a, b)
    assert weights.shape == (1, 15, 15) and grid == (3, 5) and pad == (4, 4, 4, 4)
    assert torch.allclose(weights.sum(1), torch.ones(1, 15), atol=1e-5)
    heat = transfer(weights, point_map(20, 15, grid, pad), grid, pad)
    assert heat.shape == (1, 1, 40, 72)
    ones = transfer(weights, torch.ones(1, 1, 3, 5), grid, pad)
    assert torch.allclose(ones, torch.ones_like(ones), atol=1e-5)  # each column of W sums to 1


# ---------------------------------------------------------------------------------- bad input
def one_line_error(code, err) -> str:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def test_checkpoint_with_wrong_keys(bench, tmp_path, capsys):
    state = torch.load(bench["model"], weights_only=True)
    state["decoder.extra.weight"] = state.pop("decoder.pred.weight")
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    code, _, err = run(
        eval_davis,
        [
            "--model",
            str(bad),
            "--smoke-model",
            "--davis",
            str(bench["root"] / "DAVIS" / "2017"),
            "--output",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    line = one_line_error(code, err)
    assert "bad.pth" in line and "decoder.pred.weight" in line and "decoder.extra.weight" in line
    # the released ResNet-50 layout does not fit the smoke model either: shapes are named
    code, _, err = run(
        eval_davis,
        [
            "--model",
            bench["model"],
            "--davis",
            str(bench["root"] / "DAVIS" / "2017"),
            "--output",
            str(tmp_path / "o2"),
        ],
        capsys,
    )
    assert "smoke.pth" in one_line_error(code, err)


def test_mask_of_wrong_size_and_ids_outside_the_palette(bench, tmp_path, capsys):
    small = tmp_path / "small.png"
    write_label_map(small, bench["videos"][0].masks[0][:-2])
    code, _, err = run(
        segment,
        [
            "--video",
            str(bench["root"] / "clip.mp4"),
            "--mask",
            str(small),
            "--out",
            str(tmp_path / "s"),
            *model_args(bench),
        ],
        capsys,
    )
    line = one_line_error(code, err)
    assert "small.png" in line and "72x38" in line
    assert not (tmp_path / "s").exists()
    odd = tmp_path / "odd.png"
    ids = bench["videos"][0].masks[0].copy()
    ids[ids == 2] = 30
    image = Image.frombytes("P", (72, 40), ids.tobytes())
    image.putpalette(list(range(60)))  # 20 colours only (8-bit pixels, short PLTE chunk)
    image.save(odd)
    code, _, err = run(
        segment,
        [
            "--video",
            str(bench["root"] / "clip.mp4"),
            "--mask",
            str(odd),
            "--out",
            str(tmp_path / "s2"),
            *model_args(bench),
        ],
        capsys,
    )
    assert "id 30 but its palette has only 20 colours" in one_line_error(code, err)


def test_missing_frame_is_named(bench, tmp_path, capsys):
    davis = tmp_path / "DAVIS"
    shutil.copytree(bench["root"] / "DAVIS", davis)
    name = (davis / "2017/trainval/ImageSets/2017/val.txt").read_text().split()[0]
    (davis / "2017/trainval/JPEGImages/480p" / name / "00002.jpg").unlink()
    code, _, err = run(
        eval_davis,
        [*model_args(bench), "--davis", str(davis / "2017"), "--output", str(tmp_path / "o")],
        capsys,
    )
    line = one_line_error(code, err)
    assert name in line and "00002" in line
    assert not list((tmp_path / "o").glob(f"{name}/*.png"))  # nothing half-written


def test_missing_mask_file_and_bad_options(bench, tmp_path, capsys):
    code, _, err = run(
        segment,
        [
            "--video",
            str(bench["root"] / "clip.mp4"),
            "--mask",
            str(tmp_path / "nope.png"),
            "--out",
            str(tmp_path / "s"),
            *model_args(bench),
        ],
        capsys,
    )
    assert "nope.png" in one_line_error(code, err)
    code, _, err = run(
        eval_davis,
        [
            *model_args(bench),
            "--davis",
            str(bench["root"] / "DAVIS" / "2017"),
            "--output",
            str(tmp_path / "o"),
            "--max-memory-frames",
            "0",
        ],
        capsys,
    )
    assert "--max-memory-frames" in one_line_error(code, err)


@pytest.mark.parametrize(
    "module,flags",
    [
        (
            eval_davis,
            [
                "--model",
                "--davis",
                "--output",
                "--split",
                "--use_km",
                "--no_top",
                "--top_k",
                "--mem_every",
                "--max-memory-frames",
                "--device",
                "--keep-ids",
                "--save-overlay",
            ],
        ),
        (eval_davis_2016, ["--model", "--davis", "--output", "--no_top", "--imset"]),
        (
            eval_youtube,
            ["--model", "--yv", "--output", "--split", "--use_km", "--no_top", "--short-side"],
        ),
        (
            segment,
            ["--video", "--mask", "--model", "--out", "--save-overlay", "--max-memory-frames"],
        ),
        (try_correspondence, ["--src", "--tgt", "--point", "--mask", "--out"]),
    ],
)
def test_help_explains_every_option(module, flags, capsys):
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text
