"""RDE's inference memory: the first frame, the recurrent dynamic embedding, the last frame.

A :class:`MemoryBank` holds, for K objects that share one key path:

* ``gt_k, gt_v`` — key/value of the annotated (first) frame, never changed;
* ``mem_k, mem_v`` — the recurrent dynamic embedding (RDE): starts as the first frame, and in
  the compress modes every memory write replaces it by ``SAM([RDE, new frame])`` (2 slots in,
  1 out), so it never grows; in ``stm`` mode it is STCN's growing memory instead;
* ``temp_k, temp_v`` — the newest memory frame ("last"), cleared at every write and set again
  in the modes that read it.

What is read for each query frame (slot order; ``gt`` appears twice in two modes, as in the
original, so each selected first-frame entry counts twice in the top-k softmax):

=====================  =======================  =========================
mode                   before the first write   after one or more writes
=====================  =======================  =========================
two-frames-compress    [gt, gt]                 [RDE, last, gt, gt]
gt-compress            [gt, gt]                 [RDE, gt]
last-compress          [gt]                     [RDE, last]
compress               [gt]                     [RDE]
stm                    [gt]                     [gt, m1, m2, ...]
two-frames             [gt]                     [last, gt, gt]
gt                     [gt]                     [gt]
last                   [gt]                     [last]
=====================  =======================  =========================

Affinity: ``(2 m·q − ‖m‖²)/√C`` (L2, STCN); the top-k entries of every query position are
exponentiated **without subtracting the maximum** (as the original; ``stable=True`` subtracts
it, which only matters when the exponent overflows) and normalised by their sum — except at
query positions where that sum overflows or underflows (the original's output is NaN there),
which get the maximum subtracted; all other
entries are 0. The readout gathers only the k selected entries of every query position
(``readout="sparse"``), which equals the original's dense product with the scattered affinity
(``readout="dense"``) up to float rounding.
"""

from __future__ import annotations

import warnings

import torch
from vos_common.errors import VOSDataError

from rde.model.network import l2_affinity

MODES = ("two-frames-compress", "gt-compress", "last-compress", "compress", "stm", "two-frames",
         "gt", "last")
_FLAGS = {  # mode -> (use_gt, use_last, compress, stm)
    "two-frames-compress": (True, True, True, False),
    "gt-compress": (True, False, True, False),
    "last-compress": (False, True, True, False),
    "compress": (False, False, True, False),
    "stm": (False, False, False, True),
    "two-frames": (True, True, False, False),
    "gt": (True, False, False, False),
    "last": (False, True, False, False),
}


def min_memory_slots(mode: str) -> int:
    """Slots read at the smallest bank state (the bound for top-k): 2 when gt is doubled."""
    return 2 if mode in ("two-frames-compress", "gt-compress") else 1


def check_top_k(mode: str, top_k: int, positions: int, where: str | None = None) -> None:
    """Refuse a top-k larger than the memory at its smallest (one-line error)."""
    if mode not in MODES:
        raise VOSDataError(None, f"unknown memory mode {mode!r} (expected one of {', '.join(MODES)})")
    limit = min_memory_slots(mode) * positions
    if top_k < 1 or top_k > limit:
        raise VOSDataError(where, f"top-k {top_k} is not in 1..{limit}: mode {mode} reads "
                                  f"{limit} memory entries at first ({min_memory_slots(mode)} slot(s) "
                                  f"of {positions} stride-16 positions)")


def topk_softmax(affinity: torch.Tensor, top_k: int, stable: bool = False):
    """Top-k over the memory axis (dim 1) of ``(B, N, Q)``: normalised weights and indices."""
    values, indices = torch.topk(affinity, k=top_k, dim=1)
    if stable:
        values = values - values[:, :1]
    weights = values.exp()
    total = weights.sum(dim=1, keepdim=True)
    broken = ~torch.isfinite(total) | (total == 0)
    if not stable and bool(broken.any()):
        # the original's exponent overflowed (or every entry underflowed) at these query
        # positions and would give NaN: subtract the maximum there only
        shifted = (values - values[:, :1]).exp()
        weights = torch.where(broken, shifted, weights)
        total = torch.where(broken, shifted.sum(dim=1, keepdim=True), total)
    return weights / total, indices


