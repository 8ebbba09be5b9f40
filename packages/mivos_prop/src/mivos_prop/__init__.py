"""mivos_prop: MiVOS mask propagation (STM with top-k memory readout), faithful and trainable."""

__version__ = "0.1.0"
