"""vos_common: datasets, formats, optical flow, synthetic benchmark and shared plumbing for vos-suite.

The data layer (``vos_common.io``, ``vos_common.datasets``, ``vos_common.synth``,
``vos_common.flow``) needs only numpy, OpenCV and Pillow; torch is imported lazily by the
parts that need it (RAFT flow, training utilities), so ``vos_eval`` can build on this package
without depending on torch.
"""

from vos_common.errors import VOSDataError

__version__ = "0.1.0"

__all__ = ["VOSDataError", "__version__"]
