"""The fast unsupervised path equals a direct transcription of the official rules.

The reference below scores every (proposal, object) pair on full frames with the void mask
passed to J and F, pads proposals up to K, and matches with SciPy's Hungarian solver on
the mean (J+F)/2, reporting pairs in proposal order: evaluation.md 2.6, written plainly.
"""

from __future__ import annotations

import numpy as np
from eval_fixtures import write_davis_sequence, write_image_set
from scipy.optimize import linear_sum_assignment
from vos_eval import evaluate_davis
from vos_eval.metrics import boundary_measure, region_similarity


def reference(
    gt_frames: list[np.ndarray], pred_frames: list[np.ndarray]
) -> list[tuple[int, int, list, list]]:
    n_objects = int(gt_frames[0][gt_frames[0] != 255].max(initial=0))
    n_proposals = max(int(max(p.max() for p in pred_frames)), n_objects)
    j = np.zeros((n_proposals, n_objects, len(gt_frames)))
    f = np.zeros_like(j)
    for t, (gt, pred) in enumerate(zip(gt_frames, pred_frames, strict=True)):
        void = gt == 255
        for p in range(n_proposals):
            for k in range(n_objects):
                j[p, k, t] = region_similarity(pred == p + 1, gt == k + 1, void)
                f[p, k, t] = boundary_measure(pred == p + 1, gt == k + 1, void)
    rows, cols = linear_sum_assignment(-(np.mean(j, axis=2) + np.mean(f, axis=2)) / 2)
    pairs = zip(rows, cols, strict=True)
    return [(int(k) + 1, int(p) + 1, list(j[p, k]), list(f[p, k])) for p, k in pairs]


def random_scene(rng: np.random.Generator, shape=(36, 52), frames=4) -> tuple[list, list]:
    gt_frames, pred_frames = [], []
    centres = rng.uniform(5, 30, (3, 2))
    for t in range(frames):
        gt = np.zeros(shape, np.uint8)
        for k, (y, x) in enumerate(centres):
            if t > 0 or k < 2:  # object 3 appears late
                gt[int(y) + t : int(y) + t + 8, int(x) : int(x) + 10] = k + 1
        gt[0:4, 0 : shape[1] : 3] = 255  # void strip
        pred = np.zeros(shape, np.uint8)
        for proposal in rng.permutation(np.arange(1, rng.integers(2, 8))):
            y, x = rng.integers(0, shape[0] - 6), rng.integers(0, shape[1] - 6)
            pred[y : y + rng.integers(3, 12), x : x + rng.integers(3, 14)] = proposal
        pred[gt == 1] = 4 if rng.random() < 0.8 else 0  # a good proposal for object 1, mostly
        gt_frames.append(gt)
        pred_frames.append(pred)
    return gt_frames, pred_frames


def test_fast_unsupervised_equals_the_reference(davis_root, tmp_path):
    rng = np.random.default_rng(11)
    results = tmp_path / "results"
    scenes = {}
    for index in range(6):
        gt, pred = random_scene(rng)
        scenes[f"s{index}"] = (gt, pred)
        write_davis_sequence(davis_root, f"s{index}", gt, pred, results, "Annotations_unsupervised")
    write_image_set(davis_root, sorted(scenes))
    ours = evaluate_davis(davis_root, results, task="unsupervised")
    for name, (gt, pred) in scenes.items():
        expected = reference(gt, pred)
        got = [o for o in ours.objects if o.sequence == name]
        assert [o.name for o in got] == [f"{name}_{i + 1}" for i in range(len(expected))]
        for obj, (object_id, _proposal, j, f) in zip(got, expected, strict=True):
            assert obj.object_id == object_id
            assert list(obj.j) == j and list(obj.f) == f
