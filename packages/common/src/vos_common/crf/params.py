"""Dense-CRF parameters, with the meaning pydensecrf gives them, and RCF's settings.

A fully connected CRF over the pixels of one image (Krähenbühl & Koltun, NIPS 2011) has unary
energies ``U = -log P`` and up to two Potts pairwise terms, each weighted by a Gaussian kernel
on a feature vector per pixel:

* Gaussian (smoothness) term: features ``(x / gaussian_sxy, y / gaussian_sxy)``,
  weight ``gaussian_compat`` (pydensecrf ``addPairwiseGaussian(sxy, compat)``);
* bilateral (appearance) term: features ``(x / bilateral_sxy, y / bilateral_sxy,
  r / bilateral_srgb, g / bilateral_srgb, b / bilateral_srgb)``, weight ``bilateral_compat``
  (pydensecrf ``addPairwiseBilateral(sxy, srgb, rgbim, compat)``).

The kernel is ``k(i, j) = exp(-|f_i - f_j|^2 / 2)``, symmetrically normalised
(``D^-1/2 K D^-1/2`` with ``D = diag(K 1)``), and mean-field inference runs ``iterations``
steps of ``Q <- softmax(-U + sum_terms compat * D^-1/2 K D^-1/2 Q)``.
A compat of 0 switches a term off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class CRFParams:
    """Dense-CRF settings. Defaults are RCF's (spec ``rcf.md`` §3.2 step 4 and §5.3 step 4).

    RCF uses the bilateral term alone (``sxy 60``, ``srgb 5``, ``compat 5``) at 480p and on
    384×384 training crops, with 50 mean-field iterations; its Gaussian term is off.
    ``gaussian_sxy`` keeps pydensecrf's usual 3 px so that switching the term on with a
    non-zero ``gaussian_compat`` gives the common DeepLab-style setting.
    """

    iterations: int = 50
    bilateral_sxy: float = 60.0
    bilateral_srgb: float = 5.0
    bilateral_compat: float = 5.0
    gaussian_sxy: float = 3.0
    gaussian_compat: float = 0.0

    def __post_init__(self) -> None:
        if int(self.iterations) != self.iterations or self.iterations < 0:
            raise ValueError(f"iterations must be a non-negative integer, got {self.iterations!r}")
        for name in ("bilateral_sxy", "bilateral_srgb", "gaussian_sxy"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("bilateral_compat", "gaussian_compat"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must be >= 0 (0 disables the term), got {getattr(self, name)!r}"
                )

    @property
    def uses_bilateral(self) -> bool:
        return self.bilateral_compat > 0

    @property
    def uses_gaussian(self) -> bool:
        return self.gaussian_compat > 0

    def scaled(self, factor: float) -> CRFParams:
        """The same CRF for images resized by ``factor``: spatial stds scale, colour std does not.

        RCF's smoke configuration runs at 64×64 instead of 384×384: ``RCF_CRF.scaled(64 / 384)``
        gives ``bilateral_sxy = 10``.
        """
        if not factor > 0:
            raise ValueError(f"scale factor must be positive, got {factor!r}")
        return dataclasses.replace(
            self, bilateral_sxy=self.bilateral_sxy * factor, gaussian_sxy=self.gaussian_sxy * factor
        )

    def with_iterations(self, iterations: int) -> CRFParams:
        return dataclasses.replace(self, iterations=iterations)


RCF_CRF = CRFParams()
"""RCF's CRF for the stage-2.1 targets, the pseudo-labels and the 480p post-processing."""

RCF_POSTPROCESS_SCALE = 0.8
"""§5.3: the exported mask (0..255) is divided by 0.8 before quantisation."""

RCF_TARGET_SCALE = 0.7
"""§3.2 and §5.5 step 1: ``crf_scale`` of the stage-2.1 targets and of the first PL CRF."""

RCF_PSEUDO_LABEL_REFINED_SCALE = 0.5
"""§5.5 step 3: ``crf_scale`` of the CRF run on the NCut-refined mask."""
