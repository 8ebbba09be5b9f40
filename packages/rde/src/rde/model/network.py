"""RDE-VOS networks: the evaluation network and the training network (same 435 weights).

* :class:`RDEVOS` — evaluation network (``model/eval_network.py`` of the original): one frame at
  a time, K objects as a batch.
* :class:`RDETrainingNetwork` — training network (``model/network.py``): batched clips, dense
  softmax memory read, ``single_object=True`` for stage 0 (no SAM, 4-channel value stem).

Both register ``key_encoder``, ``value_encoder``, ``key_proj``, ``key_comp``, ``decoder``,
``mem_compress``; the training network in the order of a released ``model_*.pth`` file
(``mem_compress`` right after ``value_encoder``). :class:`ModelSpec` holds the width divisor
of the CPU smoke scale (1 = the released networks) and ``repeat`` (SE blocks inside SAM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from vos_common.stm import aggregate_logits

from rde.model.modules import Decoder, KeyEncoder, KeyProjection, ValueEncoder
from rde.model.sam import MemCompress


@dataclass(frozen=True)
class ModelSpec:
    """``width_div`` divides every channel count; ``repeat`` = SE blocks per SAM branch.

    ``key_channels`` (smoke scale only; None = ``64 // width_div``, the released rule) sets the
    key width apart: a thin network's 8 or 16 key channels match memory positions poorly.
    """

    width_div: int = 1
    repeat: int = 0
    key_channels: int | None = None

    @property
    def key_dim(self) -> int:
        return self.key_channels if self.key_channels is not None else 64 // self.width_div

    @property
    def value_dim(self) -> int:
        return 512 // self.width_div

    @property
    def f16_dim(self) -> int:
        return 1024 // self.width_div


def _build(net: nn.Module, spec: ModelSpec, single_object: bool, train_order: bool) -> None:
    d = spec.width_div
    net.key_encoder = KeyEncoder(d)
    net.value_encoder = ValueEncoder(single_object, d)
    if train_order and not single_object:
        net.mem_compress = MemCompress(spec.key_dim, spec.value_dim, spec.repeat)
    net.key_proj = KeyProjection(spec.f16_dim, spec.key_dim)
    net.key_comp = nn.Conv2d(spec.f16_dim, spec.value_dim, 3, padding=1)
    net.decoder = Decoder(d)
    if not train_order and not single_object:
        net.mem_compress = MemCompress(spec.key_dim, spec.value_dim, spec.repeat)


def others_of(masks: torch.Tensor) -> torch.Tensor:
    """For K masks ``(K, 1, H, W)``: the sum of the other objects' masks (zeros when K = 1)."""
    k = masks.shape[0]
    if k == 1:
        return torch.zeros_like(masks)
    return torch.cat([masks[[j for j in range(k) if j != i]].sum(0, keepdim=True)
                      for i in range(k)], 0)


def l2_affinity(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
    """``(2 m·q − ‖m‖²) / √C`` for keys ``(B, C, *M)`` and ``(B, C, *Q)`` → ``(B, N_M, N_Q)``."""
    mk = mk.flatten(2)
    qk = qk.flatten(2)
    a = mk.pow(2).sum(1).unsqueeze(2)
    b = 2 * (mk.transpose(1, 2) @ qk)
    return (-a + b) / math.sqrt(mk.shape[1])


class RDEVOS(nn.Module):
    """The evaluation network: per-frame key/value encoding, decoder, SAM (``mem_compress``)."""

    def __init__(self, spec: ModelSpec = ModelSpec()):
        super().__init__()
        self.spec = spec
        _build(self, spec, single_object=False, train_order=False)

    def encode_key(self, frame: torch.Tensor):
        """``frame (1, 3, H, W)`` → ``k16, f16_thin, f16, f8, f4``."""
        f16, f8, f4 = self.key_encoder(frame)
        return self.key_proj(f16), self.key_comp(f16), f16, f8, f4

    def encode_value(self, frame: torch.Tensor, f16: torch.Tensor,
                     masks: torch.Tensor) -> torch.Tensor:
        """Values ``(K, C, 1, h, w)`` of one frame for K soft masks ``(K, 1, H, W)``.

        The "others" channel of object i is the sum of the other masks. The frame and its f16
        (batch 1) are shared by the objects (see :mod:`rde.model.modules`).
        """
        value = self.value_encoder(frame, f16, masks, others_of(masks))
        return value.unsqueeze(2)

    def decode(self, readout: torch.Tensor, f16_thin: torch.Tensor, f8: torch.Tensor,
               f4: torch.Tensor) -> torch.Tensor:
        """Logits ``(K, 1, H, W)`` from the readout ``(K, C, h, w)`` and the query's features."""
        return self.decoder(readout, f8, f4, f16_thin)

    def forward(self, *args, **kwargs):  # pragma: no cover - the network is used via methods
        raise RuntimeError("call encode_key / encode_value / decode / mem_compress")


class RDETrainingNetwork(nn.Module):
    """The training network (batched clips); ``single_object`` for stage 0.

    BatchNorm stays frozen: :meth:`train` keeps every module in eval mode except
    ``mem_compress`` (``sam_train_mode``, the original's stages 2/3; no effect without SE blocks).
    ``freeze_bn=False`` (from-scratch smoke configs only) trains every module normally.
    """

    def __init__(self, single_object: bool = False, spec: ModelSpec = ModelSpec(),
                 sam_train_mode: bool = False, freeze_bn: bool = True):
        super().__init__()
        self.spec = spec
        self.single_object = single_object
        self.sam_train_mode = sam_train_mode
        self.freeze_bn = freeze_bn
        _build(self, spec, single_object=single_object, train_order=True)

    def train(self, mode: bool = True):
        if not self.freeze_bn:  # from-scratch smoke runs only: BatchNorm learns its statistics
            return super().train(mode)
        super().train(False)
        if mode and self.sam_train_mode and not self.single_object:
            self.mem_compress.train(True)
        return self

    def encode_key(self, frames: torch.Tensor):
        """``frames (B, T, 3, H, W)`` → k16 ``(B, C, T, h, w)``, others ``(B, T, C, h, w)``."""
        b, t = frames.shape[:2]
        f16, f8, f4 = self.key_encoder(frames.flatten(0, 1))
        k16 = self.key_proj(f16)
        f16_thin = self.key_comp(f16)
        k16 = k16.view(b, t, *k16.shape[-3:]).transpose(1, 2).contiguous()
        return (k16, f16_thin.view(b, t, *f16_thin.shape[-3:]), f16.view(b, t, *f16.shape[-3:]),
                f8.view(b, t, *f8.shape[-3:]), f4.view(b, t, *f4.shape[-3:]))

    def encode_value(self, frame, f16, mask, other=None) -> torch.Tensor:
        """``(B, C, 1, h, w)`` value of one frame per sample."""
        return self.value_encoder(frame, f16, mask, other).unsqueeze(2)

    @staticmethod
    def affinity(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
        """Dense softmax over all memory entries (max subtracted)."""
        affinity = l2_affinity(mk, qk)
        x_exp = torch.exp(affinity - affinity.max(dim=1, keepdim=True)[0])
        return x_exp / x_exp.sum(dim=1, keepdim=True)

    @staticmethod
    def readout(affinity: torch.Tensor, mv: torch.Tensor, qv: torch.Tensor) -> torch.Tensor:
        """``[memory readout, f16_thin]`` (the decoder input) for values ``(B, C, T, h, w)``."""
        b, c, t, h, w = mv.shape
        mem = torch.bmm(mv.reshape(b, c, t * h * w), affinity).view(b, c, h, w)
        return torch.cat([mem, qv], dim=1)

    def segment(self, qk16, qv16, qf8, qf4, mk16, mv16, selector=None):
        """Segment one query frame from a memory (keys ``(B, C, T, h, w)``).

        Returns ``(logits, prob, *decoder_inputs)``: aggregated log-odds ``(B, K+1, H, W)``,
        object probabilities ``(B, K, H, W)`` and the 1024-channel decoder input per object.
        """
        affinity = self.affinity(mk16, qk16)
        if self.single_object:
            x = self.readout(affinity, mv16, qv16)
            prob = torch.sigmoid(self.decoder(x, qf8, qf4))
            inputs = (x,)
        else:
            inputs = (self.readout(affinity, mv16[:, 0], qv16),
                      self.readout(affinity, mv16[:, 1], qv16))
            logits = torch.cat([self.decoder(x, qf8, qf4) for x in inputs], 1)
            prob = torch.sigmoid(logits) * selector[:, :, None, None]
        logits = aggregate_logits(prob, dim=1)
        prob = F.softmax(logits, dim=1)[:, 1:]
        return (logits, prob, *inputs)

    def forward(self, mode: str, *args, **kwargs):
        """Dispatch ``mode`` (``encode_key``, ``encode_value``, ``segment``, ``compress``).

        The training pass calls the network through this method so that a DDP wrapper sees
        every use (as the original does).
        """
        if mode == "encode_key":
            return self.encode_key(*args, **kwargs)
        if mode == "encode_value":
            return self.encode_value(*args, **kwargs)
        if mode == "segment":
            return self.segment(*args, **kwargs)
        if mode == "compress":
            return self.mem_compress(*args, **kwargs)
        raise ValueError(f"unknown mode {mode!r}")
