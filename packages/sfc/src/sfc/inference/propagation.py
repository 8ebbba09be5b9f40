"""Label propagation of SFC / CRW (spec 4.3), one frame at a time.

For real frame ``t`` the context is the reference's padded index bank: one *long-term* entry
(padded index 0 = frame 0, searched over the whole grid) followed by the ``n = video_len``
*short-term* entries with padded indices ``t … t+n-1``, i.e. real frames ``t-n … t-1`` clamped
to 0 — early frames see several identical copies of frame 0, and the copies are kept (they
count several times in the top-k). Short-term keys are restricted to grid positions at a
Euclidean distance strictly below ``radius`` from the query. Affinities (fused unit-vector dot
products) are divided by ``temperature``; over all ``(1+n)·h·w`` candidates the ``topk`` largest
are kept and softmax-weighted; the prediction is the weighted sum of the candidates' current
soft labels, written back at once so later frames use it as context.

:class:`LabelPropagator` holds only what later frames can still use — frame 0, the last ``n``
frames and any long-memory frame — so memory does not grow with the video. Two searches give
the same candidates:

* ``search="local"`` (default): the long-term entry by a full matrix product, every distinct
  short-term frame only inside the radius window of each query tile, then one top-k over the
  per-entry top-k lists (the top-k of a union is the top-k of the parts' top-k lists; duplicate
  entries are repeated). Radius-masked candidates (``-1e10``) never reach the top-k of the
  original while the long-term entry alone offers ``h·w >= topk`` candidates, so skipping them
  changes nothing.
* ``search="dense"``: the reference's computation literally — every entry, every key position,
  the additive ``-1e10`` mask, one top-k over all candidates, queries in chunks of 100. Used
  automatically when ``topk > h·w``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F

PAD0 = -1  # label source id of padded index 0 (the long-term copy of frame 0)
MASK_VALUE = -1e10


@dataclass(frozen=True)
class PropagationConfig:
    """Options of the original ``test_vos.py`` (names in brackets) plus search settings.

    Attributes:
        topk: candidates per query position (``--topk``).
        video_len: short-term context length n (``--videoLen``).
        radius: short-term search radius in feature cells, strict ``<`` (``--radius``).
        temperature: affinity temperature (``--temperature``).
        long_mem: long-term entries (``--long-mem``); 0 = frame 0.
        norm_mask: min–max normalise each output over classes (``--norm_mask``).
        fix_norm_mask: the original's ``norm_mask`` also normalises, in place, the soft label
            of padded index 0 that the long-term entry reads; ``True`` keeps that label intact.
        search: ``local`` (windowed, fast) or ``dense`` (the reference's literal computation).
        tile: query tile size in cells for the local search (does not change results).
        query_chunk: query rows per block of the long-term product (memory only).
    """

    topk: int = 10
    video_len: int = 20
    radius: float = 12.0
    temperature: float = 0.07
    long_mem: tuple[int, ...] = (0,)
    norm_mask: bool = False
    fix_norm_mask: bool = False
    search: Literal["local", "dense"] = "local"
    tile: int = 8
    query_chunk: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "long_mem", tuple(int(m) for m in self.long_mem))
        if self.topk < 1:
            raise ValueError("topk must be at least 1")
        if self.video_len < 1:
            raise ValueError("videoLen must be at least 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        if not self.long_mem or any(m < 0 for m in self.long_mem):
            raise ValueError("long_mem needs one or more non-negative frame indices")
        if self.search not in ("local", "dense"):
            raise ValueError(f"search must be 'local' or 'dense', got {self.search!r}")
        if self.tile < 1 or self.query_chunk < 1:
            raise ValueError("tile and query_chunk must be at least 1")


# ------------------------------------------------------------------------- index bank and mask


def padded_to_frame(index: int, video_len: int) -> int:
    """Real frame held by padded index ``index`` (frame 0 repeated ``video_len`` times in front)."""
    return max(0, index - video_len)


def long_mem_index(t: int, m: int, video_len: int) -> int:
    """Padded index of long-memory entry ``m`` for real frame ``t`` (the reference's rule)."""
    if m == 0 or t < video_len + m + 1:
        return 0
    return m + video_len + 1


def context_indices(t: int, video_len: int, long_mem: tuple[int, ...] = (0,)) -> list[int]:
    """Padded indices of real frame ``t``'s context: long-term entries, then ``t … t+n-1``."""
    return [long_mem_index(t, m, video_len) for m in long_mem] + list(range(t, t + video_len))


def key_index_bank(
    num_frames: int, video_len: int, long_mem: tuple[int, ...] = (0,)
) -> torch.Tensor:
    """``(T, len(long_mem) + n)`` int64: :func:`context_indices` of every real frame."""
    return torch.tensor(
        [context_indices(t, video_len, long_mem) for t in range(num_frames)], dtype=torch.int64
    )


def _within(dy: torch.Tensor, dx: torch.Tensor, radius: float) -> torch.Tensor:
    """The reference's test, same float operations: ``sqrt(float(dy² + dx²)) < radius``."""
    return ((dy**2 + dx**2).float() ** 0.5) < radius


def radius_mask(h: int, w: int, radius: float) -> torch.Tensor:
    """``(h·w, h·w)`` bool ``[key, query]``: grid distance strictly below ``radius``."""
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    gy, gx = gy.reshape(-1), gx.reshape(-1)
    return _within(gy[:, None] - gy[None, :], gx[:, None] - gx[None, :], radius)


@dataclass(frozen=True)
class _Tile:
    queries: torch.Tensor  # (nq,) grid positions
    rows: tuple[int, int]
    cols: tuple[int, int]
    window: tuple[int, int, int, int]  # key rows [y0, y1), cols [x0, x1)
    keys: torch.Tensor  # (nk,) grid positions of the window
    additive: torch.Tensor  # (nq, nk) 0 inside the radius, -inf outside


@lru_cache(maxsize=8)
def _tiles(h: int, w: int, radius: float, tile: int) -> tuple[_Tile, ...]:
    reach = max(0, math.ceil(radius) - 1)
    tiles = []
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            wy0, wy1 = max(0, y0 - reach), min(h, y1 + reach)
            wx0, wx1 = max(0, x0 - reach), min(w, x1 + reach)
            qy, qx = torch.meshgrid(torch.arange(y0, y1), torch.arange(x0, x1), indexing="ij")
            ky, kx = torch.meshgrid(torch.arange(wy0, wy1), torch.arange(wx0, wx1), indexing="ij")
            qy, qx, ky, kx = qy.reshape(-1), qx.reshape(-1), ky.reshape(-1), kx.reshape(-1)
            inside = _within(qy[:, None] - ky[None, :], qx[:, None] - kx[None, :], radius)
            additive = torch.zeros(inside.shape).masked_fill_(~inside, float("-inf"))
            tiles.append(
                _Tile(qy * w + qx, (y0, y1), (x0, x1), (wy0, wy1, wx0, wx1), ky * w + kx, additive)
            )
    return tuple(tiles)


# ------------------------------------------------------------------------- top-k selection


@dataclass
class TopK:
    """Selected candidates of every query position of one frame (``P = h·w``).

    ``weights``, ``entries``, ``positions``, ``sources``: ``(P, k)`` — softmax weight, context
    entry (0 = first long-term entry; index into :func:`context_indices`), key position, and
    label source (real frame, or :data:`PAD0`). Sorted by decreasing weight.
    """

    weights: torch.Tensor
    entries: torch.Tensor
    positions: torch.Tensor
    sources: torch.Tensor
    logits: torch.Tensor = field(repr=False, default=None)

    def flat_indices(self, num_positions: int) -> torch.Tensor:
        """The reference's ``(k, P)`` index layout ``entry·P + position``."""
        return (self.entries * num_positions + self.positions).T.contiguous()


class LabelPropagator:
    """Streaming label propagation: give frame 0 to :meth:`start`, then every frame to :meth:`step`.

    Features are fused unit vectors ``(C, h, w)`` of one frame; soft labels ``(h, w, K)``.
    ``num_frames`` (if known) checks the ``long_mem`` entries like the original does.
    """

    def __init__(self, config: PropagationConfig, num_frames: int | None = None):
        self.config = config
        if num_frames is not None:
            for m in config.long_mem:
                if not 0 <= m < num_frames:
                    raise ValueError(
                        f"long_mem entry {m} is outside the video ({num_frames} frames)"
                    )
        self.t = -1
        self.grid: tuple[int, int] | None = None
        self._features: dict[int, torch.Tensor] = {}  # real frame -> (h, w, C)
        self._labels: dict[int, torch.Tensor] = {}  # label source -> (P, K)
        self._ring: torch.Tensor | None = None  # (n, h, w, C), frame r in slot r % n
        self.last_selection: TopK | None = None  # candidates of the last step (for inspection)

    # -------------------------------------------------------------- state
    @property
    def held_frames(self) -> list[int]:
        """Real frames whose features are held (frame 0, long memory, the last ``n``)."""
        short = range(max(0, self.t - self.config.video_len + 1), self.t + 1)
        return sorted(set(self._features) | set(short))

    def _store(self, r: int, hwc: torch.Tensor, label: torch.Tensor) -> None:
        n = self.config.video_len
        if self._ring is None:
            h, w, c = hwc.shape
            self._ring = torch.empty((n, h, w, c), dtype=hwc.dtype, device=hwc.device)
        self._ring[r % n] = hwc
        long_frames = {0} | {m + 1 for m in self.config.long_mem if m > 0}
        if r in long_frames:
            self._features[r] = hwc
        self._labels[r] = label
        # Labels of frames no later frame reads are dropped (features live in the ring).
        keep = long_frames | {PAD0} | set(range(max(0, r - n + 1), r + 1))
        for old in [s for s in self._labels if s not in keep]:
            del self._labels[old]

    @staticmethod
    def _hwc(features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 3:
            raise ValueError(
                f"expected fused features (C, h, w), got shape {tuple(features.shape)}"
            )
        return features.permute(1, 2, 0).contiguous()

    def _normalized(self, soft: torch.Tensor) -> torch.Tensor:
        out = soft.clone()
        out -= out.min(-1, keepdim=True)[0]
        out /= out.max(-1, keepdim=True)[0]
        return out

    # -------------------------------------------------------------- public steps
    def start(self, features: torch.Tensor, first_soft: torch.Tensor) -> torch.Tensor:
        """Frame 0: its features and its downsampled one-hot ``(h, w, K)``; returns its output."""
        hwc = self._hwc(features)
        h, w, _ = hwc.shape
        first_soft = torch.as_tensor(first_soft, dtype=torch.float32, device=hwc.device)
        if first_soft.shape[:2] != (h, w):
            raise ValueError(
                f"first-frame soft label is {tuple(first_soft.shape[:2])}, features are {(h, w)}"
            )
        self.grid, self.t = (h, w), 0
        self._features.clear()
        self._labels.clear()
        self._ring = None
        label = first_soft.reshape(h * w, -1).clone()
        self._labels[PAD0] = label.clone()
        self._store(0, hwc, label)
        out = first_soft.clone()
        if self.config.norm_mask:
            out = self._normalized(out)
            if not self.config.fix_norm_mask:
                # the original normalises padded index 0's label in place (it aliases frame 0's)
                self._labels[PAD0] = out.reshape(h * w, -1).clone()
        return out

    def step(self, features: torch.Tensor) -> torch.Tensor:
        """The next frame's features; returns its propagated soft label ``(h, w, K)``."""
        if self.t < 0:
            raise RuntimeError("call start() with frame 0 first")
        t = self.t + 1
        hwc = self._hwc(features)
        if hwc.shape[:2] != self.grid:
            raise ValueError(
                f"frame {t} has a {tuple(hwc.shape[:2])} feature grid, frame 0 {self.grid}"
            )
        selection = self.select(t, hwc)
        self.last_selection = selection
        pred = self.predict(selection)
        self._store(t, hwc, pred)
        self.t = t
        h, w = self.grid
        out = pred.reshape(h, w, -1)
        return self._normalized(out) if self.config.norm_mask else out.clone()

    # -------------------------------------------------------------- the two halves of a step
    def context(self, t: int) -> list[tuple[int, bool, int]]:
        """``(real frame, radius-restricted, label source)`` of each context entry of ``t``."""
        n = self.config.video_len
        entries = []
        for e, index in enumerate(context_indices(t, n, self.config.long_mem)):
            frame = padded_to_frame(index, n)
            short = e >= len(self.config.long_mem)
            source = PAD0 if (index == 0 and not short) else frame
            entries.append((frame, short, source))
        return entries

    def predict(self, selection: TopK) -> torch.Tensor:
        """Weighted sum of the selected candidates' soft labels, ``(P, K)``."""
        sources = torch.unique(selection.sources).tolist()
        bank = torch.stack([self._labels[s] for s in sources])  # (U, P, K)
        P = bank.shape[1]
        slot = torch.zeros(max(sources) + 2, dtype=torch.int64)
        slot[torch.tensor(sources) + 1] = torch.arange(len(sources))
        flat = slot[selection.sources + 1] * P + selection.positions  # (P, k)
        gathered = bank.reshape(len(sources) * P, -1)[flat]  # (P, k, K)
        return (gathered * selection.weights[..., None]).sum(1)

    def select(self, t: int, query_hwc: torch.Tensor) -> TopK:
        """Top-k candidates of every query position of frame ``t`` (features ``(h, w, C)``)."""
        h, w = self.grid
        if self.config.search == "dense" or self.config.topk > h * w:
            return self._select_dense(t, query_hwc)
        return self._select_local(t, query_hwc)

    # -------------------------------------------------------------- searches
    def _frame_features(self, frame: int) -> torch.Tensor:
        if frame in self._features:
            return self._features[frame]
        n = self.config.video_len
        if self.t - n < frame <= self.t or (frame == 0 and self.t < n):  # still in the ring
            return self._ring[frame % n]
        raise KeyError(f"features of frame {frame} are no longer held")

    def _select_local(self, t: int, query_hwc: torch.Tensor) -> TopK:
        cfg = self.config
        h, w = self.grid
        P, k = h * w, cfg.topk
        context = self.context(t)
        query = query_hwc.reshape(P, -1)
        parts_vals, parts_pos, parts_entry, parts_src = [], [], [], []

        # long-term entries: whole grid
        long_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for e, (frame, short, source) in enumerate(context):
            if short:
                continue
            if frame not in long_cache:
                keys = self._frame_features(frame).reshape(P, -1)
                vals, pos = [], []
                for q0 in range(0, P, cfg.query_chunk):
                    logits = query[q0 : q0 + cfg.query_chunk] @ keys.T
                    logits.div_(cfg.temperature)
                    v, i = torch.topk(logits, k, dim=1)
                    vals.append(v)
                    pos.append(i)
                long_cache[frame] = (torch.cat(vals), torch.cat(pos))
            vals, pos = long_cache[frame]
            parts_vals.append(vals)
            parts_pos.append(pos)
            parts_entry.append(torch.full_like(pos, e))
            parts_src.append(torch.full_like(pos, source))

        # short-term entries: every distinct frame once, inside the radius windows
        # (the ring holds every short-term frame of frame t: slot r % n, a prefix while t <= n)
        n = cfg.video_len
        used = min(n, max(t, 1))
        local_vals, local_pos = self._local_topk(query_hwc, self._ring[:used])  # (used, P, k)
        row = {frame: frame % n for frame, short, _ in context if short}
        for e, (frame, short, source) in enumerate(context):
            if not short:
                continue
            parts_vals.append(local_vals[row[frame]])
            parts_pos.append(local_pos[row[frame]])
            parts_entry.append(torch.full_like(local_pos[row[frame]], e))
            parts_src.append(torch.full_like(local_pos[row[frame]], source))

        vals = torch.cat(parts_vals, dim=1)
        best, choice = torch.topk(vals, k, dim=1)
        return TopK(
            F.softmax(best, dim=1),
            torch.gather(torch.cat(parts_entry, 1), 1, choice),
            torch.gather(torch.cat(parts_pos, 1), 1, choice),
            torch.gather(torch.cat(parts_src, 1), 1, choice),
            best,
        )

    def _local_topk(
        self, query_hwc: torch.Tensor, keys: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        h, w = self.grid
        D, P = keys.shape[0], h * w
        vals = torch.empty((D, P, cfg.topk), dtype=query_hwc.dtype)
        pos = torch.empty((D, P, cfg.topk), dtype=torch.int64)
        for tile in _tiles(h, w, float(cfg.radius), cfg.tile):
            (y0, y1), (x0, x1) = tile.rows, tile.cols
            wy0, wy1, wx0, wx1 = tile.window
            q = query_hwc[y0:y1, x0:x1].reshape(-1, query_hwc.shape[-1])
            kw = keys[:, wy0:wy1, wx0:wx1].reshape(D, -1, keys.shape[-1])
            logits = torch.matmul(kw, q.T).transpose(1, 2)  # (D, nq, nk)
            logits = logits.div_(cfg.temperature).add_(tile.additive)
            kk = min(cfg.topk, logits.shape[-1])
            v, i = torch.topk(logits, kk, dim=-1)
            if kk < cfg.topk:
                v = torch.cat([v, v.new_full((*v.shape[:2], cfg.topk - kk), float("-inf"))], -1)
                i = torch.cat([i, i.new_zeros((*i.shape[:2], cfg.topk - kk))], -1)
            vals[:, tile.queries] = v
            pos[:, tile.queries] = tile.keys[i]
        return vals, pos

    def _select_dense(self, t: int, query_hwc: torch.Tensor) -> TopK:
        """The reference's computation: all entries stacked, additive mask, 100 queries a chunk."""
        cfg = self.config
        h, w = self.grid
        P = h * w
        context = self.context(t)
        n_long = len(cfg.long_mem)
        keys = torch.stack(
            [self._frame_features(f).reshape(P, -1) for f, _, _ in context]
        )  # (E, P, C)
        mask = radius_mask(h, w, cfg.radius)
        additive = torch.zeros(mask.shape).masked_fill_(~mask, MASK_VALUE)  # [key, query]
        query = query_hwc.reshape(P, -1)
        sources = torch.tensor([s for _, _, s in context])
        weights, indices, logits_out = [], [], []
        for q0 in range(0, P, 100):
            logits = torch.einsum("epc,qc->epq", keys, query[q0 : q0 + 100])
            logits[n_long:] += additive[:, q0 : q0 + 100]
            logits /= cfg.temperature
            v, i = torch.topk(logits.reshape(len(context) * P, -1), cfg.topk, dim=0)
            weights.append(F.softmax(v, dim=0))
            indices.append(i)
            logits_out.append(v)
        idx = torch.cat(indices, dim=1).T  # (P, k)
        entries = idx // P
        return TopK(
            torch.cat(weights, dim=1).T.contiguous(),
            entries,
            idx % P,
            sources[entries],
            torch.cat(logits_out, dim=1).T.contiguous(),
        )
