"""Declared key maps: rename, strip, add or drop state_dict keys with an ordered list of rules.

Each rule is ``(pattern, replacement)``. A plain string pattern is a key *prefix* that is
replaced by ``replacement`` (``("module.", "")`` strips DataParallel's prefix, ``("",
"backbone2.")`` adds one); a pattern starting with ``re:`` (or a compiled regex) must match at the
start of the key and is substituted with ``re`` template syntax (``\\1``). ``replacement=None``
(:data:`DROP`) drops the key. For every key the first matching rule applies; keys no rule
matches are kept as they are (end with ``("re:.*", DROP)`` to keep only what earlier rules named).

The presets below declare the published containers the specs describe, so a method writes
``load_weights(net, path, key_map=KEY_MAPS["moco_v1_encoder_q"])`` instead of ad-hoc loops.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from vos_common.errors import VOSDataError

__all__ = ["DROP", "KEY_MAPS", "KeyMap", "KeyMapResult", "KeyRule"]

DROP = None


@dataclass(frozen=True)
class KeyRule:
    """One rule: a prefix (plain string) or regex (``re:...`` / compiled) and its replacement."""

    pattern: str | re.Pattern
    replacement: str | None

    def __post_init__(self) -> None:
        if isinstance(self.pattern, str) and self.pattern.startswith("re:"):
            object.__setattr__(self, "pattern", re.compile(self.pattern[3:]))

    def apply(self, key: str) -> tuple[bool, str | None]:
        """``(matched, new_key)``; ``new_key`` is None when the rule drops the key."""
        if isinstance(self.pattern, re.Pattern):
            match = self.pattern.match(key)
            if match is None:
                return False, key
            if self.replacement is None:
                return True, None
            return True, match.expand(self.replacement) + key[match.end() :]
        if not key.startswith(self.pattern):
            return False, key
        if self.replacement is None:
            return True, None
        return True, self.replacement + key[len(self.pattern) :]

    def __str__(self) -> str:
        pattern = (
            f"re:{self.pattern.pattern}" if isinstance(self.pattern, re.Pattern) else self.pattern
        )
        return f"{pattern!r} -> {'drop' if self.replacement is None else repr(self.replacement)}"


@dataclass
class KeyMapResult:
    """The mapped state_dict plus what happened to the original keys."""

    state_dict: dict[str, torch.Tensor]
    dropped: list[str] = field(default_factory=list)
    renamed: int = 0


class KeyMap:
    """An ordered list of :class:`KeyRule`; the first rule that matches a key decides its fate."""

    def __init__(self, rules: Iterable[KeyRule | Sequence], name: str = ""):
        self.rules = [r if isinstance(r, KeyRule) else KeyRule(r[0], r[1]) for r in rules]
        self.name = name

    def map_key(self, key: str) -> str | None:
        for rule in self.rules:
            matched, new_key = rule.apply(key)
            if matched:
                return new_key
        return key

    def apply(
        self, state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike | None = None
    ) -> KeyMapResult:
        """Map every key; two source keys landing on one target key is an error naming both."""
        mapped: dict[str, torch.Tensor] = {}
        origin: dict[str, str] = {}
        result = KeyMapResult(mapped)
        for key, value in state_dict.items():
            new_key = self.map_key(key)
            if new_key is None:
                result.dropped.append(key)
                continue
            if new_key in mapped:
                raise VOSDataError(
                    path,
                    f"key map {self.label()} maps both '{origin[new_key]}' and '{key}'"
                    f" to '{new_key}'",
                )
            if new_key != key:
                result.renamed += 1
            mapped[new_key] = value
            origin[new_key] = key
        return result

    def label(self) -> str:
        return f"'{self.name}'" if self.name else "[" + "; ".join(map(str, self.rules)) + "]"

    def __repr__(self) -> str:
        return f"KeyMap({self.label()})"


KEY_MAPS: dict[str, KeyMap] = {
    # DataParallel / DistributedDataParallel wrapper prefix.
    "strip_module": KeyMap([("module.", "")], "strip_module"),
    # Lightning modules holding the network as `self.model` (RCF last.ckpt).
    "strip_lightning_model": KeyMap([("model.", "")], "strip_lightning_model"),
    # torchvision classification files used as backbones: drop the ImageNet classifier.
    "drop_fc": KeyMap([("fc.", DROP)], "drop_fc"),
    # MoCo v1/v2: the query encoder without its projection fc; key encoder and queue dropped.
    "moco_v1_encoder_q": KeyMap(
        [("module.encoder_q.fc.", DROP), ("module.encoder_q.", ""), ("re:.*", DROP)],
        "moco_v1_encoder_q",
    ),
    # SimSiam: the encoder trunk; its projection MLP (fc.N) and the predictor dropped.
    "simsiam_encoder": KeyMap(
        [("module.encoder.fc.", DROP), ("module.encoder.", ""), ("re:.*", DROP)], "simsiam_encoder"
    ),
    # PixPro: `module.encoder.` (not `module.encoder_k.`), projector/predictor dropped.
    "pixpro_encoder": KeyMap([("module.encoder.", ""), ("re:.*", DROP)], "pixpro_encoder"),
    # CRW (videowalk) release: the ResNet under `encoder.model.`, the head dropped.
    "crw_encoder": KeyMap([("encoder.model.", ""), ("re:.*", DROP)], "crw_encoder"),
    # SFC fine-grained pre-training: the online ResNet-18 trunk (fc absent in training).
    "sfc_online_encoder": KeyMap([("online_encoder.", ""), ("re:.*", DROP)], "sfc_online_encoder"),
}
