"""Equality with vos-benchmark (the official per-object J/F code) where the semantics agree.

vos-benchmark reproduces the official per-object J and F; it differs from the official
protocol only in which frames an object's list starts at and which ids count as objects
(evaluation.md 2.11). The comparison therefore uses objects present in the ground truth of
the first scored frame, whose frame lists coincide. Skipped only when vos-benchmark is not
importable (install ``vos-benchmark`` to run it).
"""

from __future__ import annotations

import numpy as np
import pytest

vos_benchmark = pytest.importorskip(
    "vos_benchmark.benchmark", reason="vos-benchmark is not installed"
)

from vos_benchmark.evaluator import Evaluator  # noqa: E402
from vos_benchmark.utils import _seg2bmap  # noqa: E402
from vos_common.io import read_label_map, write_label_map  # noqa: E402
from vos_eval import evaluate_davis  # noqa: E402
from vos_eval.metrics import boundary_map, disk  # noqa: E402


def perturb(labels: np.ndarray, rng: np.random.Generator, n_objects: int) -> np.ndarray:
    """Shift / grow / shrink each object, drop a few: an imperfect but plausible prediction."""
    out = np.zeros_like(labels)
    for object_id in range(1, n_objects + 1):
        mask = labels == object_id
        if not mask.any() or rng.random() < 0.1:
            continue
        shift = (int(rng.integers(-5, 6)), int(rng.integers(-5, 6)))
        mask = np.roll(mask, shift, axis=(0, 1))
        if rng.random() < 0.5:
            mask[::7, :] = False  # thin holes and a ragged boundary
        out[mask] = object_id
    return out


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
    synth = pytest.importorskip("vos_common.synth")
    root = tmp_path_factory.mktemp("synth")
    config = synth.SynthConfig(height=480, width=854, frames=8, seed=7, num_objects=(2, 3))
    synth.write_benchmark(synth.generate_videos(config, count=2), format="davis2017", out=root)
    names = sorted(p.name for p in (root / "Annotations" / "480p").iterdir())
    (root / "ImageSets" / "2017" / "both.txt").write_text("\n".join(names) + "\n")
    results = root / "results"
    rng = np.random.default_rng(0)
    for name in names:
        paths = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        n_objects = int(read_label_map(paths[0]).max())
        for path in paths:
            write_label_map(
                results / name / path.name, perturb(read_label_map(path), rng, n_objects)
            )
    return root, results, names


def test_per_object_j_and_f_equal_vos_benchmark(synthetic_set):
    root, results, names = synthetic_set
    ours = evaluate_davis(root, results, subset="both")
    compared = 0
    for name in names:
        gt_paths = sorted((root / "Annotations" / "480p" / name).glob("*.png"))[1:-1]
        reference = Evaluator(name=name)
        for path in gt_paths:
            reference.feed_frame(read_label_map(results / name / path.name), read_label_map(path))
        iou, boundary = reference.conclude()
        present = set(np.unique(read_label_map(gt_paths[0])).tolist())
        for obj in (o for o in ours.objects if o.sequence == name and o.object_id in present):
            assert obj.j_stats.mean * 100 == pytest.approx(iou[obj.object_id], abs=1e-12)
            assert obj.f_stats.mean * 100 == pytest.approx(boundary[obj.object_id], abs=1e-12)
            compared += 1
    assert compared >= 3
    assert any(o.j_stats.mean < 0.99 for o in ours.objects)  # predictions really are imperfect


def test_boundary_map_and_disk_equal_the_official_ones():
    from skimage.morphology import disk as official_disk

    rng = np.random.default_rng(5)
    for _ in range(100):
        mask = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.random()
        assert np.array_equal(boundary_map(mask), _seg2bmap(mask))
    for radius in (6, 7, 8, 9, 10, 12, 18):
        assert np.array_equal(disk(radius), official_disk(radius))
