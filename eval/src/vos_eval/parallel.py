"""Run one task per sequence, in this process or spread over worker processes.

Memory stays bounded: a worker holds one sequence at a time and streams its frames as
uint8 label maps. A user-input error in a worker comes back as a record (exceptions with
custom constructors do not survive pickling) and is raised again here with the same
one-line message; the run stops at the first one.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import cv2
from tqdm import tqdm
from vos_common.errors import VOSDataError

T = TypeVar("T")
R = TypeVar("R")


class _Guarded:
    """Picklable wrapper: returns ``("ok", result)`` or ``("error", path, problem)``."""

    def __init__(self, function: Callable[[T], R]):
        self.function = function

    def __call__(self, task):
        try:
            return ("ok", self.function(task))
        except VOSDataError as err:
            return ("error", err.path, err.problem)


class _ProgressBar(tqdm):
    """tqdm without its monitor thread, so that worker processes can be forked safely."""

    monitor_interval = 0


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _pool(processes: int):
    """A process pool that starts fast and safely.

    Plain ``fork`` is used when this process runs no other Python thread (so forking cannot
    copy a held lock); otherwise workers come from a ``forkserver`` that has imported the
    evaluator once. Either way each worker runs OpenCV single-threaded.
    """
    if os.name != "posix":
        context = multiprocessing.get_context("spawn")
    elif threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["vos_eval.davis", "vos_eval.davis2016", "vos_eval.rcf", "vos_eval.youtube"]
        )
    return ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker)


def default_workers() -> int:
    """Number of CPUs this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return max(os.cpu_count() or 1, 1)


def run_tasks(
    function: Callable[[T], R],
    tasks: Sequence[T],
    workers: int = 1,
    progress: bool = True,
    description: str = "sequences",
    sizes: Iterable[int] | None = None,
) -> list[R]:
    """``[function(task) for task in tasks]``, with ``workers`` processes and a progress bar.

    ``sizes`` (e.g. frames per sequence) only orders the dispatch, longest first, so that
    the last worker does not end up alone with the longest sequence; results keep ``tasks``
    order. Each task uses one thread (OpenCV's own thread pool is switched off) so that
    ``workers`` is the number of cores used.
    """
    guarded = _Guarded(function)
    order = list(range(len(tasks)))
    if sizes is not None:
        sizes = list(sizes)
        order.sort(key=lambda index: -sizes[index])
    results: list = [None] * len(tasks)
    previous_threads = cv2.getNumThreads()
    bar = None
    try:
        if workers <= 1 or len(tasks) <= 1:
            bar = _ProgressBar(
                total=len(tasks), desc=description, unit="seq", disable=not progress, leave=False
            )
            cv2.setNumThreads(1)
            for index in order:
                results[index] = guarded(tasks[index])
                bar.update()
                if results[index][0] == "error":
                    break
        else:
            pool = _pool(min(workers, len(tasks)))
            try:
                bar = _ProgressBar(
                    total=len(tasks),
                    desc=description,
                    unit="seq",
                    disable=not progress,
                    leave=False,
                )
                for index, outcome in zip(
                    order, pool.map(guarded, [tasks[index] for index in order]), strict=True
                ):
                    results[index] = outcome
                    bar.update()
                    if outcome[0] == "error":
                        break
            except BrokenProcessPool:
                # Workers could not start (e.g. a __main__ that cannot be re-imported): finish here.
                warnings.warn(
                    "worker processes failed to start; evaluating in this process", stacklevel=2
                )
                cv2.setNumThreads(1)
                for index in order:
                    if results[index] is None:
                        results[index] = guarded(tasks[index])
                        bar.update()
                        if results[index][0] == "error":
                            break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        cv2.setNumThreads(previous_threads)
        if bar is not None:
            bar.close()
    for outcome in results:
        if outcome is not None and outcome[0] == "error":
            raise VOSDataError(outcome[1], outcome[2])
    return [outcome[1] for outcome in results]
