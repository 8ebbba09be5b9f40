"""The eval network and the training network of MiVOS propagation.

Both have the same parameters under the same names (597 state_dict entries for the released
ResNet-50 model), so each loads the other's checkpoints with ``strict=True``:

``mask_rgb_encoder`` (value encoder) -> ``rgb_encoder`` (key encoder) -> ``kv_m_f16`` ->
``kv_q_f16`` -> ``decoder``. **Memory keys come from the mask-aware value encoder** through
``kv_m_f16``; the RGB key encoder computes only the query's key and value (``kv_q_f16``) and the
decoder's skip features.

The single-object (stage-0) training network differs in one tensor only:
``mask_rgb_encoder.conv1.weight`` has 4 input channels (RGB + mask) instead of 5 (RGB + mask +
"others").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from vos_common.stm.aggregate import aggregate_logits

from mivos_prop.model.modules import Decoder, KeyValue
from mivos_prop.model.readout import readout, readout_reference
from mivos_prop.model.resnet import ARCH_CHANNELS, KeyEncoder, ValueEncoder

__all__ = ["ModelSpec", "PropagationNetwork", "TrainingNetwork", "others_of"]


@dataclass(frozen=True)
class ModelSpec:
    """Widths of the network. The default is the released model (ResNet-50, keys 128, values 512).

    ``ModelSpec.smoke()`` is the CPU smoke-scale model of the spec (ResNet-18 encoders,
    keys 64, values 128, decoder 128/64/64).
    """

    arch: str = "resnet50"
    key_dim: int = 128
    value_dim: int = 512
    decoder: tuple[int, int, int] = (512, 256, 256)

    @staticmethod
    def smoke() -> ModelSpec:
        return ModelSpec("resnet18", 64, 128, (128, 64, 64))

    @property
    def channels(self) -> tuple[int, int, int]:
        """``(f4, f8, f16)`` channels of the encoders."""
        return ARCH_CHANNELS[self.arch]


def _check_spec(spec: ModelSpec) -> None:
    if spec.arch not in ARCH_CHANNELS:
        raise ValueError(f"unknown backbone {spec.arch!r}; expected one of {sorted(ARCH_CHANNELS)}")


def others_of(masks: torch.Tensor) -> torch.Tensor:
    """``others[k] = sum_{j != k} masks[j]`` for ``masks`` ``(K, 1, H, W)``; zeros when K = 1."""
    k = masks.shape[0]
    if k == 1:
        return torch.zeros_like(masks)
    return torch.cat(
        [masks[[j for j in range(k) if j != i]].sum(0, keepdim=True) for i in range(k)], 0
    )


class _Parts(nn.Module):
    """The five named parts shared by the eval and the training network, in checkpoint order."""

    def __init__(
        self, spec: ModelSpec, extra_channels: int, imagenet: dict[str, torch.Tensor] | None
    ):
        super().__init__()
        _check_spec(spec)
        self.spec = spec
        f4, f8, f16 = spec.channels
        self.mask_rgb_encoder = ValueEncoder(extra_channels, imagenet, spec.arch)
        self.rgb_encoder = KeyEncoder(imagenet, spec.arch)
        self.kv_m_f16 = KeyValue(f16, spec.key_dim, spec.value_dim)
        self.kv_q_f16 = KeyValue(f16, spec.key_dim, spec.value_dim)
        self.decoder = Decoder(2 * spec.value_dim, spec.decoder, (f8, f4))


class PropagationNetwork(_Parts):
    """Eval network: multi-object memorisation, per-object readout (top-k / KM), decoding.

    Args:
        top_k: keep the k largest affinities per query position (``None``: plain softmax).
        km_sigma: kernelized-memory Gaussian width on the 1/16 grid (``None``: off; 5.6 with
            ``--use_km``).
        spec: network widths (:class:`ModelSpec`).
        fast_readout: use the sparse top-k readout (:func:`~mivos_prop.model.readout.readout`);
            ``False`` uses the reference's dense procedure.
    """

    def __init__(
        self,
        top_k: int | None = 50,
        km_sigma: float | None = None,
        spec: ModelSpec = ModelSpec(),
        fast_readout: bool = True,
        imagenet: dict[str, torch.Tensor] | None = None,
    ):
        super().__init__(spec, 2, imagenet)
        self.top_k = top_k
        self.km_sigma = km_sigma
        self.fast_readout = fast_readout

    def encode_key(self, frame: torch.Tensor):
        """Key encoder + ``kv_q_f16``: ``(f16, f8, f4, kQ, vQ)`` for a ``(1, 3, H, W)`` frame."""
        f16, f8, f4 = self.rgb_encoder(frame)
        k16, v16 = self.kv_q_f16(f16)
        return f16, f8, f4, k16, v16

    get_query_values = encode_key

    def encode_value_features(self, frame: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Value-encoder ``f16`` ``(K, C, h, w)`` for one frame and ``K`` masks ``(K, 1, H, W)``."""
        k = masks.shape[0]
        frames = frame.view(1, 3, *masks.shape[-2:]).expand(k, -1, -1, -1)
        return self.mask_rgb_encoder(frames, masks, others_of(masks))

    def memorize(
        self, frame: torch.Tensor, masks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory key ``(K, C_k, 1, h, w)`` and value ``(K, C_v, 1, h, w)`` of one frame."""
        k16, v16 = self.kv_m_f16(self.encode_value_features(frame, masks))
        return k16.unsqueeze(2), v16.unsqueeze(2)

    encode_value = memorize

    def read_memory(
        self, keys: torch.Tensor, values: torch.Tensor, qk: torch.Tensor
    ) -> torch.Tensor:
        """Per-object readout ``(K, C_v, h, w)`` (one object at a time, shared query key)."""
        fn = readout if self.fast_readout else readout_reference
        return torch.cat(
            [
                fn(keys[i : i + 1], values[i : i + 1], qk, self.top_k, self.km_sigma)
                for i in range(keys.shape[0])
            ],
            0,
        )

    def decode(
        self, readout_features: torch.Tensor, qv: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``(K, 1, H, W)`` from the readout and the query value (``[readout, vQ]``)."""
        k = readout_features.shape[0]
        return self.decoder(torch.cat([readout_features, qv.expand(k, -1, -1, -1)], 1), f8, f4)

    def segment_with_query(self, keys, values, f16, f8, f4, k16, v16) -> torch.Tensor:
        """Sigmoid probabilities ``(K, 1, H, W)`` of the query frame (aggregation comes later)."""
        return torch.sigmoid(self.decode(self.read_memory(keys, values, k16), v16, f8, f4))


class TrainingNetwork(_Parts):
    """Training network: two object slots (multi-object) or one (``single_object``, stage 0).

    ``forward(frame, mask, other)`` memorises (returns keys/values ``(B, C, 1, h, w)``);
    ``forward(frame, keys, values, selector)`` with ``keys`` of more than 4 dims segments and
    returns ``(logits, prob)``: aggregated log-odds ``(B, 3, H, W)`` (``(B, 2, H, W)`` for SO) and
    ``softmax(logits)[:, 1:]``. The readout is always a plain softmax (no top-k in training).
    """

    def __init__(
        self,
        single_object: bool = False,
        spec: ModelSpec = ModelSpec(),
        imagenet: dict[str, torch.Tensor] | None = None,
    ):
        super().__init__(spec, 1 if single_object else 2, imagenet)
        self.single_object = single_object

    def memorize(
        self, frame: torch.Tensor, mask: torch.Tensor, other: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.single_object:
            f16 = self.mask_rgb_encoder(frame, mask)
        else:
            f16 = self.mask_rgb_encoder(frame, mask, other)
        k16, v16 = self.kv_m_f16(f16)
        return k16.unsqueeze(2), v16.unsqueeze(2)

    def _read(self, mk, mv, qk, qv) -> torch.Tensor:
        b, cv, t, h, w = mv.shape
        weights = F.softmax(
            torch.bmm(
                mk.reshape(b, -1, t * h * w).transpose(1, 2),
                qk.reshape(b, -1, h * w) / mk.shape[1] ** 0.5,
            ),
            dim=1,
        )
        mem = torch.bmm(mv.reshape(b, cv, t * h * w), weights).view(b, cv, h, w)
        return torch.cat([mem, qv], 1)

    def segment(
        self,
        frame: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        selector: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f16, f8, f4 = self.rgb_encoder(frame)
        k16, v16 = self.kv_q_f16(f16)
        if self.single_object:
            prob = torch.sigmoid(self.decoder(self._read(keys, values, k16, v16), f8, f4))
        else:
            logits = torch.cat(
                [
                    self.decoder(self._read(keys[:, i], values[:, i], k16, v16), f8, f4)
                    for i in range(2)
                ],
                1,
            )
            prob = torch.sigmoid(logits) * selector[:, :, None, None]
        logits = aggregate_logits(prob, dim=1)
        return logits, F.softmax(logits, dim=1)[:, 1:]

    def forward(self, *args, **kwargs):
        if args[1].dim() > 4:
            return self.segment(*args, **kwargs)
        return self.memorize(*args, **kwargs)
