"""OAST's test-time pipeline (spec §5, the evident intent of the release's ``test.py``).

Pre-processing on the 8-bit pictures with PIL: the frame resized bilinearly and the flow picture
with nearest neighbour to the network size (384×640; the aspect ratio is not kept), the frame
normalised with the ImageNet mean/std, the flow picture only scaled to [0, 1]. Post-processing:
sigmoid of the logits, bilinear resize with ``align_corners=True`` to the original (H, W),
foreground where the probability is ≥ 0.5. No flip or multi-scale test-time augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from oast.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_network
from oast.model.network import check_input_size

__all__ = ["preprocess", "postprocess", "Predictor", "THRESHOLD"]

THRESHOLD = 0.5


def preprocess(
    frame: np.ndarray,
    flow_picture: np.ndarray,
    size: Sequence[int] = (384, 640),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image, flow)`` tensors 3×H×W of an RGB uint8 frame and its flow picture."""
    if frame.shape[:2] != flow_picture.shape[:2]:
        raise ValueError(
            f"frame {frame.shape[1]}x{frame.shape[0]} and flow picture "
            f"{flow_picture.shape[1]}x{flow_picture.shape[0]} differ in size"
        )
    out = to_network(
        Image.fromarray(frame),
        Image.fromarray(flow_picture),
        None,
        (int(size[0]), int(size[1])),
        mean,
        std,
    )
    return out["image"], out["flow"]


def postprocess(
    logits: torch.Tensor, size: tuple[int, int], threshold: float = THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, probability)`` at ``size`` = (H, W) from ``1×h×w`` (or ``h×w``) logits:
    mask uint8 0/255, probability float32 in [0, 1]."""
    prob = torch.sigmoid(logits.float()).reshape(1, 1, *logits.shape[-2:])
    prob = F.interpolate(prob, size=tuple(size), mode="bilinear", align_corners=True)[0, 0]
    prob = prob.cpu().numpy()
    return np.where(prob >= threshold, np.uint8(255), np.uint8(0)), prob


class Predictor:
    """Run a :class:`~oast.model.network.MobileViTVOS` in eval mode on frames + flow pictures."""

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device = "cpu",
        size: Sequence[int] = (384, 640),
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        check_input_size(int(size[0]), int(size[1]))
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.size = (int(size[0]), int(size[1]))
        self.mean, self.std = tuple(mean), tuple(std)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        """B×1×H×W logits of pre-processed batches."""
        return self.model(images.to(self.device), flows.to(self.device))[0]

    def predict(self, frame: np.ndarray, flow_picture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mask 0/255, probability)`` of one frame at its original size."""
        image, flow = preprocess(frame, flow_picture, self.size, self.mean, self.std)
        logits = self.logits(image[None], flow[None])[0]
        return postprocess(logits, frame.shape[:2])
