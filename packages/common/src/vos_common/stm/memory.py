"""Space-time memory plumbing with STM's schedule and an optional FIFO bound.

STM-family inference (STM, MiVOS propagation, STCN) reads, for every query frame, a memory of
earlier frames encoded with their (predicted or given) masks. :class:`MemoryBank` keeps that
memory **per object** (objects may start on different frames, as in YouTube-VOS) and decides
which frames stay:

* an **annotated** frame (given mask) is always permanent and never evicted ("pinned"); it
  restarts the schedule;
* a predicted frame ``t`` becomes **permanent** when ``t - last_permanent >= mem_every``
  (the annotated frame plus every ``mem_every``-th frame after it);
* otherwise it becomes the single **temporary** entry, read together with the permanent memory
  until the next frame is memorised (so the previous frame is always in the memory);
* with ``max_frames = N``, each object keeps at most ``N`` permanent frames: when a new
  permanent frame would exceed that, the oldest *non-annotated* frame is dropped (first in,
  first out), as the STM-family baselines in the XMem paper bound their memory. Annotated
  frames are never dropped, so an object with more than ``N`` annotated frames keeps them all.
  The temporary frame is not counted.

Without a bound (the default) memory grows by one frame every ``mem_every`` frames, which is
what the original implementations do. With a bound that is never reached the memory, and so
every result, is identical to the unbounded one.

Entries are tuples of tensors (e.g. ``(key, value)``) concatenated along ``dim`` (the time axis,
2 for ``(1, C, T, h, w)``). Each object's tensors are kept concatenated, so a read costs one
concatenation with the temporary entry at most.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["MemoryBank", "memory_frames_schedule"]

Tensors = tuple[torch.Tensor, ...]


@dataclass
class _ObjectMemory:
    frames: list[int] = field(default_factory=list)
    pinned: list[bool] = field(default_factory=list)
    tensors: Tensors | None = None


class MemoryBank:
    """Per-object memory with the STM schedule (module doc).

    Args:
        mem_every: a predicted frame becomes permanent when it is at least this many frames
            after the last permanent (or annotated) frame.
        max_frames: at most this many permanent frames per object (``None``: unbounded).
        dim: the axis along which entries are concatenated.
    """

    def __init__(self, mem_every: int = 5, max_frames: int | None = None, dim: int = 2):
        if mem_every < 1:
            raise ValueError(f"mem_every must be >= 1, got {mem_every}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 (or None for unbounded), got {max_frames}")
        self.mem_every = mem_every
        self.max_frames = max_frames
        self.dim = dim
        self.last_permanent: int | None = None
        self._objects: dict[Hashable, _ObjectMemory] = {}
        self._temp: dict[Hashable, Tensors] = {}
        self._temp_frame: int | None = None
        self.evicted = 0

    # ------------------------------------------------------------------ writing
    def add_annotated(self, frame: int, entries: Mapping[Hashable, Sequence[torch.Tensor]]) -> None:
        """Memorise an annotated frame for ``entries`` objects: permanent, pinned, schedule restarts."""
        self._append(frame, entries, pinned=True)
        self.last_permanent = frame
        self._clear_temp()

    def add(self, frame: int, entries: Mapping[Hashable, Sequence[torch.Tensor]]) -> bool:
        """Memorise a predicted frame; returns whether it became permanent (else temporary)."""
        if self.is_permanent(frame):
            self._append(frame, entries, pinned=False)
            self.last_permanent = frame
            self._clear_temp()
            return True
        self._temp = {obj: tuple(t) for obj, t in entries.items()}
        self._temp_frame = frame
        return False

    def is_permanent(self, frame: int) -> bool:
        """Whether a predicted ``frame`` would become permanent now."""
        return self.last_permanent is None or abs(frame - self.last_permanent) >= self.mem_every

    def _clear_temp(self) -> None:
        self._temp = {}
        self._temp_frame = None

    def _append(
        self, frame: int, entries: Mapping[Hashable, Sequence[torch.Tensor]], pinned: bool
    ) -> None:
        for obj, tensors in entries.items():
            tensors = tuple(tensors)
            memory = self._objects.setdefault(obj, _ObjectMemory())
            if memory.tensors is None:
                memory.tensors = tensors
            else:
                memory.tensors = tuple(
                    torch.cat([old, new], self.dim)
                    for old, new in zip(memory.tensors, tensors, strict=True)
                )
            memory.frames.append(frame)
            memory.pinned.append(pinned)
            self._enforce_bound(memory)

    def _enforce_bound(self, memory: _ObjectMemory) -> None:
        if self.max_frames is None:
            return
        while len(memory.frames) > self.max_frames:
            victims = [i for i, pinned in enumerate(memory.pinned) if not pinned]
            if not victims:
                return
            self._drop(memory, victims[0])
            self.evicted += 1

    def _drop(self, memory: _ObjectMemory, position: int) -> None:
        sizes = [t.shape[self.dim] // len(memory.frames) for t in memory.tensors]
        kept = []
        for tensor, size in zip(memory.tensors, sizes, strict=True):
            start, stop = position * size, (position + 1) * size
            kept.append(
                torch.cat(
                    [
                        tensor.narrow(self.dim, 0, start),
                        tensor.narrow(self.dim, stop, tensor.shape[self.dim] - stop),
                    ],
                    self.dim,
                )
            )
        memory.tensors = tuple(kept)
        del memory.frames[position]
        del memory.pinned[position]

    # ------------------------------------------------------------------ reading
    def __contains__(self, obj: Hashable) -> bool:
        return obj in self._objects

    @property
    def objects(self) -> list[Hashable]:
        return list(self._objects)

    def read(self, obj: Hashable) -> Tensors:
        """The object's memory: permanent entries, then the temporary one if any."""
        memory = self._objects[obj]
        if obj in self._temp:
            return tuple(
                torch.cat([p, t], self.dim)
                for p, t in zip(memory.tensors, self._temp[obj], strict=True)
            )
        return memory.tensors

    def frames(self, obj: Hashable) -> list[int]:
        """Frame indices read for ``obj`` (permanent, then temporary)."""
        frames = list(self._objects[obj].frames)
        if obj in self._temp:
            frames.append(self._temp_frame)
        return frames

    def permanent_frames(self, obj: Hashable) -> list[int]:
        return list(self._objects[obj].frames)

    @property
    def temporary_frame(self) -> int | None:
        return self._temp_frame

    def nbytes(self) -> int:
        """Bytes held by the memory tensors (permanent and temporary, all objects)."""
        total = 0
        for memory in self._objects.values():
            total += sum(t.numel() * t.element_size() for t in memory.tensors or ())
        for tensors in self._temp.values():
            total += sum(t.numel() * t.element_size() for t in tensors)
        return total

    def clear(self) -> None:
        self._objects.clear()
        self._clear_temp()
        self.last_permanent = None
        self.evicted = 0


def memory_frames_schedule(
    length: int, annotated: Iterable[int] = (0,), mem_every: int = 5, max_frames: int | None = None
) -> dict[int, list[int]]:
    """The memory frames read when segmenting each frame, without running a network.

    ``annotated`` frames are given (not segmented); every other frame after the first
    annotated one is segmented and then memorised, except the last frame. Useful to check a
    schedule by hand: with ``mem_every=5`` frame 1 reads ``[0]``, frames 2-5 read
    ``[0, t-1]`` and frame 6 reads ``[0, 5]``.
    """
    annotated = sorted(set(annotated))
    bank = MemoryBank(mem_every, max_frames)
    dummy = (torch.zeros(1, 1, 1),)
    reads: dict[int, list[int]] = {}
    start = annotated[0] if annotated else 0
    for t in range(start, length):
        if t in annotated:
            if t != start:
                reads[t] = bank.frames(0)
            bank.add_annotated(t, {0: dummy})
            continue
        reads[t] = bank.frames(0)
        if t != length - 1:
            bank.add(t, {0: dummy})
    return reads
