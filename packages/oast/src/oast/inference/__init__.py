"""Test-time prediction: the release's pre-processing (PIL resize to 384×640), forward, and
post-processing (sigmoid, align-corners bilinear resize to the original size, threshold ≥ 0.5)."""

from oast.inference.predict import Predictor, postprocess, preprocess

__all__ = ["Predictor", "postprocess", "preprocess"]
