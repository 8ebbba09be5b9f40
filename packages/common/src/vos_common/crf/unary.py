"""Unary terms: probabilities -> energies, and RCF's recipe turning one soft mask into two classes.

NumPy only (no pydensecrf, no torch), so that both CRF implementations and the method code can
share it. The torch twin of :func:`rcf_mask_probabilities` lives in
:mod:`vos_common.crf.torch_crf` (it keeps the tensors on the GPU).
"""

from __future__ import annotations

import cv2
import numpy as np

PROBABILITY_FLOOR = 1e-10
"""Probabilities are clipped to at least this before ``-log`` (a zero would give an infinite
energy); RCF's own clipping to ``[1e-6, 1 - 1e-6]`` happens first and is never altered by it."""

RCF_CERTAINTY_CLIP = 1e-6


def unary_energies(probabilities: np.ndarray) -> np.ndarray:
    """``-log P`` as pydensecrf wants it: ``(C, H, W)`` probabilities -> ``(C, H*W)`` float32.

    The logarithm is taken in float64 and rounded once to float32, as RCF's CRF tools do, so
    that the post-processing reproduces their unary bit for bit.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must be (C, H, W), got shape {probabilities.shape}")
    if probabilities.shape[0] < 2:
        raise ValueError(f"a CRF needs at least 2 classes, got {probabilities.shape[0]}")
    clipped = np.maximum(probabilities.astype(np.float64), PROBABILITY_FLOOR)
    energies = -np.log(clipped).astype(np.float32)
    return np.ascontiguousarray(energies.reshape(probabilities.shape[0], -1))


def quantise_rcf_mask(mask: np.ndarray, scale: float) -> np.ndarray:
    """RCF's first step: stretch a soft mask by ``1 / scale`` and cut it to uint8, ``(H, W)``.

    * uint8 input is on the 0..255 scale of an exported PNG: ``uint8(clip(m / scale, 0, 255))``
      (post-processing, §5.3 step 2, ``scale = 0.8``);
    * float input is a probability in [0, 1]: ``uint8(clip(p * 255 / scale, 0, 255))``
      (training targets and pseudo-labels, §3.2 step 4, ``scale = 0.7`` / ``0.5``).

    The cast truncates, so every value at or above ``scale`` becomes 255.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if mask.dtype == np.uint8:
        stretched = mask / scale
    elif np.issubdtype(mask.dtype, np.floating):
        stretched = mask * 255.0 / scale
    else:
        raise ValueError(f"mask must be uint8 (0..255) or float (0..1), got {mask.dtype}")
    return np.clip(stretched, 0, 255).astype(np.uint8)


def rcf_mask_probabilities(mask: np.ndarray, scale: float) -> np.ndarray:
    """Two-class probabilities ``(2, H, W)`` float64 from one soft object mask, RCF's way.

    ``q = quantise_rcf_mask(mask, scale)``; ``U = q / (max q + 1e-8)`` (per-image max
    normalisation: any non-empty mask gets a pixel of certainty 1); ``U`` clipped to
    ``[1e-6, 1 - 1e-6]``; row 0 = background ``1 - U``, row 1 = object ``U``.

    RCF's post-processing first applies a Gaussian filter of sigma 0.1 to ``q``; SciPy's filter
    truncates at 4 sigma, giving a one-tap kernel on a uint8 array, i.e. the identity, so it is
    left out here without changing a single value.
    """
    quantised = quantise_rcf_mask(mask, scale)
    certainty = quantised / (float(quantised.max()) + 1e-8)
    certainty = np.clip(certainty, RCF_CERTAINTY_CLIP, 1.0 - RCF_CERTAINTY_CLIP)
    return np.stack([1.0 - certainty, certainty])


def noisy_probabilities(
    labels: np.ndarray,
    classes: int | None = None,
    confidence: float = 2.0,
    noise: float = 1.5,
    blob_noise: float = 1.0,
    blob_sigma: float = 4.0,
    edge_sigma: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """A degraded unary from ground truth, for CRF tests and benchmarks.

    ``(H, W)`` ids -> ``(C, H, W)`` float32 probabilities.

    Logits are ``confidence * blur(one_hot, edge_sigma)`` plus per-pixel Gaussian noise (std
    ``noise``) plus spatially correlated noise (white noise blurred with ``blob_sigma`` px and
    rescaled to std ``blob_noise``), then a softmax over classes. The arg-max of the result is
    wrong on a good share of the pixels, in speckles and blobs, which a CRF should repair.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    classes = int(labels.max()) + 1 if classes is None else classes
    classes = max(classes, 2)
    rng = np.random.default_rng(seed)
    one_hot = np.eye(classes, dtype=np.float32)[labels]  # (H, W, C)
    if edge_sigma > 0:
        one_hot = cv2.GaussianBlur(one_hot, (0, 0), edge_sigma).reshape(one_hot.shape)
    logits = confidence * one_hot + rng.normal(0.0, noise, one_hot.shape).astype(np.float32)
    if blob_noise > 0:
        blobs = cv2.GaussianBlur(
            rng.normal(0.0, 1.0, one_hot.shape).astype(np.float32), (0, 0), blob_sigma
        ).reshape(one_hot.shape)
        logits += blob_noise * blobs / max(float(blobs.std()), 1e-12)
    logits -= logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    return np.ascontiguousarray((weights / weights.sum(axis=2, keepdims=True)).transpose(2, 0, 1))
