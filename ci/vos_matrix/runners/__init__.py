"""One runner per method name of ``matrix.yaml``."""

from __future__ import annotations

from vos_matrix.runners.base import Prediction, RunContext, Runner
from vos_matrix.runners.baselines import CopyFirstFrame, FlowThreshold
from vos_matrix.runners.mivos_prop import MiVOSProp
from vos_matrix.runners.oast import OASTRunner
from vos_matrix.runners.rcf import RCFRunner
from vos_matrix.runners.rde import RDE
from vos_matrix.runners.sfc import SFCRunner

RUNNERS: dict[str, type[Runner]] = {
    runner.name: runner
    for runner in (CopyFirstFrame, FlowThreshold, MiVOSProp, RDE, SFCRunner, RCFRunner, OASTRunner)
}

__all__ = ["RUNNERS", "Prediction", "RunContext", "Runner"]
