"""vos_eval: one evaluator for every VOS protocol, identical to the official tools, much faster.

Python API (each returns an :class:`EvaluationResult` with the same numbers the CLI prints):

* :func:`evaluate_davis` - DAVIS 2017 semi-supervised / unsupervised, DAVIS 2016 (``year=2016``)
* :func:`evaluate_davis2016` - DAVIS 2016 with the GT source recorded
* :func:`evaluate_rcf_davis2016`, :func:`evaluate_rcf_iou` - RCF's protocols, by name
* :func:`evaluate_youtube`, :func:`pack_submission`, :func:`check_submission` - YouTube-VOS
* :func:`oast_iou`, :class:`OASTIoUMeter` - OAST's training-time IoU
* :func:`region_similarity`, :func:`boundary_measure`, :func:`object_statistics` - the metrics
* :func:`write_reports`, :func:`console_report` - official CSVs, JSON, console table
"""

from vos_eval.davis import evaluate_davis
from vos_eval.davis2016 import evaluate_davis2016
from vos_eval.metrics import (
    BOUND_TH,
    ObjectStatistics,
    boundary_map,
    boundary_measure,
    boundary_radius,
    decay_bin_edges,
    disk,
    object_statistics,
    region_similarity,
)
from vos_eval.oast import OASTIoUMeter, oast_batch_iou, oast_iou
from vos_eval.rcf import evaluate_rcf_davis2016, evaluate_rcf_iou
from vos_eval.report import (
    console_report,
    global_csv,
    per_sequence_csv,
    result_to_json,
    write_reports,
)
from vos_eval.results import EvaluationResult, ObjectResult
from vos_eval.youtube import (
    SubmissionIncomplete,
    check_submission,
    evaluate_youtube,
    pack_submission,
)

__version__ = "0.1.0"

__all__ = [
    "BOUND_TH",
    "EvaluationResult",
    "OASTIoUMeter",
    "ObjectResult",
    "ObjectStatistics",
    "SubmissionIncomplete",
    "__version__",
    "boundary_map",
    "boundary_measure",
    "boundary_radius",
    "check_submission",
    "console_report",
    "decay_bin_edges",
    "disk",
    "evaluate_davis",
    "evaluate_davis2016",
    "evaluate_rcf_davis2016",
    "evaluate_rcf_iou",
    "evaluate_youtube",
    "global_csv",
    "oast_batch_iou",
    "oast_iou",
    "object_statistics",
    "pack_submission",
    "per_sequence_csv",
    "region_similarity",
    "result_to_json",
    "write_reports",
]
