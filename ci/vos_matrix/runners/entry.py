"""Calling a method's command-line entry point in-process, as a library call."""

from __future__ import annotations

import io
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr
from pathlib import Path


class EntryPointFailed(RuntimeError):
    """A method's entry point returned or exited with a non-zero status."""


def run_entry(
    main: Callable[[list[str]], object],
    prog: str,
    argv: Sequence[object],
    log: Callable[[str], None] = print,
) -> None:
    """Run ``main(argv)`` (argv items are turned into strings); raise if it fails.

    The command is logged as the equivalent shell line, so a failing cell can be re-run by
    hand. ``SystemExit`` from the entry point (its one-line user errors) becomes
    :class:`EntryPointFailed` so that one cell cannot end the matrix.
    """
    args = [os.fspath(a) if isinstance(a, Path) else str(a) for a in argv]
    log(f"$ python -m {prog} {shlex.join(args)}")
    errors = _ErrorLines(sys.stderr)
    try:
        with redirect_stderr(errors):
            status = main(args)
    except SystemExit as exit_:
        status = exit_.code
    if status not in (None, 0):
        said = f": {errors.last}" if errors.last else ""
        raise EntryPointFailed(f"python -m {prog} exited with status {status}{said}")


class _ErrorLines(io.TextIOBase):
    """Passes everything on to ``stream`` and remembers the last ``error: ...`` line (the
    one-line message every vos-suite entry point prints for bad input)."""

    def __init__(self, stream):
        self.stream = stream
        self.last = ""
        self._pending = ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            if line.startswith("error: "):
                self.last = line.removeprefix("error: ").strip()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def latest_file(folder: Path, pattern: str) -> Path:
    """The file matching ``pattern`` in ``folder`` with the largest trailing number."""

    def number(path: Path) -> int:
        digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
        return int(digits[-1]) if digits else -1

    files = sorted(folder.glob(pattern), key=number)
    if not files:
        raise FileNotFoundError(f"{folder}: no file matching {pattern}")
    return files[-1]
