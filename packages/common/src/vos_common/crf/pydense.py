"""Dense CRF on the CPU through pydensecrf (PyPI ``pydensecrf2``), one frame or many in a pool.

pydensecrf filters with a permutohedral lattice (an approximation of the Gaussian kernels, see
``docs/crf.md``); it is what RCF's post-processing (spec ``rcf.md`` §5.3) runs, so RCF results
are reproduced with this implementation. Install it with ``pip install "vos-common[crf]"``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Literal

import numpy as np
from tqdm import tqdm

from vos_common.crf.params import RCF_CRF, RCF_POSTPROCESS_SCALE, CRFParams
from vos_common.crf.unary import rcf_mask_probabilities, unary_energies

INSTALL_HINT = 'install it with: pip install "vos-common[crf]" (PyPI package pydensecrf2)'

Output = Literal["labels", "probabilities"]


class PyDenseCRFMissing(ImportError):
    """pydensecrf cannot be imported; the message says how to install it."""


def require_pydensecrf():
    """Import and return ``pydensecrf.densecrf``, or raise :class:`PyDenseCRFMissing`."""
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError as err:
        raise PyDenseCRFMissing(
            f"the CPU dense CRF needs pydensecrf, which cannot be imported ({err}); {INSTALL_HINT}"
        ) from err
    return densecrf


def pydensecrf_available() -> bool:
    try:
        require_pydensecrf()
    except PyDenseCRFMissing:
        return False
    return True


def _check_frame(image: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    probabilities = np.asarray(probabilities)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if probabilities.ndim != 3 or probabilities.shape[1:] != image.shape[:2]:
        raise ValueError(
            f"probabilities must be (C, H, W) with (H, W) = {image.shape[:2]}, "
            f"got shape {probabilities.shape}"
        )
    if not (image.flags.c_contiguous and image.flags.writeable):
        # pydensecrf's typed memoryview refuses read-only buffers (np.asarray of a PIL image)
        image = image.copy()
    return image, probabilities


def dense_crf(
    image: np.ndarray, probabilities: np.ndarray, params: CRFParams = RCF_CRF
) -> np.ndarray:
    """Refine one frame: image ``(H, W, 3)`` uint8 + probabilities ``(C, H, W)`` -> marginals.

    Returns ``(C, H, W)`` float32.

    The unary is ``-log P``; the pairwise terms and iterations come from ``params``
    (defaults: RCF's bilateral-only CRF). The result is pydensecrf's mean-field marginals.
    """
    image, probabilities = _check_frame(image, probabilities)
    densecrf = require_pydensecrf()
    classes, height, width = probabilities.shape
    crf = densecrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(unary_energies(probabilities))
    if params.uses_gaussian:
        crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_compat)
    if params.uses_bilateral:
        crf.addPairwiseBilateral(
            sxy=params.bilateral_sxy,
            srgb=params.bilateral_srgb,
            rgbim=image,
            compat=params.bilateral_compat,
        )
    marginals = np.asarray(crf.inference(params.iterations), dtype=np.float32)
    return marginals.reshape(classes, height, width)


def dense_crf_labels(
    image: np.ndarray, probabilities: np.ndarray, params: CRFParams = RCF_CRF
) -> np.ndarray:
    """MAP labels of one frame after the CRF, ``(H, W)`` uint8 (class index, ties to the lower)."""
    return dense_crf(image, probabilities, params).argmax(axis=0).astype(np.uint8)


def rcf_crf_mask(
    image: np.ndarray,
    mask: np.ndarray,
    scale: float = RCF_POSTPROCESS_SCALE,
    params: CRFParams = RCF_CRF,
) -> np.ndarray:
    """RCF's CRF of one soft object mask -> binary mask ``(H, W)`` uint8 in {0, 1}.

    ``mask`` is uint8 on the 0..255 scale (exported PNG, post-processing with ``scale 0.8``)
    or float in [0, 1] (``scale 0.7`` for targets and pseudo-labels); see
    :func:`~vos_common.crf.unary.rcf_mask_probabilities` for the unary recipe.
    """
    return dense_crf_labels(image, rcf_mask_probabilities(mask, scale), params)


def _refine_one(
    frame: tuple[np.ndarray, np.ndarray], params: CRFParams, output: Output
) -> np.ndarray:
    image, probabilities = frame
    if output == "labels":
        return dense_crf_labels(image, probabilities, params)
    return dense_crf(image, probabilities, params)


def _rcf_one(frame: tuple[np.ndarray, np.ndarray], params: CRFParams, scale: float) -> np.ndarray:
    image, mask = frame
    return rcf_crf_mask(image, mask, scale, params)


def _map_frames(
    function, frames: list, workers: int, progress: bool, desc: str
) -> list[np.ndarray]:
    """``[function(f) for f in frames]``, in order, in ``workers`` spawned processes when > 1."""
    bar = tqdm(total=len(frames), desc=desc, unit="frame", disable=not progress)
    try:
        if workers <= 1 or len(frames) <= 1:
            results = []
            for frame in frames:
                results.append(function(frame))
                bar.update()
            return results
        # spawn, not fork: a forked child of a process that already runs torch / OpenMP threads
        # can deadlock; the workers only need NumPy and pydensecrf.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(frames)), mp_context=context) as pool:
            results = []
            for result in pool.map(function, frames):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()


def _pairs(images, second, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(images) != len(second):
        raise ValueError(f"got {len(images)} images but {len(second)} {name}")
    return [(np.asarray(a), np.asarray(b)) for a, b in zip(images, second, strict=True)]


def dense_crf_frames(
    images: Sequence[np.ndarray] | np.ndarray,
    probabilities: Sequence[np.ndarray] | np.ndarray,
    params: CRFParams = RCF_CRF,
    output: Output = "labels",
    workers: int = 1,
    progress: bool = True,
    desc: str = "dense CRF",
) -> list[np.ndarray]:
    """Refine many frames: ``images[t]`` ``(H, W, 3)`` uint8, ``probabilities[t]`` ``(C, H, W)``.

    Returns one array per frame, in order: ``(H, W)`` uint8 labels or ``(C, H, W)`` float32
    marginals (``output``). ``workers > 1`` spreads frames over that many processes (results
    equal the serial ones); ``progress`` shows a tqdm bar. Frames may differ in size.
    """
    if output not in ("labels", "probabilities"):
        raise ValueError(f"output must be 'labels' or 'probabilities', got {output!r}")
    require_pydensecrf()  # fail before starting processes
    frames = _pairs(images, probabilities, "probability maps")
    return _map_frames(
        partial(_refine_one, params=params, output=output), frames, workers, progress, desc
    )


def rcf_crf_masks(
    images: Sequence[np.ndarray] | np.ndarray,
    masks: Sequence[np.ndarray] | np.ndarray,
    scale: float = RCF_POSTPROCESS_SCALE,
    params: CRFParams = RCF_CRF,
    workers: int = 1,
    progress: bool = True,
    desc: str = "RCF CRF",
) -> list[np.ndarray]:
    """:func:`rcf_crf_mask` over many frames (RCF's post-processing), optionally in a process pool.

    Each worker builds the unary from the ``(H, W)`` mask itself, so only uint8 images and
    masks cross process boundaries.
    """
    require_pydensecrf()
    frames = _pairs(images, masks, "masks")
    return _map_frames(
        partial(_rcf_one, params=params, scale=scale), frames, workers, progress, desc
    )
