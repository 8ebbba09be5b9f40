"""Run logging on the main process: console lines, ``metrics.csv`` and TensorBoard scalars.

The CSV file is rewritten atomically at every log call (it is small: one row per logged step),
so a crash never leaves a half-written row. On resume, rows after the resumed step are dropped
and TensorBoard purges its events after that step.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from vos_common.io.atomic import atomic_write_text

__all__ = ["MetricLogger", "console_logger", "read_metrics_csv"]

LOGGER_NAME = "vos_common.training"


class _TqdmHandler(logging.StreamHandler):
    """Print log records above an active tqdm bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never take the run down
            self.handleError(record)


def console_logger(is_main_process: bool, process_index: int = 0) -> logging.Logger:
    """The ``vos_common.training`` logger: INFO on the main process, warnings only on the others."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = False
    for handler in list(logger.handlers):
        if getattr(handler, "_vos_training", False):
            logger.removeHandler(handler)
    handler = _TqdmHandler()
    handler._vos_training = True
    prefix = "" if is_main_process else f"[rank {process_index}] "
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if is_main_process else logging.WARNING)
    return logger


def read_metrics_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` as dicts of strings (empty list if the file is absent)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.4e}"
    return f"{value:.4f}"


class MetricLogger:
    """Write scalar metrics per step to the console, ``<run>/metrics.csv`` and TensorBoard.

    Only the main process should create an enabled logger; ``enabled=False`` makes every call a
    no-op. ``resume_step`` (the step a run resumed from) keeps the rows up to that step from
    ``history_csv`` (default: this run's own CSV) and purges later TensorBoard events.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        resume_step: int | None = None,
        history_csv: str | os.PathLike | None = None,
        logger: logging.Logger | None = None,
    ):
        self.enabled = enabled
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.rows: list[dict[str, str]] = []
        self.columns: list[str] = ["step"]
        self.writer = None
        if not enabled:
            return
        if resume_step is not None:
            history = self.csv_path if history_csv is None else Path(history_csv)
            for row in read_metrics_csv(history):
                if int(row["step"]) <= resume_step:
                    self.rows.append(row)
                    self.columns += [c for c in row if c not in self.columns]
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self.writer = SummaryWriter(
                log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge
            )

    def log(self, step: int, metrics: dict[str, float], *, console: bool = True) -> None:
        """Record ``metrics`` (name → float) at optimizer step ``step``."""
        if not self.enabled:
            return
        if console:
            text = "  ".join(f"{k} {_format_value(v)}" for k, v in metrics.items())
            self.logger.info("step %d  %s", step, text)
        row = {"step": str(step)}
        row.update(
            {k: repr(float(v)) if not isinstance(v, int) else str(v) for k, v in metrics.items()}
        )
        self.columns += [c for c in row if c not in self.columns]
        self.rows.append(row)
        self._write_csv()
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(name, value, step)
            self.writer.flush()

    def _write_csv(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.csv_path, buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