def sparse_readout(weights: torch.Tensor, indices: torch.Tensor, mv: torch.Tensor) -> torch.Tensor:
    """``mv (K, C, N)`` read with top-k ``weights/indices (1, k, Q)`` → ``(K, C, Q)``."""
    k_objects, channels, n = mv.shape
    top, q = weights.shape[1:]
    cols = indices[0].transpose(0, 1).reshape(-1)
    vals = weights[0].transpose(0, 1).reshape(-1).to(mv.dtype)
    crow = torch.arange(0, q * top + 1, top, device=mv.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        matrix = torch.sparse_csr_tensor(crow, cols, vals, size=(q, n), check_invariants=False)
    out = matrix @ mv.reshape(k_objects * channels, n).transpose(0, 1)
    return out.transpose(0, 1).reshape(k_objects, channels, q)


def dense_readout(weights: torch.Tensor, indices: torch.Tensor, mv: torch.Tensor,
                  n: int) -> torch.Tensor:
    """The original's readout: scatter the weights into a dense ``(N, Q)`` affinity, then bmm."""
    affinity = weights.new_zeros(1, n, weights.shape[2]).scatter_(1, indices, weights)
    return torch.bmm(mv, affinity.expand(mv.shape[0], -1, -1))


class MemoryBank:
    """Memory of K objects (one shared key path) for one memory ``mode`` (module doc).

    Args:
        compress: the network's ``mem_compress`` (SAM); needed by the compress modes.
        num_objects: K.
        top_k: entries kept per query position.
        mode: one of :data:`MODES`.
        readout: ``sparse`` (gather the k entries) or ``dense`` (the original's product).
        stable: subtract the maximum before the top-k exponent (the original does not).
    """

    def __init__(self, compress, num_objects: int, top_k: int = 20,
                 mode: str = "two-frames-compress", readout: str = "sparse",
                 stable: bool = False):
        if mode not in MODES:
            raise VOSDataError(None, f"unknown memory mode {mode!r} "
                                     f"(expected one of {', '.join(MODES)})")
        self.use_gt, self.use_last, self.is_compress, self.is_stm = _FLAGS[mode]
        if self.is_compress and compress is None:
            raise ValueError(f"mode {mode} needs the network's mem_compress module")
        self.mode = mode
        self.compress = compress
        self.num_objects = num_objects
        self.top_k = top_k
        self.readout_kind = readout
        self.stable = stable
        self.gt_k = self.gt_v = None
        self.mem_k = self.mem_v = None
        self.temp_k = self.temp_v = None
        self.writes = 0  # memory writes after the first frame

    # ------------------------------------------------------------------ writing
    def add(self, key: torch.Tensor, value: torch.Tensor) -> None:
        """Write a memory frame: key ``(1, Ck, 1, h, w)``, values ``(K, Cv, 1, h, w)``.

        The first call stores the annotated frame; later calls update the RDE (compress
        modes), grow the memory (``stm``) or only replace the last frame.
        """
        self.temp_k = self.temp_v = None
        if self.mem_k is None:
            self.gt_k = self.mem_k = key
            self.gt_v = self.mem_v = value
            self.top_k_check(key)
            return
        self.writes += 1
        if self.is_compress:
            k = torch.cat([self.mem_k, key], 2)
            v = torch.cat([self.mem_v, value], 2).unsqueeze(0)
            k, v = self.compress(k, v)
            self.mem_k, self.mem_v = k, v[0]
            if self.use_last:
                self.temp_k, self.temp_v = key, value
        elif self.is_stm:
            self.mem_k = torch.cat([self.mem_k, key], 2)
            self.mem_v = torch.cat([self.mem_v, value], 2)
        elif self.use_last:
            self.temp_k, self.temp_v = key, value

    def top_k_check(self, key: torch.Tensor) -> None:
        check_top_k(self.mode, self.top_k, key.shape[-2] * key.shape[-1])

    # ------------------------------------------------------------------ reading
    def slots(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(name, key, value)`` of every slot read now, in order (module doc)."""
        if self.mem_k is None:
            raise RuntimeError("the memory is empty: add the annotated frame first")
        if self.is_stm:
            mem = [("gt" if self.writes == 0 else "stm", self.mem_k, self.mem_v)]
        else:
            mem = [("RDE" if self.writes and self.is_compress else "gt", self.mem_k, self.mem_v)]
        gt = ("gt", self.gt_k, self.gt_v)
        last = ("last", self.temp_k, self.temp_v)
        has_last = self.temp_k is not None
        if has_last and self.is_compress and self.use_last and self.use_gt:
            return [*mem, last, gt, gt]
        if has_last and self.use_last and self.use_gt:
            return [last, gt, gt]
        if has_last and self.is_compress and self.use_last:
            return [*mem, last]
        if self.is_compress and self.use_gt:
            return [*mem, gt]
        if has_last and self.use_last:
            return [last]
        return mem

    def layout(self) -> list[str]:
        """Slot names read now, one per frame-sized slot (``stm`` lists ``gt, mem1, mem2...``)."""
        names = []
        for name, key, _ in self.slots():
            if name == "stm":
                names += ["gt"] + [f"mem{i}" for i in range(1, key.shape[2])]
            else:
                names.append(name)
        return names

    def memory(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys ``(1, Ck, N)`` and values ``(K, Cv, N)`` of the slots read now."""
        slots = self.slots()
        mk = torch.cat([k.flatten(2) for _, k, _ in slots], 2)
        mv = torch.cat([v.flatten(2) for _, _, v in slots], 2)
        return mk, mv

    def topk(self, qk: torch.Tensor):
        """Top-k weights and indices ``(1, k, h·w)`` of a query key ``(1, Ck, h, w)``."""
        mk, _ = self.memory()
        return topk_softmax(l2_affinity(mk, qk), self.top_k, self.stable)

    def read(self, qk: torch.Tensor) -> torch.Tensor:
        """Readout ``(K, Cv, h, w)`` for a query key ``(1, Ck, h, w)``."""
        mk, mv = self.memory()
        h, w = qk.shape[-2:]
        weights, indices = topk_softmax(l2_affinity(mk, qk), self.top_k, self.stable)
        if self.readout_kind == "dense" or mv.device.type != "cpu" or mv.dtype != torch.float32:
            out = dense_readout(weights, indices, mv, mk.shape[2])
        else:
            out = sparse_readout(weights, indices, mv)
        return out.view(mv.shape[0], mv.shape[1], h, w)

    def nbytes(self) -> int:
        """Bytes held by the memory tensors (the first frame counted once)."""
        seen, total = set(), 0
        for t in (self.gt_k, self.gt_v, self.mem_k, self.mem_v, self.temp_k, self.temp_v):
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
        return total

    def positions(self) -> int:
        """Memory entries read now (``N``)."""
        return self.memory()[0].shape[2]
