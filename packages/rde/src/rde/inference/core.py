"""Frame-by-frame RDE-VOS inference with every memory mode and late-appearing objects.

:class:`InferenceCore` takes one frame at a time (so memory use does not depend on the video
length) and returns the soft-aggregated probabilities of background + K objects.

* **Objects** are numbered 1..K (``num_objects``, known in advance as in the original drivers).
  An annotation may give any subset of them at any frame; objects given together share one
  :class:`~rde.inference.memory.MemoryBank` (YouTube-VOS: objects first annotated on different
  frames get different banks, as the original's per-object banks; objects that start together
  have identical key histories, so one shared bank computes the same numbers once).
* **Annotation frame** (``interact`` in the original): if objects are already tracked the frame
  is first segmented (no memory write); then the pixels of the given masks are cleared in every
  channel, the given objects' masks are written in, the K object channels are soft-aggregated,
  the frame's value is encoded from the aggregated probabilities of all tracked objects, the
  new objects' bank is created with it, and every older bank receives it as a memory write.
* **Memory frames**: ``schedule="absolute"`` (DAVIS driver: frame index ``t % mem_every == 0``)
  or ``"relative"`` (YouTube driver: ``t - last memory frame >= mem_every``). The frame marked
  ``last`` is never written. ``include_last`` writes every frame (a SAM step per frame in the
  compress modes). Values are encoded from the *soft* aggregated probabilities.
* **Skipping** (YouTube driver without ``--output_all``): a frame whose output is not needed and
  that is not a memory frame is not computed at all.

All tensors are padded to multiples of 16 (``vos_common.stm.pad_divide_by``); the returned
probabilities are at padded size, ``unpad`` removes the padding.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from vos_common.errors import VOSDataError
from vos_common.stm import pad_divide_by, soft_aggregate, unpad

from rde.inference.memory import MODES, MemoryBank, check_top_k
from rde.model.network import RDEVOS

SCHEDULES = ("absolute", "relative")


def channels_last(net: torch.nn.Module) -> torch.nn.Module:
    """Store every 2-D convolution weight channels-last (in place; same numbers up to rounding).

    oneDNN runs NHWC convolutions without the layout conversions NCHW needs; outputs follow the
    weights' layout, so the whole 2-D part of the network runs channels-last.
    """
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d) and module.weight.dim() == 4:
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
    return net


def _fold_batchnorm(module: torch.nn.Module) -> None:
    """Fold every eval-mode BatchNorm that follows a convolution into it (in place).

    Handled layouts: ``convN`` + ``bnN`` attribute pairs (ResNet stems and blocks) and
    ``Sequential(conv, bn)`` shortcuts; the BatchNorm becomes an identity.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in list(module.modules()):
        pair = isinstance(child, torch.nn.Sequential) and len(child) == 2
        if pair and isinstance(child[0], torch.nn.Conv2d) and \
                isinstance(child[1], torch.nn.BatchNorm2d):
            child[0] = fuse_conv_bn_eval(child[0], child[1])
            child[1] = torch.nn.Identity()
        for index in range(1, 4):
            conv = getattr(child, f"conv{index}", None)
            bn = getattr(child, f"bn{index}", None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                setattr(child, f"conv{index}", fuse_conv_bn_eval(conv, bn))
                setattr(child, f"bn{index}", torch.nn.Identity())


_INFERENCE_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_network(net: RDEVOS) -> RDEVOS:
    """The network as the CPU core runs it: BatchNorm folded into the encoders' convolutions and
    2-D convolutions channels-last (same numbers up to float rounding; parity tests).

    The encoders are copied (the given network keeps its modules and values; only the memory
    layout of its other convolution weights becomes channels-last); the copy is cached per
    network, so the network's weights must not change after its first video. A network on
    another device or in training mode is returned unchanged.
    """
    if next(net.parameters()).device.type != "cpu" or net.training:
        return net
    cached = _INFERENCE_COPIES.get(net)
    if cached is not None:
        return cached
    clone = copy.copy(net)
    clone._modules = dict(net._modules)
    for name in ("key_encoder", "value_encoder"):
        encoder = copy.deepcopy(net._modules[name])
        _fold_batchnorm(encoder)
        clone._modules[name] = encoder
    channels_last(clone)
    _INFERENCE_COPIES[net] = clone
    return clone


@dataclass
class _Group:
    objects: list[int]  # object numbers (1..K) sharing this bank
    bank: MemoryBank


class InferenceCore:
    """Propagate masks through a video one frame at a time (module doc).

    Args:
        net: the evaluation network (eval mode).
        num_objects: K, objects numbered 1..K.
        mode: memory mode (:data:`rde.inference.memory.MODES`).
        mem_every: memory-frame interval.
        top_k: top-k of the memory read.
        schedule: ``absolute`` (DAVIS) or ``relative`` (YouTube-VOS).
        include_last: write every frame to memory.
        amp: CUDA autocast (ignored on the CPU).
        readout: ``sparse`` (default) or ``dense`` (the original's product; same numbers).
        stable_topk: subtract the maximum inside the top-k softmax (the original does not).
        per_object_banks: one bank per object, as the original YouTube-VOS driver (the
            default shares a bank among objects annotated on the same frame: same numbers).
    """

    def __init__(self, net: RDEVOS, num_objects: int, mode: str = "two-frames-compress",
                 mem_every: int = 3, top_k: int = 40, schedule: str = "absolute",
                 include_last: bool = False, amp: bool = False, readout: str = "sparse",
                 stable_topk: bool = False, per_object_banks: bool = False):
        if mode not in MODES:
            raise VOSDataError(None, f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if mem_every < 1:
            raise VOSDataError(None, f"mem_every must be at least 1, got {mem_every}")
        if num_objects < 1:
            raise VOSDataError(None, "no object to segment (the annotation is empty)")
        self.net = inference_network(net)
        self.num_objects = num_objects
        self.mode = mode
        self.mem_every = mem_every
        self.top_k = top_k
        self.schedule = schedule
        self.include_last = include_last
        self.readout = readout
        self.stable_topk = stable_topk
        self.per_object_banks = per_object_banks
        self.device = next(net.parameters()).device
        self.amp = amp and self.device.type == "cuda"
        self.groups: list[_Group] = []
        self.last_memory_frame: int | None = None
        self.frame_index = -1
        self.pad = None
        self.padded_size = None

    # ------------------------------------------------------------------ helpers
    @property
    def enabled(self) -> list[int]:
        """Tracked objects, in the order they were first annotated."""
        return [obj for group in self.groups for obj in group.objects]

    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _prepare(self, frame: torch.Tensor) -> torch.Tensor:
        if frame.dim() == 3:
            frame = frame.unsqueeze(0)
        frame, pad = pad_divide_by(frame.to(self.device, torch.float32), 16)
        if self.pad is None:
            self.pad, self.padded_size = pad, tuple(frame.shape[-2:])
            positions = (frame.shape[-2] // 16) * (frame.shape[-1] // 16)
            check_top_k(self.mode, self.top_k, positions)
        elif tuple(frame.shape[-2:]) != self.padded_size:
            raise VOSDataError(None, f"frame {self.frame_index} has size {tuple(frame.shape[-2:])} "
                                     f"after padding, earlier frames {self.padded_size}")
        return frame

    def is_memory_frame(self, t: int) -> bool:
        if self.include_last:
            return True
        if self.schedule == "absolute":
            return t % self.mem_every == 0
        return self.last_memory_frame is not None and t - self.last_memory_frame >= self.mem_every

    def _segment(self, key) -> torch.Tensor:
        """Aggregated ``(K+1, 1, H, W)`` probabilities of a frame from the current memory."""
        k16, f16_thin, _, f8, f4 = key
        readout = torch.cat([group.bank.read(k16) for group in self.groups], 0)
        prob = torch.sigmoid(self.net.decode(readout, f16_thin, f8, f4))
        aggregated = soft_aggregate(prob.float(), keep_bg=True)
        full = aggregated.new_zeros((self.num_objects + 1, *aggregated.shape[1:]))
        full[0] = aggregated[0]
        full[self.enabled] = aggregated[1:]
        return full

    def _write(self, frame: torch.Tensor, key, prob: torch.Tensor) -> None:
        """Encode the frame's value from ``prob`` and write it to every bank."""
        k16, _, f16, _, _ = key
        values = self.net.encode_value(frame, f16, prob[self.enabled])
        start = 0
        for group in self.groups:
            stop = start + len(group.objects)
            group.bank.add(k16.unsqueeze(2), values[start:stop])
            start = stop

    # ------------------------------------------------------------------ the API
    def needs_frame(self, annotated: bool = False, last: bool = False,
                    need_output: bool = True) -> bool:
        """Whether :meth:`step` would compute the next frame (so the caller can skip reading it)."""
        t = self.frame_index + 1
        if annotated:
            return True
        if not self.groups:
            return False
        return need_output or ((not last) and self.is_memory_frame(t))

    def skip(self) -> None:
        """Advance past a frame that :meth:`needs_frame` said is not computed."""
        self.frame_index += 1

    @torch.no_grad()
    def step(self, frame: torch.Tensor, annotation: Mapping[int, torch.Tensor] | None = None,
             last: bool = False, need_output: bool = True) -> torch.Tensor | None:
        """Process the next frame; returns ``(K+1, 1, H', W')`` probabilities (padded size).

        Args:
            frame: ``(3, H, W)`` ImageNet-normalised float (any device).
            annotation: ``{object number: (H, W) mask}`` of objects given on this frame.
            last: this frame is the last one (never written to memory).
            need_output: when false and the frame is not a memory frame, nothing is computed
                and ``None`` is returned (YouTube-VOS frames outside ``meta.json``).
        """
        self.frame_index += 1
        t = self.frame_index
        if not self.groups and not annotation:
            if need_output:
                raise VOSDataError(None, f"frame {t} comes before any annotated object")
            return None
        if annotation:
            return self._interact(frame, annotation, t)
        memory = (not last) and self.is_memory_frame(t)
        if not memory and not need_output:
            return None
        frame = self._prepare(frame)
        with self._autocast():
            key = self.net.encode_key(frame)
            prob = self._segment(key)
            if memory:
                self._write(frame, key, prob)
                self.last_memory_frame = t
        return prob

    def _interact(self, frame: torch.Tensor, annotation: Mapping[int, torch.Tensor],
                  t: int) -> torch.Tensor:
        frame = self._prepare(frame)
        objects = sorted(int(obj) for obj in annotation)
        for obj in objects:
            if not 1 <= obj <= self.num_objects:
                raise VOSDataError(None, f"object {obj} is not in 1..{self.num_objects}")
        masks = torch.stack([annotation[obj].to(self.device, torch.float32) for obj in objects])
        if masks.dim() == 3:
            masks = masks.unsqueeze(1)
        masks, _ = pad_divide_by(masks, 16)
        if tuple(masks.shape[-2:]) != self.padded_size:
            raise VOSDataError(None, f"mask of frame {t} has size {tuple(annotation[objects[0]].shape[-2:])},"
                                     f" the frame {tuple(frame.shape[-2:])} after padding")
        with self._autocast():
            key = self.net.encode_key(frame)
            if self.groups:
                prob = self._segment(key)
            else:
                prob = frame.new_zeros((self.num_objects + 1, 1, *self.padded_size))
                prob[0] = 1e-7
            prob[:, :, masks.sum(0)[0] > 0.5] = 0
            for obj, mask in zip(objects, masks, strict=True):
                prob[obj] = mask
            prob = soft_aggregate(prob[1:], keep_bg=True)
            new = [obj for obj in objects if obj not in self.enabled]
            for part in ([[obj] for obj in new] if self.per_object_banks else [new] if new else []):
                bank = MemoryBank(self.net.mem_compress, len(part), self.top_k, self.mode,
                                  self.readout, self.stable_topk)
                self.groups.append(_Group(part, bank))
            self._write(frame, key, prob)
        self.last_memory_frame = t
        return prob

    def unpad(self, prob: torch.Tensor) -> torch.Tensor:
        """Remove the padding from ``(..., H', W')``."""
        return unpad(prob, self.pad)

    def memory_bytes(self) -> int:
        """Bytes held by all memory banks."""
        return sum(group.bank.nbytes() for group in self.groups)

    def memory_positions(self) -> int:
        """Memory entries read per query position, summed over banks."""
        return sum(group.bank.positions() for group in self.groups)


@torch.no_grad()
def propagate(net: RDEVOS, frames: torch.Tensor, first_masks: torch.Tensor, mode: str,
              mem_every: int, top_k: int, include_last: bool = False, **options) -> torch.Tensor:
    """DAVIS-style propagation of a clip: ``frames (T, 3, H, W)``, ``first_masks (K, 1, H, W)``.

    Returns the float32 ``(K+1, T, 1, H', W')`` probability buffer at padded size, frame 0
    included (its aggregated one-hot masks).
    """
    k = first_masks.shape[0]
    core = InferenceCore(net, k, mode, mem_every, top_k, "absolute", include_last, **options)
    out = []
    t_total = frames.shape[0]
    for t in range(t_total):
        annotation = {i + 1: first_masks[i, 0] for i in range(k)} if t == 0 else None
        out.append(core.step(frames[t], annotation, last=t == t_total - 1).float().cpu())
    return torch.stack(out, 1)
