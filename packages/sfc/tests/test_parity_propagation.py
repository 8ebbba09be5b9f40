"""Fusion, context, top-k, recurrence, label maps vs. the original's numbers (parity README §4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sfc.inference.features import FeatureExtractor, normalize_frames
from sfc.inference.labels import (
    class_colors,
    class_map,
    downsample_onehot,
    grid_size,
    onehot_from_colors,
)
from sfc.inference.propagation import (
    PAD0,
    LabelPropagator,
    PropagationConfig,
    TopK,
    key_index_bank,
    padded_to_frame,
    radius_mask,
)
from sfc.model.encoder import make_encoder


def config_of(case, search="local") -> PropagationConfig:
    o = case["options"]
    return PropagationConfig(
        topk=o["topk"],
        video_len=o["videoLen"],
        radius=o["radius"],
        temperature=o["temperature"],
        long_mem=tuple(o["long_mem"]),
        norm_mask=o["norm_mask"],
        search=search,
        tile=4,
    )


@pytest.fixture(scope="module")
def runs(cases, checkpoint_dir, helpers):
    """Per case: fused features, first soft label, and the propagation with both searches."""
    out = {}
    for name, case in cases.items():
        o = case["options"]
        fc = make_encoder(o["fc_model"], checkpoint_dir)
        sem = make_encoder(o["semantic_model"], checkpoint_dir) if o["semantic_model"] else None
        extractor = FeatureExtractor(fc, sem, o["lambd"])
        frames = case["inputs"]["frames_uint8"].numpy()
        features = torch.cat([extractor(normalize_frames(f)) for f in frames])
        bgr0 = helpers.bgr0(case)
        colors = class_colors(bgr0)
        soft0 = downsample_onehot(onehot_from_colors(bgr0, colors), grid_size(frames.shape[1:3]))
        run = {"features": features, "colors": colors, "soft0": soft0}
        for search in ("local", "dense"):
            propagator = LabelPropagator(config_of(case, search), len(frames))
            soft = [propagator.start(features[0], torch.from_numpy(soft0))]
            selections = [propagator.select(0, features[0].permute(1, 2, 0).contiguous())]
            for t in range(1, len(frames)):
                soft.append(propagator.step(features[t]))
                selections.append(propagator.last_selection)
            run[search] = {"soft": torch.stack(soft), "selections": selections}
        out[name] = run
    return out


CASE_NAMES = ["case_sfc", "case_fc_only"]
SEARCHES = ["local", "dense"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_class_colors_and_first_soft_label(cases, runs, name):
    inputs = cases[name]["inputs"]
    assert np.array_equal(runs[name]["colors"], inputs["label_colors_bgr"].numpy())
    assert np.abs(runs[name]["soft0"] - inputs["first_frame_soft_label"].numpy()).max() <= 5e-5


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fused_features(cases, runs, name):
    prop = cases[name]["propagation"]
    fused = runs[name]["features"][:, prop["fused_channels"]]
    assert (fused - prop["fused_normalized_features"]).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", CASE_NAMES)
def test_key_indices_and_radius_mask(cases, name):
    case = cases[name]
    o, prop = case["options"], case["propagation"]
    T, H, W = case["inputs"]["labels"].shape
    assert torch.equal(key_index_bank(T, o["videoLen"], tuple(o["long_mem"])), prop["key_indices"])
    h, w = grid_size((H, W))
    assert torch.equal(radius_mask(h, w, o["radius"]), prop["radius_mask"])


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("search", SEARCHES)
def test_topk(cases, runs, name, search):
    case = cases[name]
    prop, n = case["propagation"], case["options"]["videoLen"]
    P = prop["radius_mask"].shape[0]
    compared = 0
    for t, selection in enumerate(runs[name][search]["selections"]):
        ours_w = selection.weights.sort(dim=1).values
        ref_w = prop["topk_weights"][t].T.sort(dim=1).values
        assert (ours_w - ref_w).abs().max().item() <= 1e-4
        frame_of_entry = torch.tensor([padded_to_frame(int(i), n) for i in prop["key_indices"][t]])
        ref_idx = prop["topk_indices"][t].T
        ref_frames, ref_pos = frame_of_entry[ref_idx // P], ref_idx % P
        our_frames = frame_of_entry[selection.entries]
        gap = prop["topk_gap"][t].reshape(-1)
        for v in range(P):
            if gap[v] < 1e-4:
                continue
            ref = sorted(zip(ref_frames[v].tolist(), ref_pos[v].tolist(), strict=True))
            ours = sorted(zip(our_frames[v].tolist(), selection.positions[v].tolist(), strict=True))
            assert ours == ref, (t, v)
            compared += 1
    assert compared > 0.9 * P * len(runs[name][search]["selections"])


@pytest.mark.parametrize("name", CASE_NAMES)
def test_recurrence_alone(cases, runs, name):
    """The reference's top-k fed into our update reproduces its soft labels to 1e-6."""
    case = cases[name]
    prop, o = case["propagation"], case["options"]
    n, P = o["videoLen"], prop["radius_mask"].shape[0]
    h, w = prop["soft_labels"].shape[1:3]
    first = case["inputs"]["first_frame_soft_label"]
    propagator = LabelPropagator(config_of(case))
    propagator.start(runs[name]["features"][0], first)
    soft = [first]
    for t in range(1, len(prop["soft_labels"])):
        idx = prop["topk_indices"][t].T
        entries = idx // P
        indices = prop["key_indices"][t].tolist()
        sources = torch.tensor(
            [PAD0 if (e == 0 and i == 0) else padded_to_frame(i, n) for e, i in enumerate(indices)]
        )[entries]
        pred = propagator.predict(TopK(prop["topk_weights"][t].T, entries, idx % P, sources))
        propagator._store(t, runs[name]["features"][t].permute(1, 2, 0).contiguous(), pred)
        propagator.t = t
        soft.append(pred.reshape(h, w, -1))
    assert (torch.stack(soft) - prop["soft_labels"]).abs().max().item() <= 1e-6


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("search", SEARCHES)
def test_soft_labels_and_class_maps(cases, runs, name, search):
    prop = cases[name]["propagation"]
    soft = runs[name][search]["soft"]
    assert (soft - prop["soft_labels"]).abs().max().item() <= 1e-4
    size = prop["class_maps"].shape[1:]
    maps = np.stack([class_map(s.numpy(), size) for s in soft])
    differ = maps != prop["class_maps"].numpy()
    assert not (differ & ~prop["near_tie"].numpy()).any()


def test_lambda_weights_features_not_affinities(runs, cases):
    """The fused affinity is (λ²·fc + sem)/(1+λ²): check it on the fixture's features."""
    case = cases["case_sfc"]
    fused = runs["case_sfc"]["features"][:2]  # (2, 1280, h, w)
    lam = case["options"]["lambd"]
    fc, sem = fused[:, :256], fused[:, 256:]
    fc_unit = fc / fc.norm(dim=1, keepdim=True)
    sem_unit = sem / sem.norm(dim=1, keepdim=True)
    a = fused[0].flatten(1).T @ fused[1].flatten(1)
    expected = (
        lam**2 * fc_unit[0].flatten(1).T @ fc_unit[1].flatten(1)
        + sem_unit[0].flatten(1).T @ sem_unit[1].flatten(1)
    ) / (1 + lam**2)
    assert (a - expected).abs().max().item() < 1e-5
