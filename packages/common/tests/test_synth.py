"""Tests of the synthetic benchmark: determinism, exactness of masks and flow, and every layout."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from vos_common.io import DAVIS_PALETTE, VOID_LABEL, read_flo, read_flow_npy, read_frame
from vos_common.synth import FORMATS, SynthConfig, SynthVideo, generate_video, generate_videos, write_benchmark
from vos_common.synth.writers import assign_splits, fbms_annotated_frames, ytvos_valid_id

SMALL = SynthConfig(height=96, width=160, frames=12, num_objects=(2, 3), seed=0)
# Constant light, fast and large overlapping objects: many occlusions, flow errors show up clearly.
STILL_LIGHT = SynthConfig(height=96, width=160, frames=8, num_objects=4, seed=11, brightness_change=0.0,
                          max_speed=0.08, object_size=(0.2, 0.3))


@pytest.fixture(scope="module")
def still_videos() -> list[SynthVideo]:
    return generate_videos(STILL_LIGHT, 3)


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def sample(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` read at ``x + flow(x)`` (bilinear unless told otherwise)."""
    xs, ys = pixel_grid(*flow.shape[:2])
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def clean_targets(video: SynthVideo, t: int, target: int, flow: np.ndarray) -> np.ndarray:
    """Pixels whose target lies inside frame ``target`` with all four bilinear neighbours showing
    the source pixel's layer: there interpolating frame ``target`` mixes only that surface."""
    height, width = flow.shape[:2]
    xs, ys = pixel_grid(height, width)
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    ok = (tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1)
    x0 = np.clip(np.floor(np.nan_to_num(tx)).astype(int), 0, width - 1)
    y0 = np.clip(np.floor(np.nan_to_num(ty)).astype(int), 0, height - 1)
    for yy in (y0, np.minimum(y0 + 1, height - 1)):
        for xx in (x0, np.minimum(x0 + 1, width - 1)):
            ok &= video.masks[target][yy, xx] == video.masks[t]
    return ok


# ------------------------------------------------------------------------- generation
def test_same_seed_gives_identical_videos_and_index_alone_equals_index_in_batch():
    alone = generate_video(SMALL, 2)
    again = generate_video(SMALL, 2)
    batch = generate_videos(SMALL, 4)
    for other in (again, batch[2]):
        assert other.name == alone.name == "synth-0002"
        np.testing.assert_array_equal(other.frames, alone.frames)
        np.testing.assert_array_equal(other.masks, alone.masks)
        np.testing.assert_array_equal(other.flow("forward", 1), alone.flow("forward", 1))
        assert other.first_appearance == alone.first_appearance
    assert not np.array_equal(batch[1].frames, alone.frames)
    assert not np.array_equal(generate_video(SynthConfig(seed=1, num_objects=(2, 3)), 2).frames, alone.frames)


def test_shapes_dtypes_and_flow_nan_pattern():
    video = generate_video(SMALL, 0)
    frames, height, width = SMALL.frames, SMALL.height, SMALL.width
    assert video.frames.shape == (frames, height, width, 3) and video.frames.dtype == np.uint8
    assert video.masks.shape == (frames, height, width) and video.masks.dtype == np.uint8
    assert set(video.flows) == {("forward", 1), ("forward", 2), ("backward", 1), ("backward", 2)}
    for (direction, gap), flow in video.flows.items():
        assert flow.shape == (frames, height, width, 2) and flow.dtype == np.float32
        has_target = [0 <= (t + gap if direction == "forward" else t - gap) < frames for t in range(frames)]
        for t in range(frames):
            assert np.isfinite(flow[t]).all() == has_target[t]
            assert np.isnan(flow[t]).all() == (not has_target[t])
    with pytest.raises(ValueError):
        video.flow("sideways", 1)
    with pytest.raises(ValueError):
        video.flow("forward", 0)


def test_object_ids_categories_and_first_appearance_match_masks():
    for video in generate_videos(SMALL, 4):
        present = sorted(int(i) for i in np.unique(video.masks) if i != 0)
        assert video.object_ids == present
        assert set(video.first_appearance) == set(present) == set(video.categories)
        assert sorted(video.depth_order) == list(range(1, len(video.depth_order) + 1))
        assert set(present) <= set(video.depth_order)
        for object_id, first in video.first_appearance.items():
            areas = (video.masks == object_id).sum(axis=(1, 2))
            assert areas[first] >= min(SMALL.min_visible_pixels, areas.max())
            assert (areas[:first] < SMALL.min_visible_pixels).all()


