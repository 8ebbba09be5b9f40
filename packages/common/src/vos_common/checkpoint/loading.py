"""Strict loading of a checkpoint into a module, with one readable error when it does not fit.

``load_weights(module, path, key_map=...)`` = read safely, find the state_dict in its container,
map the keys, then ``load_state_dict(strict=True)`` semantics. Anything wrong (missing keys,
unexpected keys, shape mismatches) is reported together in one :class:`VOSDataError` naming the
file, with long lists cut short and counted, and a hint when a prefix would fix it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vos_common.checkpoint.io import extract_state_dict, load_checkpoint
from vos_common.checkpoint.keymap import KeyMap
from vos_common.errors import VOSDataError

__all__ = ["LoadReport", "check_state_dict", "load_state_dict_strict", "load_weights"]

LIST_LIMIT = 6


@dataclass
class LoadReport:
    """What :func:`load_weights` did: container, loaded and dropped keys, allowed missing keys."""

    path: str | None
    container: str
    loaded: int
    dropped: list[str] = field(default_factory=list)
    missing_allowed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.path}: loaded {self.loaded} tensors from {self.container}"
        if self.dropped:
            text += f", dropped {len(self.dropped)} keys by the key map"
        if self.missing_allowed:
            text += f", {len(self.missing_allowed)} keys left at their initial values"
        return text


def _listing(items: list[str], limit: int = LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f", ... and {len(items) - limit} more"
    return shown


def _prefix_hint(missing: list[str], unexpected: list[str]) -> str:
    """Suggest a prefix rule when missing and unexpected keys differ only by a prefix."""
    missing_set, unexpected_set = set(missing), set(unexpected)
    strip: Counter = Counter()
    for key in unexpected:
        for match in re.finditer(r"\.", key):
            if key[match.end() :] in missing_set:
                strip[key[: match.end()]] += 1
    add: Counter = Counter()
    for key in missing:
        for match in re.finditer(r"\.", key):
            if key[match.end() :] in unexpected_set:
                add[key[: match.end()]] += 1
    best = max(
        [
            (count, f"strip the prefix '{p}' (key map rule ('{p}', ''))")
            for p, count in strip.items()
        ]
        + [(count, f"add the prefix '{p}' (key map rule ('', '{p}'))") for p, count in add.items()],
        default=(0, ""),
    )
    if best[0] and best[0] >= min(len(missing), len(unexpected)) / 2:
        return f"; hint: {best[0]} keys match if you {best[1]}"
    return ""


def _matches_any(key: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.startswith("re:"):
            if re.match(pattern[3:], key):
                return True
        elif key.startswith(pattern):
            return True
    return False


def check_state_dict(
    expected: Mapping[str, torch.Tensor],
    given: Mapping[str, torch.Tensor],
    path: str | os.PathLike | None = None,
    *,
    allow_missing: Iterable[str] = (),
    target: str = "the model",
    context: str = "",
) -> list[str]:
    """Compare keys and shapes; raise one VOSDataError listing every problem.

    ``allow_missing``: prefixes (or ``re:`` patterns) of keys that may be absent from ``given``
    (e.g. a new head, or conv biases an ImageNet file lacks). BatchNorm ``num_batches_tracked``
    counters may always be absent (files older than that buffer lack them; torch fills them).
    Returns the absent keys that were allowed.
    """
    allow_missing = [*allow_missing, r"re:(.*\.)?num_batches_tracked$"]
    absent = [k for k in expected if k not in given]
    missing = [k for k in absent if not _matches_any(k, allow_missing)]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        f"{k}: file {list(given[k].shape)} vs model {list(expected[k].shape)}"
        for k in given
        if k in expected and given[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or mismatched):
        return [k for k in absent if k not in missing]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({_listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({_listing(unexpected)})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es) ({_listing(mismatched, 4)})")
    message = f"does not fit {target}: " + "; ".join(problems)
    if context:
        message += f" [{context}]"
    message += _prefix_hint(missing, unexpected)
    raise VOSDataError(path, message)


def load_state_dict_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike | None = None,
    *,
    allow_missing: Iterable[str] = (),
    context: str = "",
) -> list[str]:
    """``module.load_state_dict`` with strict semantics and a readable error (see module doc).

    Returns the keys left missing because ``allow_missing`` allowed them.
    """
    target = type(module).__name__
    left_missing = check_state_dict(
        module.state_dict(),
        state_dict,
        path,
        allow_missing=allow_missing,
        target=target,
        context=context,
    )
    result = module.load_state_dict(dict(state_dict), strict=False)
    if result.unexpected_keys or set(result.missing_keys) - set(left_missing):
        raise VOSDataError(path, f"load_state_dict into {target} disagreed with the key check")
    return left_missing


def load_weights(
    module: nn.Module,
    path: str | os.PathLike,
    *,
    key_map: KeyMap | None = None,
    key: str | None = None,
    ema: bool = False,
    allow_missing: Iterable[str] = (),
    transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> LoadReport:
    """Load the weights in ``path`` into ``module`` strictly.

    ``key``/``ema`` choose the container entry (see :func:`extract_state_dict`), ``key_map``
    renames/strips/drops keys, ``transform`` edits the mapped state_dict before loading (e.g.
    widening ``conv1.weight`` for extra input channels), ``allow_missing`` names keys that may
    keep the module's initial values.
    """
    extracted = extract_state_dict(load_checkpoint(path), path, key=key, ema=ema)
    state = extracted.state_dict
    dropped: list[str] = []
    context = f"container: {extracted.container}"
    if key_map is not None:
        mapped = key_map.apply(state, path)
        state, dropped = mapped.state_dict, mapped.dropped
        context += f"; key map {key_map.label()}"
    if transform is not None:
        state = transform(dict(state))
    left = load_state_dict_strict(module, state, path, allow_missing=allow_missing, context=context)
    return LoadReport(str(Path(path)), extracted.container, len(state), dropped, left)
