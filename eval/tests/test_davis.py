"""DAVIS 2017 end to end: golden CSVs, frame / object / void rules, matching, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eval_fixtures import square, write_davis_sequence, write_image_set
from PIL import Image
from vos_common.io import write_label_map
from vos_eval.__main__ import main
from vos_eval.davis import evaluate_davis

DATA = Path(__file__).parent / "data"
SHAPE = (40, 60)  # diagonal 72.1 -> F tolerance ceil(0.577) = 1 pixel


def golden_set(root: Path, results: Path) -> None:
    """Two sequences whose values are worked out by hand (see the golden CSVs).

    seqA (5 frames, scored 1..3): object 1 is a 3x3 square predicted 2 columns to the right
    (J = 3/15, F = 2/3 with the 1-pixel tolerance); object 2 is a 4x4 square predicted exactly
    on frames 1, 2 and missed on frame 3 (J = F = 1, 1, 0). seqB (4 frames, scored 1..2):
    object 1 is predicted exactly on frame 1 and is absent from GT and prediction on frame 2
    (J = F = 1); object 2 appears after frame 0 with an id above K = 1 and is ignored.
    Predictions for the first and last frames are deliberately absent.
    """
    gt_a, pred_a = [], []
    for t in range(5):
        gt = square(SHAPE, 10, 10, 3, 1)
        square(SHAPE, 25, 40, 4, 2, gt)
        pred = square(SHAPE, 10, 12, 3, 1)
        if t != 3:
            square(SHAPE, 25, 40, 4, 2, pred)
        gt_a.append(gt)
        pred_a.append(pred if t not in (0, 4) else None)
    write_davis_sequence(root, "seqA", gt_a, pred_a, results)
    gt_b = [
        square(SHAPE, 5, 5, 5, 1),
        square(SHAPE, 5, 5, 5, 1),
        np.zeros(SHAPE, np.uint8),
        np.zeros(SHAPE, np.uint8),
    ]
    for labels in gt_b[1:]:
        square(SHAPE, 30, 30, 5, 2, labels)
    pred_b = [None, square(SHAPE, 5, 5, 5, 1), np.zeros(SHAPE, np.uint8), None]
    write_davis_sequence(root, "seqB", gt_b, pred_b, results)
    write_image_set(root, ["seqA", "seqB"])


def test_golden_csvs_are_byte_identical(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    assert (
        main(
            [
                "davis",
                "--task",
                "semi-supervised",
                "--davis-path",
                str(davis_root),
                "--results-path",
                str(results),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (results / "global_results-val.csv").read_bytes() == (
        DATA / "golden_global_results-val.csv"
    ).read_bytes()
    assert (results / "per-sequence_results-val.csv").read_bytes() == (
        DATA / "golden_per-sequence_results-val.csv"
    ).read_bytes()
    out = capsys.readouterr().out
    assert out.startswith("Protocol: DAVIS 2017 semi-supervised")
    report = json.loads((results / "results-val.json").read_text())
    assert report["protocol"] == "davis2017-semi-supervised"
    assert report["objects"][0]["frames"] == ["00001", "00002", "00003"]
    assert report["objects"][1]["J"] == [1.0, 1.0, 0.0]
    assert (DATA / "golden_console-val.txt").read_text() in out


def test_python_api_returns_the_per_frame_values(davis_root, tmp_path):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    result = evaluate_davis(davis_root, results)
    by_name = {obj.name: obj for obj in result.objects}
    assert by_name["seqA_1"].frames == ["00001", "00002", "00003"]
    assert by_name["seqA_1"].j == pytest.approx([0.2] * 3)
    assert by_name["seqA_1"].f == pytest.approx([2 / 3] * 3)
    assert list(by_name["seqA_2"].j) == [1.0, 1.0, 0.0]
    assert by_name["seqA_2"].j_stats.decay == 1.0
    assert list(by_name["seqB_1"].f) == [1.0, 1.0]
    assert result["J&F-Mean"] == pytest.approx(0.7)
    assert "first and last frames are not scored" in result.description
    parallel = evaluate_davis(davis_root, results, workers=2)
    assert parallel.global_scores == result.global_scores


def test_object_set_comes_from_the_first_frame(davis_root, tmp_path):
    """Id 1 is absent from frame 0 but below K = 2: it is scored, as 1 where both are empty."""
    results = tmp_path / "results"
    gt = [square(SHAPE, 5, 5, 4, 2) for _ in range(4)]
    square(SHAPE, 20, 20, 4, 1, gt[2])
    pred = [None, square(SHAPE, 5, 5, 4, 2), square(SHAPE, 5, 5, 4, 2), None]
    write_davis_sequence(davis_root, "late", gt, pred, results)
    write_image_set(davis_root, ["late"])
    objects = {obj.object_id: obj for obj in evaluate_davis(davis_root, results).objects}
    assert list(objects[1].j) == [1.0, 0.0]  # both empty, then missed
    assert list(objects[2].j) == [1.0, 1.0]


def void_set(root: Path, results: Path, annotations: str) -> None:
    gt = []
    for _ in range(3):
        labels = square(SHAPE, 10, 10, 4, 1)
        labels[10:14, 14:18] = 255  # void strip right of the object
        gt.append(labels)
    pred = [
        square(SHAPE, 10, 10, 4, 1, square(SHAPE, 10, 14, 4, 1)) for _ in range(3)
    ]  # covers the void
    write_davis_sequence(root, "void", gt, pred, results, annotations)
    write_image_set(root, ["void"])


def test_void_counts_as_background_in_semi_supervised(davis_root, tmp_path):
    void_set(davis_root, tmp_path / "r", "Annotations")
    result = evaluate_davis(davis_root, tmp_path / "r", task="semi-supervised")
    assert result.objects[0].j == pytest.approx([0.5])  # 16 of 32 predicted pixels are right


def test_void_is_ignored_in_unsupervised(davis_root, tmp_path):
    void_set(davis_root, tmp_path / "r", "Annotations_unsupervised")
    result = evaluate_davis(davis_root, tmp_path / "r", task="unsupervised")
    assert list(result.objects[0].j) == [1.0, 1.0, 1.0]  # all frames scored, void ignored
    assert list(result.objects[0].f) == [1.0, 1.0, 1.0]


def unsupervised_set(root: Path, results: Path, n_noise: int) -> None:
    gt, pred = [], []
    for _ in range(3):
        labels = square(SHAPE, 5, 5, 6, 1)
        square(SHAPE, 5, 40, 6, 2, labels)
        gt.append(labels)
        guess = square(SHAPE, 5, 40, 6, 3)  # proposal 3 finds object 2
        square(SHAPE, 5, 5, 6, 5, guess)  # proposal 5 finds object 1
        for extra in range(n_noise):  # small noise proposals 6, 7, ...
            guess[30 + extra // 20, extra % 20] = 6 + extra
        square(SHAPE, 25, 25, 2, 1, guess)  # proposal 1 is noise
        pred.append(guess)
    write_davis_sequence(root, "uns", gt, pred, results, "Annotations_unsupervised")
    write_image_set(root, ["uns"])


def test_unsupervised_matching_and_official_row_names(davis_root, tmp_path):
    unsupervised_set(davis_root, tmp_path / "r", n_noise=15)  # proposals up to id 20
    result = evaluate_davis(davis_root, tmp_path / "r", task="unsupervised")
    rows = [(obj.name, obj.object_id, obj.proposal_id) for obj in result.objects]
    # Rows follow proposal order: proposal 3 (object 2) is reported first, as uns_1.
    assert rows == [("uns_1", 2, 3), ("uns_2", 1, 5)]
    assert result["J-Mean"] == 1.0


def test_fewer_proposals_than_objects_are_padded(davis_root, tmp_path):
    results = tmp_path / "r"
    gt = [square(SHAPE, 5, 5, 6, 1, square(SHAPE, 5, 40, 6, 2)) for _ in range(3)]
    pred = [square(SHAPE, 5, 40, 6, 1) for _ in range(3)]  # one proposal, on object 2
    write_davis_sequence(davis_root, "pad", gt, pred, results, "Annotations_unsupervised")
    write_image_set(davis_root, ["pad"])
    objects = evaluate_davis(davis_root, results, task="unsupervised").objects
    assert [(o.object_id, o.proposal_id, float(o.j_stats.mean)) for o in objects] == [
        (2, 1, 1.0),
        (1, None, 0.0),
    ]


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args) + ["--no-progress"])
    return stop.value.code, capsys.readouterr().err


def assert_refused(
    capsys, root: Path, results: Path, needle: list[str], task: str = "semi-supervised"
) -> None:
    code, err = run_cli(
        capsys, "davis", "--task", task, "--davis-path", str(root), "--results-path", str(results)
    )
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    for word in needle:
        assert word in err, err
    assert not list(results.glob("*.csv")) if results.is_dir() else True


def test_more_than_20_proposals_is_refused(davis_root, tmp_path, capsys):
    unsupervised_set(davis_root, tmp_path / "r", n_noise=16)  # id 21 appears
    assert_refused(
        capsys,
        davis_root,
        tmp_path / "r",
        ["'uns'", "frame 00000", "id 21", "20 proposals"],
        task="unsupervised",
    )


def test_missing_prediction_frame(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    (results / "seqA" / "00002.png").unlink()
    assert_refused(capsys, davis_root, results, ["'seqA'", "frame 00002", "does not exist"])


def test_prediction_of_the_wrong_size(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    write_label_map(results / "seqB" / "00001.png", np.zeros((30, 60), np.uint8))
    assert_refused(capsys, davis_root, results, ["'seqB'", "frame 00001", "60x30", "60x40"])


def test_rgb_prediction(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(results / "seqA" / "00001.png")
    assert_refused(capsys, davis_root, results, ["'seqA'", "frame 00001", "RGB"])


def test_binary_0_255_prediction_in_a_multi_object_task(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    Image.fromarray(square(SHAPE, 10, 10, 3, 255)).save(results / "seqA" / "00001.png")
    assert_refused(
        capsys, davis_root, results, ["'seqA'", "frame 00001", "id 255", "0/255 binary mask"]
    )


def test_ids_above_the_ground_truth_object_count(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    write_label_map(results / "seqB" / "00002.png", square(SHAPE, 30, 30, 5, 2))
    assert_refused(capsys, davis_root, results, ["'seqB'", "frame 00002", "id 2", "1 object(s)"])


def test_empty_results_folder(davis_root, tmp_path, capsys):
    golden_set(davis_root, tmp_path / "unused")
    (tmp_path / "empty").mkdir()
    assert_refused(
        capsys, davis_root, tmp_path / "empty", ["no prediction folder", "2 sequence(s)"]
    )


def test_no_silent_cache_and_explicit_reuse(davis_root, tmp_path, capsys):
    results = tmp_path / "results"
    golden_set(davis_root, results)
    (results / "global_results-val.csv").write_text(
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
        "1.000,1.000,1.000,0.000,1.000,1.000,0.000\n"
    )
    (results / "per-sequence_results-val.csv").write_text(
        "Sequence,J-Mean,F-Mean\nseqA_1,1.000,1.000\n"
    )
    main(
        ["davis", "--davis-path", str(davis_root), "--results-path", str(results), "--no-progress"]
    )
    assert (results / "global_results-val.csv").read_text().splitlines()[1].startswith("0.700")
    capsys.readouterr()
    main(["davis", "--davis-path", str(davis_root), "--results-path", str(results), "--reuse-csv"])
    assert "REUSING precomputed results" in capsys.readouterr().out
