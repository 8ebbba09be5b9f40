"""A tiny config learns: OAST (xxs, 64×64, from scratch, CPU) trained with ``tiny_learn.yaml`` on
the synthetic benchmark segments held-out videos better than thresholding the flow magnitude."""

from __future__ import annotations

import numpy as np
import torch
from oast.checkpoint import load_weights
from oast.config import PhaseABConfig, config_path
from oast.data.datasets import OASTFrames
from oast.model.losses import iou_metric
from oast.model.network import MobileViTVOS
from oast.unlabeled_train import train
from vos_common.config import load_config
from vos_common.synth import SynthConfig, generate_videos, write_benchmark


def flow_magnitude_baseline(frames: OASTFrames, rule: str = "mean") -> float:
    """Foreground where the flow magnitude (read back from the colour wheel: 1 − min channel)
    exceeds its frame mean (``mean``) or half its frame maximum (``half_max``); mean IoU."""
    ious = []
    for i in range(len(frames)):
        s = frames[i]
        magnitude = 1 - s["flow"].min(0).values
        threshold = magnitude.mean() if rule == "mean" else 0.5 * magnitude.max()
        pred = (magnitude > threshold).float()[None, None]
        ious.append(iou_metric(pred, s["mask"][None]))
    return float(np.mean(ious))


def test_tiny_config_beats_flow_threshold(tmp_path):
    root = tmp_path / "data"
    config = SynthConfig(height=72, width=96, frames=4, num_objects=1, late_objects=0, seed=11)
    write_benchmark(generate_videos(config, count=64), format="oast", out=root)
    cfg = load_config(
        config_path("tiny_learn"),
        PhaseABConfig,
        ["data.data_dir", str(root), "save_dir", str(tmp_path / "runs")],
    )
    summary = train(cfg, argv=["test_learning"])
    assert len(summary["epochs"]) == 6
    first, last = summary["epochs"][0], summary["epochs"][-1]
    assert last["seg"] < first["seg"]

    val = OASTFrames(root, ["DAVIS-2016"], "test", (64, 64))
    model = MobileViTVOS("xxs")
    load_weights(model, summary["last"])
    model.eval()
    ious = []
    with torch.no_grad():
        for i in range(len(val)):
            s = val[i]
            logits = model(s["image"][None], s["flow"][None])[0]
            ious.append(iou_metric((torch.sigmoid(logits) >= 0.5).float(), s["mask"][None]))
    learned, baseline = float(np.mean(ious)), flow_magnitude_baseline(val)
    half_max = flow_magnitude_baseline(val, "half_max")
    print(
        f"held-out IoU: OAST tiny {learned:.3f}, flow magnitude > frame mean {baseline:.3f}, "
        f"> half frame max {half_max:.3f}"
    )
    assert learned > baseline + 0.1
