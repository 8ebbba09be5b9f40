"""SFC (Hu et al., ECCV 2022): semantic-aware fine-grained correspondence for label propagation.

* :mod:`sfc.model` — the modified ResNet trunks, official checkpoint key maps, FC pre-training net.
* :mod:`sfc.inference` — feature fusion and label propagation (whole-video or streaming).
* Command lines with the original script names: ``python -m sfc.test_vos``,
  ``python -m sfc.convert_davis``, ``python -m sfc.train``, ``python -m sfc.segment``.
"""

__version__ = "0.1.0"
