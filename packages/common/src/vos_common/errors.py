"""Errors for bad user input, and the one-line reporting that every CLI of vos-suite uses."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class VOSDataError(ValueError):
    """A file or folder given by the user is missing, malformed or inconsistent.

    ``str(err)`` is one line that names the file and the problem: ``"<path>: <problem>"``.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")

    def __reduce__(self):  # picklable across worker processes (multiprocessing pools)
        return type(self), (self.path, self.problem)


def cli_errors(main: F) -> F:
    """Wrap a CLI ``main``: expected user errors print one line on stderr and exit with status 2.

    Programming errors (anything that is not a :class:`VOSDataError`, ``FileNotFoundError``
    or ``KeyboardInterrupt``) keep their traceback, since those are ours to fix.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except VOSDataError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except FileNotFoundError as err:
            name = err.filename if err.filename is not None else err
            print(f"error: {name}: no such file or directory", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]