def test_late_objects_enter_mid_video_and_none_without_asking():
    late = generate_videos(dataclasses.replace(SMALL, late_objects=1), 4)
    for video in late:
        starts = {layer.object_id: layer.start for layer in video.scene.layers[1:]}
        assert sorted(starts.values())[:-1] == [0] * (len(starts) - 1) and max(starts.values()) > 0
        for object_id, start in starts.items():
            assert not (video.masks[:start] == object_id).any()  # nothing of it before it exists
        assert (video.masks[0] > 0).any()  # at most K - 1 objects start late
    assert any(first > 0 for v in late for first in v.first_appearance.values())
    on_time = generate_videos(dataclasses.replace(SMALL, late_objects=0), 4)
    assert all(layer.start == 0 for v in on_time for layer in v.scene.layers)


def test_textures_move_and_brightness_varies():
    video = generate_video(SMALL, 1)
    assert np.ptp(video.gain) > 0.02
    assert float(np.abs(np.diff(video.frames.astype(np.int16), axis=0)).mean()) > 2.0
    frame = video.frames[0].astype(np.float32)
    assert float(np.abs(cv2.Laplacian(frame, cv2.CV_32F)).mean()) > 2.0  # textured, not flat colour


def test_objects_differ_from_background_in_colour_but_not_trivially():
    """Nearest-mean colour classification of object vs background pixels is informative but
    far from perfect, averaged over videos (objects must be found by motion and texture too)."""
    accuracies, distances = [], []
    for video in generate_videos(SMALL, 8):
        pixels = video.frames[0].reshape(-1, 3).astype(np.float64)
        is_object = (video.masks[0] > 0).reshape(-1)
        object_mean, background_mean = pixels[is_object].mean(0), pixels[~is_object].mean(0)
        says_object = np.linalg.norm(pixels - object_mean, axis=1) < np.linalg.norm(pixels - background_mean, axis=1)
        accuracies.append(0.5 * (says_object[is_object].mean() + (~says_object[~is_object]).mean()))
        distances.append(np.linalg.norm(object_mean - background_mean))
    assert np.mean(distances) > 10.0
    assert 0.55 < np.mean(accuracies) < 0.9


# ----------------------------------------------------------------------------- flow
def test_warping_next_frame_with_forward_flow_reproduces_frame(still_videos):
    exact, shifted = [], []
    for video in still_videos:
        for direction, gap in (("forward", 1), ("forward", 2), ("backward", 1)):
            flow = video.flow(direction, gap)
            for t in range(len(video)):
                target = t + gap if direction == "forward" else t - gap
                if not 0 <= target < len(video):
                    continue
                keep = clean_targets(video, t, target, flow[t])
                assert keep.mean() > 0.5
                source = video.frames[t].astype(np.float32)
                nxt = video.frames[target].astype(np.float32)
                exact.append(np.abs(sample(nxt, flow[t]) - source).max(axis=-1)[keep])
                shifted.append(np.abs(sample(nxt, flow[t] + 0.75) - source).max(axis=-1)[keep])
    exact, shifted = np.concatenate(exact), np.concatenate(shifted)
    assert exact.mean() < 1.5
    assert np.percentile(exact, 99) < 8.0
    assert shifted.mean() > 3 * exact.mean()  # the check is sensitive to sub-pixel flow errors


