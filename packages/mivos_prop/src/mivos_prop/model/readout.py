"""Memory readout of MiVOS propagation: scaled dot product, softmax over the memory axis.

Memory keys ``kM`` ``(B, C_k, T, h, w)`` and values ``vM`` ``(B, C_v, T, h, w)`` are flattened
time-major to ``N = T*h*w`` positions; the query key ``kQ`` ``(B or 1, C_k, h, w)`` has ``h*w``
positions ``j``. The affinity is ``S[i, j] = <kM[:, i], kQ[:, j]> / sqrt(C_k)`` (no key
normalisation, no L2 distance) and it is normalised over the memory axis ``i`` for each ``j``:

* plain softmax (training, and eval with ``--no_top``);
* top-k (eval default, k = 50): softmax over the k largest ``S[., j]``, zero elsewhere;
* kernelized memory (``km_sigma``, eval only): ``E = exp(S - max_i S) * G`` where ``G`` is a
  Gaussian on the query grid centred on the query cell each memory cell matches best; top-k
  then ranks by ``E`` (not ``S``) and ``W = E / sum(kept E)``.

The readout is ``r[:, j] = sum_i vM[:, i] W[i, j]``.

Two implementations compute the same numbers (up to float rounding):

* :func:`readout_reference` follows the reference step by step: the ``(N, h*w)`` affinity,
  ``topk`` along the memory axis, the weights scattered into a zeroed dense copy, then a dense
  ``(C_v x N) @ (N x h*w)`` product. It is used by the parity tests and as the benchmark's
  "original implementation" baseline.
* :func:`readout` (the default everywhere) works on the transposed ``(h*w, N)`` affinity, whose
  rows are contiguous for ``topk``, and reads the k kept values per query position through a
  sparse (CSR) product instead of a dense product with a mostly-zero matrix. Its cost is
  ``O(C_v * k * h*w)`` instead of ``O(C_v * N * h*w)``.

Deviation: the reference raises when the memory has fewer than ``k`` positions (a single
memory frame of at most 112x112 pixels); here ``k`` is clamped to ``N``, which is then the
plain (max-subtracted) softmax.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

__all__ = ["affinity", "gaussian_kernel", "normalise_affinity", "readout", "readout_reference"]


def affinity(mk: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
    """``S`` of shape ``(B, N, h*w)`` (reference layout, memory axis first)."""
    b, ck, t, h, w = mk.shape
    mi = mk.reshape(b, ck, t * h * w).transpose(1, 2)
    qi = qk.reshape(qk.shape[0], ck, h * w).expand(b, -1, -1) / math.sqrt(ck)
    return torch.bmm(mi, qi)


def gaussian_kernel(best_query: torch.Tensor, h: int, w: int, sigma: float) -> torch.Tensor:
    """``G (B, N, h*w)``: Gaussian on the query grid centred on each memory cell's best query cell.

    ``best_query`` ``(B, N)`` holds flat query indices ``y * w + x``.
    """
    ys = torch.arange(h, device=best_query.device, dtype=torch.float32)
    xs = torch.arange(w, device=best_query.device, dtype=torch.float32)
    yv, xv = torch.meshgrid(ys, xs, indexing="ij")
    yv, xv = yv.reshape(1, 1, h * w), xv.reshape(1, 1, h * w)
    y_idx = torch.div(best_query, w, rounding_mode="floor").float().unsqueeze(2)
    x_idx = (best_query % w).float().unsqueeze(2)
    return torch.exp(-((yv - y_idx) ** 2 + (xv - x_idx) ** 2) / (2 * sigma**2))


def normalise_affinity(
    s: torch.Tensor, h: int, w: int, top_k: int | None = 50, km_sigma: float | None = None
) -> torch.Tensor:
    """Normalise a reference-layout affinity ``(B, N, h*w)`` over the memory axis (dim 1).

    Returns the dense weights ``W`` of the same shape (zeros outside the top-k). Unlike the
    reference (which is correct only for batch 1), the top-k maximum is subtracted per
    ``(batch, query)`` column.
    """
    n = s.shape[1]
    if km_sigma is not None:
        g = gaussian_kernel(s.argmax(dim=2), h, w, km_sigma)
        e = torch.exp(s - s.max(dim=1, keepdim=True)[0]) * g
        if top_k is None:
            return e / e.sum(dim=1, keepdim=True)
        values, indices = torch.topk(e, k=min(top_k, n), dim=1)
        values = values / values.sum(dim=1, keepdim=True)
    elif top_k is None:
        return F.softmax(s, dim=1)
    else:
        values, indices = torch.topk(s, k=min(top_k, n), dim=1)
        values = torch.exp(values - values[:, :1])
        values = values / values.sum(dim=1, keepdim=True)
    return torch.zeros_like(s).scatter_(1, indices, values)


def readout_reference(
    mk: torch.Tensor,
    mv: torch.Tensor,
    qk: torch.Tensor,
    top_k: int | None = 50,
    km_sigma: float | None = None,
) -> torch.Tensor:
    """Readout ``(B, C_v, h, w)`` exactly as the reference computes it (dense; see module doc)."""
    b, cv, t, h, w = mv.shape
    weights = normalise_affinity(affinity(mk, qk), h, w, top_k, km_sigma)
    return torch.bmm(mv.reshape(b, cv, t * h * w), weights).view(b, cv, h, w)


def _sparse_weighted_sum(
    values: torch.Tensor, weights: torch.Tensor, indices: torch.Tensor
) -> torch.Tensor:
    """``out[:, j] = sum_k weights[j, k] * values[:, indices[j, k]]`` for one batch entry.

    ``values`` ``(C_v, N)``, ``weights``/``indices`` ``(h*w, k)`` -> ``(C_v, h*w)``.
    """
    hw, k = weights.shape
    n = values.shape[1]
    crow = torch.arange(0, hw * k + 1, k, device=values.device, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        matrix = torch.sparse_csr_tensor(
            crow,
            indices.reshape(-1),
            weights.reshape(-1),
            size=(hw, n),
            dtype=values.dtype,
            device=values.device,
            check_invariants=False,
        )
    return torch.sparse.mm(matrix, values.t()).t()


def readout(
    mk: torch.Tensor,
    mv: torch.Tensor,
    qk: torch.Tensor,
    top_k: int | None = 50,
    km_sigma: float | None = None,
) -> torch.Tensor:
    """Readout ``(B, C_v, h, w)``; the fast form of :func:`readout_reference` (module doc)."""
    b, ck, t, h, w = mk.shape
    cv = mv.shape[1]
    n, hw = t * h * w, h * w
    q = (qk.reshape(qk.shape[0], ck, hw) / math.sqrt(ck)).transpose(1, 2).expand(b, -1, -1)
    s = torch.bmm(q, mk.reshape(b, ck, n))  # (B, hw, N): one row per query position
    mem = mv.reshape(b, cv, n)
    if km_sigma is not None:
        g = gaussian_kernel(s.argmax(dim=1), h, w, km_sigma).transpose(1, 2)
        e = torch.exp(s - s.max(dim=2, keepdim=True)[0]) * g
        if top_k is None:
            return torch.bmm(mem, (e / e.sum(dim=2, keepdim=True)).transpose(1, 2)).view(
                b, cv, h, w
            )
        values, indices = torch.topk(e, k=min(top_k, n), dim=2)
        values = values / values.sum(dim=2, keepdim=True)
    elif top_k is None:
        return torch.bmm(mem, F.softmax(s, dim=2).transpose(1, 2)).view(b, cv, h, w)
    else:
        values, indices = torch.topk(s, k=min(top_k, n), dim=2)
        values = torch.exp(values - values[:, :, :1])
        values = values / values.sum(dim=2, keepdim=True)
    out = torch.stack([_sparse_weighted_sum(mem[i], values[i], indices[i]) for i in range(b)])
    return out.view(b, cv, h, w)
