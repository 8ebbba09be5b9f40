"""The propagation core: frames in one at a time, objects that may start on any frame.

:class:`InferenceCore` reproduces the reference's two inference cores (``inference_core.py``
for DAVIS, ``inference_core_yv.py`` for YouTube-VOS) in one streaming object:

* ``step(frame, mask=None)`` segments one frame. The frame is a normalised ``(3, H, W)`` tensor
  (any device; it is moved to the network's device, padded, used and released), and only the
  previous frame is kept. Memory lives in a :class:`vos_common.stm.MemoryBank`, one memory per
  object.
* A frame with a ``mask`` (an ``(H, W)`` id map) is an *annotated* frame, exactly like the
  reference's ``interact``: the frame is first segmented for the objects already tracked (if
  any); wherever the given mask has an object, every channel is set to 0; the given objects'
  channels are set to their one-hot masks; the frame is soft-aggregated over all channels; then
  it is encoded for **every tracked object** and appended to each object's permanent memory,
  and the memory schedule restarts there. DAVIS is the special case where every object is
  given on frame 0.
* Every other frame is segmented against the memory (permanent frames + the previous frame),
  soft-aggregated over the tracked objects, and then encoded with its **soft aggregated
  probabilities** (no thresholding) when the next frame arrives. The last frame of a video is
  therefore never encoded, as in the reference.

The returned probabilities ``(K + 1, H, W)`` (background first, channels in ``object_ids``
order, 0 for objects not yet tracked) are unpadded but not resized; see
:func:`mivos_prop.inference.postprocess.probabilities_to_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from vos_common.stm import MemoryBank, pad_divide_by, soft_aggregate, unpad

from mivos_prop.model.network import PropagationNetwork

__all__ = ["InferenceCore"]


class InferenceCore:
    """Streaming MiVOS propagation (module doc).

    Args:
        network: an eval :class:`~mivos_prop.model.network.PropagationNetwork` (its ``top_k``
            and ``km_sigma`` are used).
        object_ids: every object id of the video, if known in advance (fixes the channel order,
            as the reference's YouTube-VOS core does); otherwise channels are added in the
            order objects appear.
        mem_every: memory frequency (5 in every reference script).
        max_memory_frames: bound on the permanent memory frames per object (FIFO of
            non-annotated frames; ``None`` = the reference's unbounded memory).
        device: where the network runs (default: the network's device).
    """

    def __init__(
        self,
        network: PropagationNetwork,
        object_ids: Sequence[int] | None = None,
        mem_every: int = 5,
        max_memory_frames: int | None = None,
        device: torch.device | str | None = None,
    ):
        self.network = network
        self.device = (
            torch.device(device) if device is not None else next(network.parameters()).device
        )
        self.object_ids: list[int] = [int(o) for o in object_ids] if object_ids is not None else []
        self.declared = object_ids is not None
        self.memory = MemoryBank(mem_every, max_memory_frames)
        self.enabled: list[int] = []
        self.frame_index = -1
        self.pad: tuple[int, int, int, int] | None = None
        self.padded_shape: tuple[int, int] | None = None
        self._pending: tuple[int, torch.Tensor, torch.Tensor] | None = None
        #: memory frames read for the first tracked object when the last frame was segmented
        self.last_read: list[int] = []

    # ------------------------------------------------------------------ helpers
    @property
    def num_objects(self) -> int:
        return len(self.object_ids)

    def _channel(self, obj: int) -> int:
        return self.object_ids.index(obj) + 1

    def _prepare(self, frame: torch.Tensor) -> torch.Tensor:
        if frame.dim() != 3 or frame.shape[0] != 3:
            raise ValueError(
                f"expected a normalised (3, H, W) frame, got shape {tuple(frame.shape)}"
            )
        padded, pad = pad_divide_by(frame.to(self.device, torch.float32)[None], 16)
        if self.pad is None:
            self.pad, self.padded_shape = pad, tuple(padded.shape[-2:])
        elif pad != self.pad or tuple(padded.shape[-2:]) != self.padded_shape:
            raise ValueError(
                f"frame {self.frame_index} has size {tuple(frame.shape[-2:])}, "
                "unlike the earlier frames of this video"
            )
        return padded

    def _encode_pending(self) -> None:
        """Memorise the previous frame with its aggregated probabilities (lazily, see module doc)."""
        if self._pending is None:
            return
        index, image, prob = self._pending
        self._pending = None
        channels = [self._channel(o) for o in self.enabled]
        keys, values = self.network.memorize(image, prob[channels])
        self.memory.add(
            index, {obj: (keys[i : i + 1], values[i : i + 1]) for i, obj in enumerate(self.enabled)}
        )

    def _segment(self, image: torch.Tensor) -> torch.Tensor:
        """Aggregated probabilities ``(K+1, 1, H, W)`` (padded) for the tracked objects."""
        net = self.network
        query = net.encode_key(image)
        f16, f8, f4, qk, qv = query
        readouts = []
        self.last_read = self.memory.frames(self.enabled[0])
        for obj in self.enabled:
            mk, mv = self.memory.read(obj)
            readouts.append(net.read_memory(mk, mv, qk))
        probs = torch.sigmoid(net.decode(torch.cat(readouts, 0), qv, f8, f4))
        aggregated = soft_aggregate(probs, dim=0, keep_bg=True)
        out = torch.zeros(self.num_objects + 1, 1, *image.shape[-2:], device=self.device)
        out[0] = aggregated[0]
        for i, obj in enumerate(self.enabled):
            out[self._channel(obj)] = aggregated[i + 1]
        return out

    # ------------------------------------------------------------------ public
    @torch.inference_mode()
    def step(
        self,
        frame: torch.Tensor,
        mask: np.ndarray | torch.Tensor | None = None,
        new_objects: Sequence[int] | None = None,
    ) -> torch.Tensor | None:
        """Process the next frame; returns its probabilities ``(K+1, H, W)`` (unpadded), or
        ``None`` before the first annotated frame (nothing to propagate yet).

        ``mask`` is an ``(H, W)`` id map (0 = background) of objects given on this frame;
        ``new_objects`` restricts which of its ids are taken (default: every non-zero id).
        """
        self.frame_index += 1
        index = self.frame_index
        image = self._prepare(frame)
        if mask is None and not self.enabled:
            return None
        self._encode_pending()
        prob = self._segment(image) if self.enabled else None
        if mask is not None:
            prob = self._interact(image, index, mask, new_objects, prob)
        else:
            self._pending = (index, image, prob)
        return unpad(prob[:, 0], self.pad)

    def _interact(self, image, index, mask, new_objects, prob) -> torch.Tensor:
        mask = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
        if tuple(mask.shape) != self._unpadded_shape():
            raise ValueError(
                f"mask of frame {index} is {tuple(mask.shape)}, the frame is "
                f"{self._unpadded_shape()}"
            )
        ids = sorted(int(i) for i in torch.unique(mask).tolist() if i != 0)
        new = ids if new_objects is None else [int(o) for o in new_objects]
        for obj in new:
            if obj not in self.object_ids:
                if self.declared:
                    raise ValueError(
                        f"object {obj} on frame {index} was not declared in object_ids"
                    )
                self.object_ids.append(obj)
        onehot = torch.stack([(mask == obj) for obj in new]).float()[:, None] if new else None
        onehot = pad_divide_by(onehot.to(self.device), 16)[0] if new else None
        full = torch.zeros(self.num_objects + 1, 1, *image.shape[-2:], device=self.device)
        full[0] = 1e-7
        if prob is not None:
            full[: prob.shape[0]] = prob
        if onehot is not None:
            regions = onehot.sum(0)[0] > 0.5
            full[:, :, regions] = 0
            for i, obj in enumerate(new):
                full[self._channel(obj)] = onehot[i]
        full = soft_aggregate(full[1:], dim=0, keep_bg=True)
        for obj in new:
            if obj not in self.enabled:
                self.enabled.append(obj)
        channels = [self._channel(o) for o in self.enabled]
        keys, values = self.network.memorize(image, full[channels])
        self.memory.add_annotated(
            index, {obj: (keys[i : i + 1], values[i : i + 1]) for i, obj in enumerate(self.enabled)}
        )
        self._pending = None
        return full

    def _unpadded_shape(self) -> tuple[int, int]:
        left, right, top, bottom = self.pad
        return self.padded_shape[0] - top - bottom, self.padded_shape[1] - left - right
