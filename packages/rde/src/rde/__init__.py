"""RDE-VOS (Li et al., CVPR 2022): recurrent dynamic embedding on STCN.

* :mod:`rde.model` — networks (encoders, decoder, SAM), checkpoint loading, losses;
* :mod:`rde.inference` — memory bank with every memory mode and the frame-by-frame core;
* :mod:`rde.data` — training data (mask perturbation, 5-frame clips, static pseudo-videos);
* entry points ``rde.eval_davis``, ``rde.eval_davis_2016``, ``rde.eval_youtube``,
  ``rde.eval_generic``, ``rde.train``, ``rde.segment``.
"""

__version__ = "0.1.0"
