"""Soft aggregation of per-object probabilities (STM's log-odds merge).

A single-object network run once per object gives foreground probabilities ``p_1..p_K``. They
are merged into one distribution over background + K objects:

1. ``q_0 = prod_k (1 - p_k)`` (background) and ``q_k = p_k``;
2. every ``q`` is clamped to ``[eps, 1 - eps]`` (``eps = 1e-7``);
3. ``l_k = log(q_k / (1 - q_k))`` (log-odds, background first);
4. the result is ``softmax_k(l)``.

Training uses the log-odds ``l`` directly as cross-entropy logits (:func:`aggregate_logits`);
inference keeps the softmax, background included (:func:`soft_aggregate`). A one-hot mask
becomes ``1 - ~1e-14`` / ``~1e-14`` after aggregation because the clamped odds are ``1e7`` and
``1e-7``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-7


def aggregate_logits(prob: torch.Tensor, dim: int = 0, eps: float = EPS) -> torch.Tensor:
    """Log-odds with a background channel prepended along ``dim``: ``K`` channels -> ``K + 1``."""
    background = torch.prod(1 - prob, dim=dim, keepdim=True)
    q = torch.cat([background, prob], dim).clamp(eps, 1 - eps)
    return torch.log(q / (1 - q))


def soft_aggregate(
    prob: torch.Tensor, dim: int = 0, keep_bg: bool = True, eps: float = EPS
) -> torch.Tensor:
    """Merge per-object probabilities along ``dim`` into background + objects.

    ``prob`` holds ``K`` per-object foreground probabilities along ``dim`` (e.g. ``(K, 1, H, W)``
    with ``dim=0``). Returns ``K + 1`` channels (background first) summing to 1, or only the
    ``K`` object channels when ``keep_bg`` is false.
    """
    out = F.softmax(aggregate_logits(prob, dim, eps), dim=dim)
    if keep_bg:
        return out
    return out.narrow(dim, 1, out.shape[dim] - 1)
