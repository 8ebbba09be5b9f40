"""RCF: stage 1 of the smoke config (``rcf.train``) on the synthetic DAVIS 2016 layout, then
the object slot, then frame-by-frame inference through ``rcf.runtime`` (what ``rcf.segment``
does), on any benchmark read through ``vos_common.datasets``. No flow is needed at inference.

Post-processing: RCF's dense CRF (as ``rcf.segment --crf`` and the paper's headline numbers).

Object slot: RCF picks it with motion-appearance alignment on DINO features (``rcf.maa``).
DINO weights are not available offline, so the synthetic matrix picks the slot with the best
J on the *train* split's ground truth (never on the evaluated videos). Real checkpoints
carry their slot in ``object_channel.txt`` next to the file, as ``rcf.maa`` writes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm
from vos_common.datasets import VideoSequence, open_dataset
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text
from vos_eval.metrics import region_similarity

from vos_matrix.cells import Cell
from vos_matrix.runners.base import (
    BINARY_PROTOCOLS,
    Prediction,
    RunContext,
    Runner,
    open_benchmark,
    opts_tokens,
    timed,
    write_prediction,
)
from vos_matrix.runners.entry import run_entry
from vos_matrix.weights import Weights, cached_training, file_digest, given_checkpoint

SYNTHETIC_EVAL_CONFIG = "configs/smoke/rcf_eval.yaml"
REAL_EVAL_CONFIG = "configs/rcf/rcf_eval.yaml"


class SlotSegmenter:
    """Slot probabilities of one frame with a trained RCF model (the ``rcf.segment`` path)."""

    def __init__(self, config_name: str, checkpoint: Path, device: str):
        from rcf.config import load_rcf_config
        from rcf.runtime import build_model, default_device, load_pretrained_into

        self.config = load_rcf_config(config_name, [])
        self.device = default_device(device)
        self.model = build_model(self.config, None, with_crf=False)
        load_pretrained_into(self.model, self.config, str(checkpoint))
        self.model.to(self.device).eval()
        self.slots = self.config.model_kwargs.mask_layer

    def probabilities(self, frame: np.ndarray) -> torch.Tensor:
        """``(slots, H, W)`` probabilities at the frame's size."""
        from rcf.data.transforms import eval_image

        with torch.no_grad():
            image = eval_image(frame, self.config.test_transform_kwargs)[None].to(self.device)
            probs = self.model.segment(image)
            return F.interpolate(probs, size=frame.shape[:2], mode="bilinear", align_corners=False)[
                0
            ].cpu()


def choose_slot(
    segmenter: SlotSegmenter, sequences: list[VideoSequence]
) -> tuple[int, list[float]]:
    """The slot whose ``> 0.5`` masks have the best mean J over the annotated frames given."""
    scores: list[list[float]] = [[] for _ in range(segmenter.slots)]
    for sequence in sequences:
        for index in sequence.annotated_frames:
            gt = sequence.read_mask(index) > 0
            probs = segmenter.probabilities(np.asarray(sequence.read_frame(index)))
            for slot in range(segmenter.slots):
                scores[slot].append(region_similarity(probs[slot].numpy() > 0.5, gt))
    means = [float(np.mean(s)) for s in scores]
    return int(np.argmax(means)), means


