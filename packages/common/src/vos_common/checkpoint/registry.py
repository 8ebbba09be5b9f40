"""A table of known official checkpoints and ``identify``: which one is this file?

The table (``known_checkpoints.yaml`` beside this module) lists the weights the method specs
name: expected file name, size in bytes and sha256 when known (null otherwise; never guessed),
a hash prefix when the file-name convention states one (torch.hub names files
``<name>-<first sha256 hex digits>.pth``), source, license, which package/config uses it, the
container layout and the key map that fits it (a name in ``KEY_MAPS``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vos_common.config import load_config
from vos_common.errors import VOSDataError

__all__ = [
    "DEFAULT_REGISTRY",
    "Identification",
    "KnownCheckpoint",
    "Registry",
    "file_digests",
    "identify",
    "load_registry",
]

DEFAULT_REGISTRY = Path(__file__).with_name("known_checkpoints.yaml")


@dataclass
class KnownCheckpoint:
    """One official file. Unknown facts stay ``None``."""

    file_name: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    hash_prefix: str | None = None
    source_url: str | None = None
    license: str | None = None
    used_by: list[str] = field(default_factory=list)
    container: str | None = None
    key_map: str | None = None
    notes: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            self.sha256 = self.sha256.lower()
            if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
                raise ValueError("sha256 must be 64 hex digits")
        if self.hash_prefix is not None:
            algorithm, _, digits = self.hash_prefix.partition(":")
            if algorithm not in ("sha256", "md5") or not digits:
                raise ValueError("hash_prefix must look like 'sha256:1a2b3c4d' or 'md5:...'")
        if self.size_bytes is not None and self.size_bytes < 0:
            raise ValueError("size_bytes must be >= 0")


@dataclass
class Registry:
    """The YAML file's schema: ``checkpoints: {name: KnownCheckpoint}``."""

    checkpoints: dict[str, KnownCheckpoint] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, entry in self.checkpoints.items():
            entry.name = name
        from vos_common.checkpoint.keymap import KEY_MAPS

        for name, entry in self.checkpoints.items():
            if entry.key_map is not None and entry.key_map not in KEY_MAPS:
                raise ValueError(f"{name}: unknown key_map {entry.key_map!r}")

    def __iter__(self):
        return iter(self.checkpoints.values())

    def __getitem__(self, name: str) -> KnownCheckpoint:
        return self.checkpoints[name]


def load_registry(path: str | os.PathLike | None = None) -> Registry:
    """Read a registry YAML (default: the packaged table); a ``base`` key may extend another."""
    return load_config(DEFAULT_REGISTRY if path is None else path, Registry)


def file_digests(path: str | os.PathLike, chunk: int = 1 << 20) -> dict[str, str]:
    """``{'sha256': ..., 'md5': ...}`` of a file, read once in 1 MiB chunks."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            sha256.update(block)
            md5.update(block)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


@dataclass
class Identification:
    """The outcome of :func:`identify` for one file."""

    path: str
    size_bytes: int
    sha256: str
    match: KnownCheckpoint | None
    evidence: str
    candidates: list[KnownCheckpoint] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"file: {self.path}", f"size: {self.size_bytes} bytes", f"sha256: {self.sha256}"]
        if self.match is not None:
            entry = self.match
            lines.append(f"identified: {entry.name} ({self.evidence})")
            for label, value in (
                ("expected file name", entry.file_name),
                ("source", entry.source_url),
                ("license", entry.license),
                ("used by", ", ".join(entry.used_by) or None),
                ("container", entry.container),
                ("key map", entry.key_map),
                ("notes", entry.notes),
            ):
                lines.append(f"  {label}: {value if value is not None else 'unknown'}")
        else:
            lines.append(f"not identified: {self.evidence}")
            for entry in self.candidates:
                lines.append(f"  same file name as {entry.name} ({', '.join(entry.used_by)})")
        return "\n".join(lines)


def identify(path: str | os.PathLike, registry: Registry | None = None) -> Identification:
    """Hash ``path`` and compare it with the registry.

    A registered sha256 (or a file-name hash prefix) that matches identifies the file; a
    registered sha256 or size that differs rules an entry out; a file-name match with nothing
    to check is reported as a candidate only.
    """
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, "file not found")
    registry = registry or load_registry()
    size = path.stat().st_size
    digests = file_digests(path)
    for entry in registry:
        if entry.sha256 is not None and entry.sha256 == digests["sha256"]:
            return Identification(str(path), size, digests["sha256"], entry, "sha256 matches")
    for entry in registry:
        if entry.hash_prefix is None or entry.sha256 is not None:
            continue
        algorithm, _, prefix = entry.hash_prefix.partition(":")
        size_ok = entry.size_bytes is None or entry.size_bytes == size
        if size_ok and digests[algorithm].startswith(prefix.lower()):
            evidence = f"{algorithm} starts with {prefix} as the official file name states"
            return Identification(str(path), size, digests["sha256"], entry, evidence)
    candidates = _name_candidates(path.name, registry, size)
    if candidates:
        evidence = "the file name matches, but no registered size or hash confirms it"
    else:
        evidence = "no registered checkpoint has this sha256, hash prefix or file name"
    return Identification(str(path), size, digests["sha256"], None, evidence, candidates)


def _name_candidates(
    name: str, registry: Iterable[KnownCheckpoint], size: int
) -> list[KnownCheckpoint]:
    found = []
    for entry in registry:
        if entry.file_name != name:
            continue
        if entry.sha256 is not None or entry.hash_prefix is not None:
            continue  # a hash was registered and did not match
        if entry.size_bytes is not None and entry.size_bytes != size:
            continue
        found.append(entry)
    return found