def test_exact_flow_minimises_the_photometric_error_of_every_layer(still_videos):
    """Nudging any layer's flow by a quarter pixel, or scaling a fast layer's flow by 5 %, makes
    the warped next frame match worse: the generated flow is right to well under that."""
    nudges = {"x+": (0.25, 0.0), "x-": (-0.25, 0.0), "y+": (0.0, 0.25), "y-": (0.0, -0.25)}
    for video in still_videos:
        flow = video.flow("forward", 1)
        for layer_id in [0, *video.object_ids]:
            errors: dict[str, list[np.ndarray]] = {}
            speeds = []
            for t in range(len(video) - 1):
                keep = clean_targets(video, t, t + 1, flow[t]) & (video.masks[t] == layer_id)
                source, nxt = video.frames[t].astype(np.float32), video.frames[t + 1].astype(np.float32)
                candidates = {"exact": flow[t], "x0.95": flow[t] * 0.95, "x1.05": flow[t] * 1.05,
                              **{name: flow[t] + np.float32(step) for name, step in nudges.items()}}
                for name, candidate in candidates.items():
                    errors.setdefault(name, []).append(np.abs(sample(nxt, candidate) - source).mean(axis=-1)[keep])
                speeds.append(np.linalg.norm(flow[t], axis=-1)[keep])
            if sum(e.size for e in errors["exact"]) < 300:
                continue
            mean = {name: float(np.concatenate(e).mean()) for name, e in errors.items()}
            compared = list(nudges) + (["x0.95", "x1.05"] if np.median(np.concatenate(speeds)) > 2.0 else [])
            assert all(mean["exact"] < mean[name] for name in compared), (video.name, layer_id, mean)


def test_brightness_gain_explains_the_remaining_change():
    video = generate_video(SMALL, 1)
    flow = video.flow("forward", 1)
    errors = []
    for t in range(len(video) - 1):
        keep = clean_targets(video, t, t + 1, flow[t])
        warped = sample(video.frames[t + 1].astype(np.float32), flow[t]) / video.gain[t + 1]
        errors.append(np.abs(warped - video.frames[t] / video.gain[t]).max(axis=-1)[keep])
    assert np.concatenate(errors).mean() < 1.5


def test_forward_backward_consistency_and_gap_two_composition(still_videos):
    for video in still_videos:
        forward, backward, forward2 = video.flow("forward", 1), video.flow("backward", 1), video.flow("forward", 2)
        for t in range(len(video) - 1):
            keep = clean_targets(video, t, t + 1, forward[t])
            round_trip = forward[t] + sample(backward[t + 1], forward[t])
            assert np.abs(round_trip[keep]).max() < 0.05
            if t + 2 < len(video):
                # keep: the four frame-(t+1) neighbours show the same layer, whose flow is smooth.
                composed = forward[t] + sample(forward[t + 1], forward[t])
                assert np.abs((composed - forward2[t])[keep]).max() < 0.05


def test_masks_follow_the_flow_and_occluders_are_in_front(still_videos):
    """Warping with the flow, a pixel lands on its own object or on one in front of it, never on
    a layer behind it (background counts as the back-most layer)."""
    kernel = np.ones((3, 3), np.uint8)
    for video in still_videos:
        depth = np.full(256, -1)  # background: the back-most layer
        depth[video.depth_order] = np.arange(len(video.depth_order))
        flow = video.flow("forward", 1)
        height, width = video.size
        xs, ys = pixel_grid(height, width)
        agree = total = 0
        for t in range(len(video) - 1):
            nxt = video.masks[t + 1]
            landed = sample(nxt, flow[t], cv2.INTER_NEAREST)
            # Only targets well inside the frame and inside one region, so rounding cannot matter.
            uniform = (cv2.dilate(nxt, kernel) == cv2.erode(nxt, kernel)).astype(np.uint8)
            tx, ty = xs + flow[t, ..., 0], ys + flow[t, ..., 1]
            check = (tx >= 1) & (tx <= width - 2) & (ty >= 1) & (ty <= height - 2)
            check &= sample(uniform, flow[t], cv2.INTER_NEAREST).astype(bool)
            source, target = video.masks[t][check], landed[check]
            assert (depth[target] >= depth[source]).all()
            agree += int((source == target).sum())
            total += int(check.sum())
        assert agree / total > 0.9


def test_flow_valid_marks_occlusions_and_frame_exits():
    video = generate_video(SMALL, 0)
    valid = video.flow_valid("forward", 1)
    assert not valid[-1].any()
    assert 0.5 < valid[:-1].mean() < 1.0


