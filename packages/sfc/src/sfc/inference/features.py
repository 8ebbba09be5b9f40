"""Frame normalisation and the late fusion of the FC and semantic features (spec 1, 4.3).

Each encoder's map is L2-normalised over channels at every position; with both encoders the
normalised FC map is multiplied by ``lambd``, concatenated in front of the semantic map, and the
result is normalised again. λ therefore weights *features*: the fused cosine affinity is
``(λ²·⟨f, f'⟩ + ⟨s, s'⟩) / (1 + λ²)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sfc.model.encoder import Encoder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_frames(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``(H, W, 3)`` or ``(N, H, W, 3)`` → float32 ``(N, 3, H, W)``, ImageNet statistics.

    The arithmetic is the reference loader's, step for step (float32 ``/ 255``, then per channel
    ``sub_(mean)`` and ``div_(std)``), so the inputs are bit-identical.
    """
    array = rgb.numpy() if isinstance(rgb, torch.Tensor) else np.asarray(rgb)
    return normalize_unit_frames(array.astype(np.float32) / 255.0)


def normalize_unit_frames(unit: np.ndarray) -> torch.Tensor:
    """float32 RGB in [0, 1] ``(H, W, 3)`` / ``(N, H, W, 3)`` → normalised ``(N, 3, H, W)``."""
    array = np.asarray(unit, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) RGB frames, got shape {array.shape}")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()
    for channel, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)):
        x[:, channel].sub_(mean)
        x[:, channel].div_(std)
    return x


def fuse_features(
    fc: torch.Tensor | None, semantic: torch.Tensor | None, lambd: float = 1.75
) -> torch.Tensor:
    """Unit vectors per position from the raw FC and/or semantic maps ``(N, C, h, w)``."""
    parts = [f for f in (fc, semantic) if f is not None]
    if not parts:
        raise ValueError("at least one of the FC and semantic features is needed")
    if len(parts) == 1:
        return F.normalize(parts[0], dim=1)
    fused = torch.cat([F.normalize(fc, dim=1) * lambd, F.normalize(semantic, dim=1)], dim=1)
    return F.normalize(fused, dim=1)


class FeatureExtractor:
    """The FC encoder, the semantic encoder, or both, with the λ fusion.

    ``extractor(frames)`` maps normalised frames ``(N, 3, H, W)`` to fused unit vectors
    ``(N, C, ceil(H/8), ceil(W/8))``; ``raw(frames)`` gives each encoder's raw output.
    """

    def __init__(
        self,
        fc: Encoder | None = None,
        semantic: Encoder | None = None,
        lambd: float = 1.75,
        device: str | torch.device = "cpu",
    ):
        if fc is None and semantic is None:
            raise ValueError("give an FC model, a semantic model, or both")
        self.fc, self.semantic, self.lambd = fc, semantic, float(lambd)
        self.device = torch.device(device)

    @property
    def channels(self) -> int:
        return sum(e.channels for e in (self.fc, self.semantic) if e is not None)

    @property
    def encoders(self) -> Sequence[Encoder]:
        return [e for e in (self.fc, self.semantic) if e is not None]

    @torch.no_grad()
    def raw(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        frames = frames.to(self.device)
        out = {}
        if self.fc is not None:
            out["fc"] = self.fc(frames).float()
        if self.semantic is not None:
            out["semantic"] = self.semantic(frames).float()
        return out

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        raw = self.raw(frames)
        return fuse_features(raw.get("fc"), raw.get("semantic"), self.lambd)

    def describe(self) -> str:
        names = [
            f"fc={self.fc.model_type}" if self.fc else "fc=none",
            f"semantic={self.semantic.model_type}" if self.semantic else "semantic=none",
        ]
        if self.fc is not None and self.semantic is not None:
            names.append(f"lambd={self.lambd}")
        return ", ".join(names)