class RCFRunner(Runner):
    name = "rcf"

    def settings(self, cell: Cell, ctx: RunContext) -> dict:
        return {
            "stage": "1 (stage 2 not run)",
            "post-processing": "RCF's dense CRF (pydensecrf)",
            "crf_sxy": "60 x frame height / 480",
            "config": SYNTHETIC_EVAL_CONFIG if ctx.synthetic else REAL_EVAL_CONFIG,
        }

    def weights(self, cell: Cell, ctx: RunContext) -> Weights:
        entry = self.weights_entry(cell, ctx)
        if "checkpoint" in entry:
            path = given_checkpoint(entry, ctx.weights_dir)
            slot_file = path.with_name("object_channel.txt")
            if not slot_file.is_file():
                raise VOSDataError(
                    slot_file, "object slot file missing (rcf.maa writes it next to last.ckpt)"
                )
            text = slot_file.read_text().strip()
            if not text.isdigit():
                raise VOSDataError(slot_file, f"object slot must be an integer, got {text!r}")
            return Weights(
                path,
                "checkpoint",
                extra={
                    "object_channel": int(text),
                    "config": entry.get("config", REAL_EVAL_CONFIG),
                },
            )
        from rcf import __version__ as version
        from rcf import train
        from rcf.config import resolve_config_path

        config = entry["train"]
        opts = opts_tokens(entry)
        data = ctx.data.root("davis2016")

        def run(run_dir: Path):
            torch.set_num_threads(max(1, ctx.threads))
            stage1 = run_dir / "stage1"
            run_entry(
                train.main,
                "rcf.train",
                [
                    config,
                    "--no-test",
                    "--opts",
                    "data_path",
                    data,
                    "checkpoints_dir",
                    stage1,
                    *opts,
                ],
                ctx.log,
            )
            checkpoint = stage1 / "last.ckpt"
            segmenter = SlotSegmenter(SYNTHETIC_EVAL_CONFIG, checkpoint, ctx.device)
            slot, means = choose_slot(
                segmenter, list(open_dataset("davis2016", data, split="train"))
            )
            atomic_write_text(stage1 / "object_channel.txt", f"{slot}\n")
            ctx.log(
                f"rcf: object slot {slot} (train-split J per slot: "
                + ", ".join(f"{m:.3f}" for m in means)
                + ")"
            )
            return checkpoint, {
                "object_channel": slot,
                "train_j_per_slot": means,
                "config": SYNTHETIC_EVAL_CONFIG,
            }

        digest_parts = {
            f"{path.parent.name}/{path.name}": file_digest(path)
            for path in (
                resolve_config_path(config),
                resolve_config_path("configs/smoke/smoke_scale.yaml"),
                resolve_config_path("configs/rcf/rcf_stage1.yaml"),
            )
        }
        key = {
            "method": self.name,
            "version": version,
            "config": config,
            "digests": digest_parts,
            "opts": opts,
            "data": ctx.data.synthetic_folder.name,
        }
        return cached_training(ctx.cache, self.name, key, run, ctx.log)

    def predict(self, cell: Cell, weights: Weights, ctx: RunContext, out: Path) -> Prediction:
        bench = cell.benchmark.name
        binary = cell.protocol in BINARY_PROTOCOLS
        slot = int(weights.extra["object_channel"])
        frames = 0
        with timed() as clock:
            segmenter = SlotSegmenter(
                weights.extra.get("config", REAL_EVAL_CONFIG), weights.path, ctx.device
            )
            if not 0 <= slot < segmenter.slots:
                raise VOSDataError(
                    weights.path, f"object slot {slot} out of range 0..{segmenter.slots - 1}"
                )
            for sequence in tqdm(
                open_benchmark(bench, ctx.data.root(bench)),
                desc=cell.id,
                unit="video",
                disable=not ctx.progress,
                leave=False,
            ):
                for index in range(len(sequence)):
                    frame = np.asarray(sequence.read_frame(index))
                    probs = segmenter.probabilities(frame)
                    write_prediction(
                        out, sequence, index, crf_mask(frame, probs[slot].numpy()), binary
                    )
                    frames += 1
        return Prediction(out, frames, clock(), [f"object slot {slot}", "RCF CRF post-processing"])


def crf_mask(frame: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """RCF's post-processing (``rcf.segment --crf``): dense CRF of the 8-bit slot probability,
    spatial scale 60 px at 480 px height, scaled to the frame; {0, 1} uint8."""
    from vos_common.crf.params import RCF_CRF
    from vos_common.crf.pydense import rcf_crf_mask, require_pydensecrf

    require_pydensecrf()
    quantised = np.clip(probability * 255 + 0.5, 0, 255).astype(np.uint8)
    sxy = RCF_CRF.bilateral_sxy * frame.shape[0] / 480
    return (
        rcf_crf_mask(
            frame, quantised, scale=0.8, params=RCF_CRF.scaled(sxy / RCF_CRF.bilateral_sxy)
        )
        > 0
    ).astype(np.uint8)