def test_classic_optical_flow_tracks_the_textures():
    """OpenCV DIS recovers the exact flow far better than assuming no motion."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    estimated, still = [], []
    for video in generate_videos(dataclasses.replace(SMALL, brightness_change=0.0), 2):
        flow, valid = video.flow("forward", 1), video.flow_valid("forward", 1)
        for t in range(len(video) - 1):
            grey = [cv2.cvtColor(video.frames[k], cv2.COLOR_RGB2GRAY) for k in (t, t + 1)]
            guess = dis.calc(grey[0], grey[1], None)
            estimated.append(np.linalg.norm(guess - flow[t], axis=-1)[valid[t]])
            still.append(np.linalg.norm(flow[t], axis=-1)[valid[t]])
    epe, zero = np.concatenate(estimated).mean(), np.concatenate(still).mean()
    assert epe < 0.6 and epe < 0.4 * zero


def test_small_clips_render_fast():
    start = time.perf_counter()
    generate_videos(SynthConfig(height=96, width=160, frames=12), 4)
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- layouts
FORMAT_CONFIG = SynthConfig(height=48, width=80, frames=11, num_objects=(2, 3), seed=5, fbms_every=4)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[SynthVideo]]:
    """Four videos (the second with a single object) in every layout, under ``root/<format>/``."""
    single = dataclasses.replace(FORMAT_CONFIG, num_objects=1)
    videos = [generate_video(FORMAT_CONFIG, 0), generate_video(single, 1), generate_video(FORMAT_CONFIG, 2),
              generate_video(FORMAT_CONFIG, 3)]
    root = tmp_path_factory.mktemp("synth")
    summary = write_benchmark(videos, format="all", out=root)
    assert summary.formats == FORMATS and summary.videos == 4 and summary.frames == 44
    assert summary.files == sum(1 for p in root.rglob("*") if p.is_file())
    return root, videos


def test_splits_put_two_thirds_in_train_and_keep_both_non_empty():
    assert assign_splits(1) == [("train", "val")]
    assert assign_splits(2) == [("train",), ("val",)]
    assert [s[0] for s in assign_splits(4)] == ["train", "train", "train", "val"]
    assert fbms_annotated_frames(11, 4) == [0, 3, 7]
    assert fbms_annotated_frames(41, 20) == [0, 19, 39]


def test_davis2017_layout(written):
    root, videos = written
    root = root / "davis2017"
    for video in videos:
        seq, count = video.name, len(video)
        frames = sorted((root / "JPEGImages/480p" / seq).iterdir())
        assert [p.name for p in frames] == [f"{t:05d}.jpg" for t in range(count)]
        assert np.abs(read_frame(frames[0]).astype(int) - video.frames[0]).mean() < 4  # JPEG q95
        for t in (0, count - 1):
            semi = Image.open(root / f"Annotations/480p/{seq}/{t:05d}.png")
            assert semi.mode == "P"
            np.testing.assert_array_equal(np.asarray(semi.getpalette()).reshape(-1, 3)[:22], DAVIS_PALETTE[:22])
            np.testing.assert_array_equal(np.asarray(semi), video.masks[t])
            unsupervised = np.asarray(Image.open(root / f"Annotations_unsupervised/480p/{seq}/{t:05d}.png"))
            kept = unsupervised != VOID_LABEL
            assert (~kept).any() and (~kept).mean() < 0.25
            np.testing.assert_array_equal(unsupervised[kept], video.masks[t][kept])
        assert sorted(p.name for p in (root / f"Flows_NewCT/480p/{seq}").iterdir()) == [f"{t:05d}.npy" for t in range(1, count)]
        np.testing.assert_array_equal(read_flow_npy(root / f"Flows_NewCT/480p/{seq}/00003.npy"), video.flow("forward", 1)[2])
        np.testing.assert_array_equal(read_flow_npy(root / f"BackwardFlows_NewCT/480p/{seq}/00003.npy"), video.flow("backward", 1)[3])
        for direction in ("forward", "backward"):
            for gap in (1, 2):
                folder = root / f"OpticalFlow/{direction}_gap{gap}/{seq}"
                sources = range(count - gap) if direction == "forward" else range(gap, count)
                assert sorted(p.name for p in folder.iterdir()) == [f"{t:05d}.flo" for t in sources]
                t = sources[0]
                np.testing.assert_array_equal(read_flo(folder / f"{t:05d}.flo"), video.flow(direction, gap)[t])
    for year in ("2016", "2017"):
        train = (root / f"ImageSets/{year}/train.txt").read_text().split()
        val = (root / f"ImageSets/{year}/val.txt").read_text().split()
        assert train == [v.name for v in videos[:3]] and val == [videos[3].name]


def test_davis2016_layout(written):
    root, videos = written
    root = root / "davis2016"
    video = videos[3]
    mask = Image.open(root / f"Annotations/480p/{video.name}/00004.png")
    assert mask.mode == "L"
    np.testing.assert_array_equal(np.asarray(mask), np.where(video.masks[4] > 0, 255, 0))
    lines = (root / "ImageSets/480p/val.txt").read_text().splitlines()
    assert lines[0] == f"/JPEGImages/480p/{video.name}/00000.jpg /Annotations/480p/{video.name}/00000.png"
    assert len(lines) == len(video)
    assert len((root / "ImageSets/480p/trainval.txt").read_text().splitlines()) == 44
    info = yaml.safe_load((root / "Annotations/db_info.yml").read_text())
    assert [(s["name"], s["set"], s["num_frames"]) for s in info["sequences"]] == [
        (v.name, "train" if i < 3 else "val", 11) for i, v in enumerate(videos)]
    rcf = (root / "train.txt").read_text().splitlines()
    assert rcf[0] == "JPEGImages/480p/synth-0000/ " + " ".join(f"{t:05d}.jpg" for t in range(11))
    assert len((root / "trainval.txt").read_text().splitlines()) == 4
    assert len(list((root / f"Flows_NewCT/480p/{video.name}").iterdir())) == 10


def test_ytvos2019_layout(written):
    root, videos = written
    root = root / "ytvos2019"
    listed = ["00000", "00005", "00010"]
    train_meta = json.loads((root / "train/meta.json").read_text())["videos"]
    assert sorted(train_meta) == [v.name for v in videos[:3]]
    for video in videos[:3]:
        assert sorted(p.stem for p in (root / "train/JPEGImages" / video.name).iterdir()) == listed
        assert sorted(p.stem for p in (root / "train/Annotations" / video.name).iterdir()) == listed
        assert len(list((root / "train_all_frames/JPEGImages" / video.name).iterdir())) == 11
        for object_id, entry in train_meta[video.name]["objects"].items():
            assert entry["category"] == video.categories[int(object_id)]
            assert entry["frames"] == [n for n in listed if (video.masks[int(n)] == int(object_id)).any()]
    video = videos[3]
    valid_meta = json.loads((root / "valid/meta.json").read_text())["videos"][video.name]["objects"]
    expected_ids = {ytvos_valid_id(i) for i in video.object_ids if any((video.masks[int(n)] == i).any() for n in listed)}
    assert {int(i) for i in valid_meta} == expected_ids
    assert expected_ids != set(range(1, len(expected_ids) + 1))  # ids are not contiguous
    starts = {int(i): entry["frames"][0] for i, entry in valid_meta.items()}
    assert any(start != "00000" for start in starts.values()), "no valid object starts after the first frame"
    annotated = sorted(p.stem for p in (root / "valid/Annotations" / video.name).iterdir())
    assert annotated == sorted(set(starts.values()))
    for name in annotated:
        ids = np.asarray(Image.open(root / f"valid/Annotations/{video.name}/{name}.png"))
        assert {int(i) for i in np.unique(ids) if i} == {i for i, s in starts.items() if s == name}
    for object_id, entry in valid_meta.items():
        assert entry["frames"] == listed[listed.index(entry["frames"][0]):] and "category" not in entry
    full = np.asarray(Image.open(root / f"valid_gt/Annotations/{video.name}/00010.png"))
    np.testing.assert_array_equal(full, np.vectorize(ytvos_valid_id)(video.masks[10]))
    assert len(list((root / "valid_all_frames/JPEGImages" / video.name).iterdir())) == 11


def parse_fbms_definition(text: str) -> dict:
    """Read a ``*Def.dat`` the way the FBMS tools do: fixed labels, one value per line."""
    lines = iter(text.splitlines())
    assert next(lines) == "Ground truth definition file; do not change!" and next(lines) == ""
    assert next(lines) == "Total number of regions:"
    regions = int(next(lines))
    codes = []
    for index in range(regions):
        assert next(lines) == f"Scale of region {index}:"
        codes.append(int(next(lines)))
    assert next(lines) == "" and next(lines) == "Confusion penality matrix:"
    matrix = [[int(x) for x in next(lines).split()] for _ in range(regions)]
    assert next(lines) == "" and next(lines) == "Total number of frames in this shot:"
    total = int(next(lines))
    assert next(lines) == "Total number of labeled frames for this shot:"
    labelled = []
    for _ in range(int(next(lines))):
        assert next(lines) == "Frame number:"
        number = int(next(lines))
        assert next(lines) == "File name:"
        gt_name = next(lines)
        assert next(lines) == "Input file name:"
        labelled.append((number, gt_name, next(lines)))
    assert next(lines, None) is None
    return {"codes": codes, "matrix": matrix, "frames": total, "labelled": labelled}


def test_fbms59_layout(written):
    root, videos = written
    root = root / "fbms59"
    for position, video in enumerate(videos):
        folder = root / ("Trainingset" if position < 3 else "Testset") / video.name
        assert sorted(p.name for p in folder.glob("*.jpg")) == sorted(f"{video.name}_{n}.jpg" for n in range(1, 12))
        definition = parse_fbms_definition((folder / f"GroundTruth/{video.name}Def.dat").read_text())
        assert definition["frames"] == 11 and len(definition["codes"]) == len(video.object_ids) + 1
        assert definition["matrix"][0] == [0] + [1] * len(video.object_ids)
        assert [n for n, _, _ in definition["labelled"]] == [0, 3, 7]
        for number, gt_name, input_name in definition["labelled"]:
            assert (folder / input_name).is_file()
            gt = np.asarray(Image.open(folder / "GroundTruth" / gt_name)).astype(np.int64)
            assert gt_name.endswith(".ppm" if position % 2 else ".pgm")
            codes = gt[..., 0] * 65536 + gt[..., 1] * 256 + gt[..., 2] if gt.ndim == 3 else gt
            assert set(np.unique(codes).tolist()) <= set(definition["codes"])
            np.testing.assert_array_equal(codes != 0, video.masks[number] > 0)
    resized = root / "fbms59_resized"
    assert (resized / "val_ann.txt").read_text() == "JPEGImages/synth-0003/ 00000.jpg 00003.jpg 00007.jpg\n"
    assert len((resized / "trainval.txt").read_text().splitlines()) == 4
    assert sorted(p.name for p in (resized / "Annotations/synth-0003").iterdir()) == ["00000.png", "00003.png", "00007.png"]
    assert Image.open(resized / "Annotations/synth-0003/00003.png").mode == "L"
    assert len(list((resized / "BackwardFlows_NewCT/synth-0003").iterdir())) == 10


def test_segtrackv2_layout(written):
    root, videos = written
    root = root / "segtrackv2"
    assert (root / "ImageSets/all.txt").read_text().split() == [f"*{v.name}" for v in videos]
    for position, video in enumerate(videos):
        names = (root / f"ImageSets/{video.name}.txt").read_text().split()
        assert names[0] == f"{video.name}/" and names[1:] == [f"{video.name}_{t:05d}" for t in range(11)]
        ext = ".png" if position % 2 == 0 else ".bmp"
        assert sorted(p.suffix for p in (root / "JPEGImages" / video.name).iterdir()) == [ext] * 11
        gt = root / "GroundTruth" / video.name
        if len(video.object_ids) == 1:
            mask = Image.open(next(gt.glob(f"{video.name}_00000.*")))
            assert mask.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(mask)[..., 0], np.where(video.masks[0] > 0, 255, 0))
            continue
        folders = sorted(p.name for p in gt.iterdir())
        assert folders == [str(n) for n in range(1, len(video.object_ids) + 1)]
        extensions = {next((gt / f).iterdir()).suffix for f in folders}
        assert extensions == {".png", ".bmp"}  # mask extensions differ between objects
        for number, object_id in enumerate(video.object_ids, start=1):
            mask = np.asarray(Image.open(next((gt / str(number)).glob(f"{video.name}_00005.*"))))
            assert mask.shape == (48, 80, 3)
            np.testing.assert_array_equal(mask[..., 0], np.where(video.masks[5] == object_id, 255, 0))
    assert any(len(v.object_ids) == 1 for v in videos)


def test_oast_layout(written):
    root, videos = written
    root = root / "oast"
    expected = {("DAVIS-2016", "train"): videos[:3], ("YouTubeVOS-2018", "train"): videos[:3],
                ("DAVIS-2016", "val"): videos[3:], ("FBMS", "val"): videos[3:], ("Youtube-objects", "val"): videos[3:]}
    assert sorted(f"{d.parent.name}/{d.name}" for d in root.glob("*/*")) == sorted(f"{d}/{s}" for d, s in expected)
    for (dataset, split), members in expected.items():
        base = root / dataset / split
        for video in members:
            images = sorted(p.name for p in (base / "images" / video.name).iterdir())
            assert images == [f"{t:05d}.jpg" for t in range(11)]
            assert sorted(p.name for p in (base / "flows" / video.name).iterdir()) == images
            labels = base / "labels" / video.name
            if dataset == "Youtube-objects":
                assert not labels.exists()
                continue
            stems = sorted(p.stem for p in labels.iterdir())
            assert stems == ([f"{t:05d}" for t in (0, 3, 7)] if dataset == "FBMS" else [f"{t:05d}" for t in range(11)])
            label = Image.open(labels / "00000.png")
            assert label.mode == "L" and set(np.unique(np.asarray(label))) <= {0, 255}
    picture = read_frame(root / f"DAVIS-2016/val/flows/{videos[3].name}/00010.jpg")
    assert picture.shape == (48, 80, 3) and picture.std() > 1  # the last frame has a real flow picture


def test_frames_and_video_layouts(written):
    root, videos = written
    for video in videos:
        frames = sorted((root / "frames" / video.name / "frames").iterdir())
        assert [p.name for p in frames] == [f"{t:05d}.jpg" for t in range(11)]
        for layout in ("frames", "video"):
            first = Image.open(root / layout / video.name / "00000.png")
            assert first.mode == "P"
            np.testing.assert_array_equal(np.asarray(first), video.masks[0])
        capture = cv2.VideoCapture(str(root / "video" / video.name / f"{video.name}.mp4"))
        decoded = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            decoded.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        capture.release()
        assert len(decoded) == 11 and decoded[0].shape == (48, 80, 3)
        assert np.abs(decoded[0].astype(int) - video.frames[0]).mean() < 20


def test_write_benchmark_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_benchmark(generate_videos(FORMAT_CONFIG, 1), format="kitti", out=tmp_path)


def test_config_rejects_nonsense():
    for bad in ({"height": 8}, {"frames": 0}, {"num_objects": (3, 2)}, {"deformation": 0.5}, {"fbms_every": 0}):
        with pytest.raises(ValueError):
            SynthConfig(**bad)


# ------------------------------------------------------------------------------- CLI
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vos_common.synth", *args], capture_output=True, text=True, timeout=120)


def test_cli_help_lists_every_option():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--format", "--out", "--sequences", "--frames", "--size", "--seed", "--objects",
                   "--late-objects", "--fbms-every", "--no-progress", *FORMATS):
        assert option in result.stdout


def test_cli_writes_a_tiny_benchmark(tmp_path):
    result = run_cli("--format", "davis2017", "--out", str(tmp_path), "--sequences", "2", "--frames", "4",
                     "--size", "32x48", "--seed", "7", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "2 videos" in result.stdout and str(tmp_path) in result.stdout
    assert (tmp_path / "ImageSets/2017/val.txt").read_text() == "synth-0001\n"
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "Annotations/480p/synth-0001/00003.png")),
        generate_video(SynthConfig(height=32, width=48, frames=4, seed=7), 1).masks[3])


@pytest.mark.parametrize("args", [
    ("--format", "davis2017", "--out", "OUT", "--size", "12"),
    ("--format", "davis2017", "--out", "OUT", "--sequences", "0"),
    ("--format", "davis2017", "--out", "OUT", "--frames", "-3"),
    ("--format", "kitti", "--out", "OUT"),
    ("--format", "davis2017", "--out", "OUT", "--objects", "3-1"),
])
def test_cli_bad_arguments_fail_with_one_line(tmp_path, args):
    result = run_cli(*(str(tmp_path / "x") if a == "OUT" else a for a in args))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "error" in result.stderr
    assert not (tmp_path / "x").exists()


def test_single_frame_clip_has_no_late_objects_and_no_flow_targets():
    video = generate_video(SynthConfig(height=32, width=48, frames=1, late_objects=2, seed=5), 0)
    assert video.frames.shape == (1, 32, 48, 3)
    assert set(video.first_appearance.values()) == {0}
    assert np.isnan(video.flow("forward", 1)).all()
