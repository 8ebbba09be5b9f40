"""Inference on evaluation frames: RCF's 8-bit mask export and its in-code IoU metric.

Export (spec §5.2): each slot's probability is bilinearly resized (align_corners False) to twice
the mask resolution and written as an RGB PNG with three equal channels, value
``floor(255 p + 0.5)`` computed in float32 (what ``torchvision.utils.save_image`` writes), named
``pred_seg_<seq>_<frame stem>_<step:07d>.png``, under ``<slot>/`` when every slot is exported.
Files are written atomically.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm
from vos_common.io import atomic_save


def export_file_name(sequence: str, frame_stem: str, step: int) -> str:
    return f"pred_seg_{sequence}_{frame_stem}_{step:07d}.png"


def quantise_probabilities(probs: torch.Tensor) -> torch.Tensor:
    """``[N, C, h, w]`` probabilities -> uint8 at ``2h x 2w``, ``floor(255 p + 0.5)``."""
    h, w = probs.shape[-2:]
    up = F.interpolate(probs.float(), size=(2 * h, 2 * w), mode="bilinear", align_corners=False)
    return up.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def write_grey_rgb_png(path: str | os.PathLike, values: np.ndarray) -> None:
    """An ``(H, W)`` uint8 map as an RGB PNG with three equal channels, atomically."""
    rgb = np.repeat(values[..., None], 3, axis=2)
    atomic_save(path, lambda tmp: Image.fromarray(rgb, "RGB").save(tmp, format="PNG"))


def frame_iou(pred: np.ndarray, ann: np.ndarray) -> float:
    """IoU of the foreground (ann 255), pixels marked 128 ignored; NaN for an empty union."""
    valid = ann != 128
    gt = (ann == 255) & valid
    pr = pred.astype(bool) & valid
    union = np.logical_or(gt, pr).sum()
    if union == 0:
        return float("nan")
    return float(np.logical_and(gt, pr).sum() / union)


@dataclass
class ExportResult:
    frames: int = 0
    written: list[str] = field(default_factory=list)
    ious: dict[str, list[float]] = field(default_factory=dict)
    object_channel: int | None = None
    best_channel_counts: Counter = field(default_factory=Counter)

    def miou(self) -> tuple[float, float]:
        """``(test_miou, test_miou_frame_avg)``: mean of per-sequence nan-means; frame mean."""
        if not self.ious:
            return float("nan"), float("nan")
        per_seq = [
            float(np.nanmean(v)) if not all(math.isnan(x) for x in v) else float("nan")
            for v in self.ious.values()
        ]
        frames = [x for v in self.ious.values() for x in v]
        return float(np.mean(per_seq)), float(np.sum(frames) / len(frames))


def _collate(items: list[dict]) -> list[dict]:
    return items


@torch.no_grad()
def run_export(
    model,
    dataset,
    out_dir: str | os.PathLike,
    *,
    step: int,
    export_all_seg: bool,
    object_channel: int | None,
    eval_pos_th: float = -1.0,
    batch_size: int = 2,
    workers: int = 0,
    device: torch.device | str = "cpu",
    export: bool = True,
    progress: bool = True,
    desc: str = "export",
) -> ExportResult:
    """Segment every frame of a :class:`~rcf.data.dataset.FrameDataset`, export and score.

    ``object_channel None`` with ``export_all_seg false`` is refused by the caller. The in-code
    metric upsamples with ``align_corners=True`` to the annotation, binarises by ``p > eval_pos_th``
    or arg-max (``-1``) and uses the object slot, or the best slot per frame when none is set.
    """
    out_dir = Path(out_dir)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate
    )
    model.eval()
    result = ExportResult(object_channel=object_channel)
    bar = tqdm(total=len(dataset), desc=desc, unit="frame", disable=not progress)
    for items in loader:
        groups: dict[tuple, list[dict]] = {}
        for item in items:
            groups.setdefault(tuple(item["image"].shape), []).append(item)
        for group in groups.values():
            images = torch.stack([g["image"] for g in group]).to(device)
            probs = model.segment(images).float()
            quantised = quantise_probabilities(probs).cpu().numpy() if export else None
            for k, item in enumerate(group):
                ref = dataset.items[int(item["index"])]
                stem = ref.path.stem
                if export:
                    if export_all_seg:
                        for slot in range(probs.shape[1]):
                            path = out_dir / str(slot) / export_file_name(ref.sequence, stem, step)
                            write_grey_rgb_png(path, quantised[k, slot])
                            result.written.append(str(path))
                    else:
                        path = out_dir / export_file_name(ref.sequence, stem, step)
                        write_grey_rgb_png(path, quantised[k, object_channel])
                        result.written.append(str(path))
                if "ann" in item:
                    ann = item["ann"].numpy()
                    up = F.interpolate(
                        probs[k : k + 1], size=ann.shape, mode="bilinear", align_corners=True
                    )[0]
                    if eval_pos_th != -1:
                        binary = (up > eval_pos_th).cpu().numpy()
                    else:
                        binary = (
                            F.one_hot(up.argmax(0), probs.shape[1]).permute(2, 0, 1).cpu().numpy()
                        )
                    if object_channel is None:
                        scores = [frame_iou(binary[c], ann) for c in range(binary.shape[0])]
                        best = (
                            int(np.nanargmax(scores))
                            if not all(math.isnan(s) for s in scores)
                            else 0
                        )
                        result.best_channel_counts[best] += 1
                        value = scores[best]
                    else:
                        value = frame_iou(binary[object_channel], ann)
                    result.ious.setdefault(ref.sequence, []).append(value)
                result.frames += 1
                bar.update()
    bar.close()
    return result
