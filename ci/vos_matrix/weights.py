"""Weights of a cell: train a method's tiny config once per configuration hash (cached under
``<cache>/weights/``, written atomically), or find a given checkpoint.

A training run happens in ``<key>.partial/`` and is renamed to ``<key>/`` only when it ended
with its weights file and ``weights.json``, so an interrupted run is never mistaken for a
finished one and is simply redone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text

WEIGHTS_RECORD = "weights.json"


@dataclass
class Weights:
    """What a runner loads: a file, plus what produced it."""

    path: Path | None
    source: str  # "trained (cached)", "trained", "checkpoint", "none"
    seconds: float = 0.0
    extra: dict | None = None

    def describe(self) -> str:
        if self.path is None:
            return "none"
        return f"{self.source}: {self.path}"


def config_hash(parts: dict) -> str:
    """Short stable hash of everything that determines a training run's result."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def cached_training(
    cache: Path,
    method: str,
    key_parts: dict,
    train: Callable[[Path], tuple[Path, dict]],
    log: Callable[[str], None] = print,
) -> Weights:
    """Run ``train(run_dir) -> (weights file, extra info)`` unless its result is cached.

    The cache folder is ``<cache>/weights/<method>-<hash of key_parts>/``; ``weights.json``
    there records the key, the weights file (relative to the folder) and the training time.
    """
    folder = cache / "weights" / f"{method}-{config_hash(key_parts)}"
    record = folder / WEIGHTS_RECORD
    if record.is_file():
        info = json.loads(record.read_text())
        path = folder / info["weights"]
        if path.is_file():
            log(f"{method}: cached weights {path} (trained in {info['seconds']:.0f} s)")
            return Weights(path, "trained (cached)", 0.0, info.get("extra"))
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    key_text = json.dumps(key_parts, sort_keys=True, default=str)
    log(f"{method}: training into {partial} (key {key_text})")
    start = time.perf_counter()
    weights, extra = train(partial)
    seconds = time.perf_counter() - start
    weights = Path(weights)
    if not weights.is_file():
        raise RuntimeError(f"{method}: training ended without its weights file {weights}")
    relative = weights.resolve().relative_to(partial.resolve())
    prune_resume_checkpoints(partial, weights)
    atomic_write_text(
        partial / WEIGHTS_RECORD,
        json.dumps(
            {"key": key_parts, "weights": str(relative), "seconds": seconds, "extra": extra},
            indent=2,
            default=str,
        ),
    )
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    log(f"{method}: trained in {seconds:.0f} s -> {folder / relative}")
    return Weights(folder / relative, "trained", seconds, extra)


def prune_resume_checkpoints(run_dir: Path, keep: Path) -> None:
    """Delete the trainers' resumable ``checkpoints/`` folders (optimizer states, one per save):
    the cache keeps the weights file, configs and logs only."""
    for folder in sorted(run_dir.rglob("checkpoints"), reverse=True):
        if folder.is_dir() and not keep.resolve().is_relative_to(folder.resolve()):
            shutil.rmtree(folder)


def given_checkpoint(entry: dict, weights_dir: Path | None, what: str = "checkpoint") -> Path:
    """The checkpoint file of a weights entry: absolute, or relative to ``--weights-dir``."""
    name = entry.get(what)
    if not name:
        raise VOSDataError(None, f"weights entry has no {what!r}: {entry}")
    path = Path(name)
    if not path.is_absolute():
        if weights_dir is None:
            raise VOSDataError(path, "relative checkpoint name needs --weights-dir")
        path = weights_dir / path
    if not path.is_file():
        raise VOSDataError(
            path, f"{what} file does not exist (official name; see the method's README)"
        )
    return path
