"""MiVOS propagation networks, readout and losses."""

from mivos_prop.model.network import ModelSpec, PropagationNetwork, TrainingNetwork, others_of
from mivos_prop.model.readout import affinity, normalise_affinity, readout, readout_reference

__all__ = [
    "ModelSpec",
    "PropagationNetwork",
    "TrainingNetwork",
    "affinity",
    "normalise_affinity",
    "others_of",
    "readout",
    "readout_reference",
]
