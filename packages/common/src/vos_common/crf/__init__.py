"""Dense CRF post-processing and CRF targets (fully connected CRF with Gaussian edge potentials).

Two implementations of one model (:mod:`vos_common.crf.params` defines it; defaults = RCF's):

* :func:`dense_crf` / :func:`dense_crf_frames` / :func:`rcf_crf_masks`: CPU, through
  pydensecrf (``pip install "vos-common[crf]"``), one frame or many over a process pool;
  this is what RCF's post-processing runs.
* :func:`torch_dense_crf` and friends: pure PyTorch, GPU when present, batched over frames,
  exact on small images and a sparse bilateral grid at 480p (see ``docs/crf.md``).

Importing this package needs neither torch nor pydensecrf: the torch names load
:mod:`vos_common.crf.torch_crf` on first use, and pydensecrf is imported when a CPU CRF runs.
"""

from __future__ import annotations

from vos_common.crf.params import (
    RCF_CRF,
    RCF_POSTPROCESS_SCALE,
    RCF_PSEUDO_LABEL_REFINED_SCALE,
    RCF_TARGET_SCALE,
    CRFParams,
)
from vos_common.crf.pydense import (
    INSTALL_HINT,
    PyDenseCRFMissing,
    dense_crf,
    dense_crf_frames,
    dense_crf_labels,
    pydensecrf_available,
    rcf_crf_mask,
    rcf_crf_masks,
    require_pydensecrf,
)
from vos_common.crf.unary import (
    noisy_probabilities,
    quantise_rcf_mask,
    rcf_mask_probabilities,
    unary_energies,
)

_TORCH_NAMES = (
    "torch_dense_crf",
    "torch_dense_crf_labels",
    "torch_dense_crf_frames",
    "rcf_crf_target",
    "rcf_mask_probabilities_torch",
)


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from vos_common.crf import torch_crf

        return getattr(torch_crf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INSTALL_HINT",
    "RCF_CRF",
    "RCF_POSTPROCESS_SCALE",
    "RCF_PSEUDO_LABEL_REFINED_SCALE",
    "RCF_TARGET_SCALE",
    "CRFParams",
    "PyDenseCRFMissing",
    "dense_crf",
    "dense_crf_frames",
    "dense_crf_labels",
    "noisy_probabilities",
    "pydensecrf_available",
    "quantise_rcf_mask",
    "rcf_crf_mask",
    "rcf_crf_masks",
    "rcf_mask_probabilities",
    "require_pydensecrf",
    "unary_energies",
    *_TORCH_NAMES,
]
