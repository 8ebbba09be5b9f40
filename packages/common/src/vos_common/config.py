"""YAML configs with ``base`` inheritance and ``--opts`` overrides, loaded into typed dataclasses.

A config file is a YAML mapping. A ``base`` key names another YAML file (relative to the file
that names it; a list of names is merged left to right) whose content is deep-merged *under*
the file's own keys: mappings merge key by key, every other value (scalars, lists) is replaced
whole. Chains are allowed, cycles are refused. Command-line overrides ``key value`` pairs with
dotted keys (``train.lr 1e-4``, ``model.layers [1,2,3]``) are applied last; their values are
parsed as YAML.

The merged tree is converted into a (nested) dataclass. Unknown keys are refused with the full
dotted key and the file (or ``--opts``) that wrote it, and values are type-checked against the
field annotations: ``int``, ``float`` (ints accepted), ``bool``, ``str``, ``list[T]``,
``dict[str, T]``, ``Optional[T]``, ``Literal[...]``, unions and nested dataclasses.

Scalars follow YAML 1.2, not PyYAML's YAML 1.1 defaults: ``1e-4`` is a float and ``no``/``off``
are strings (so ``mixed_precision: no`` stays the string ``"no"``); only ``true``/``false`` are
booleans.

This module needs only PyYAML (no torch), so data-layer tools can use it too.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from vos_common.errors import VOSDataError
from vos_common.io.atomic import atomic_write_text

T = TypeVar("T")

BASE_KEY = "base"
OPTS_SOURCE = "--opts"

__all__ = [
    "BASE_KEY",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "format_config",
    "load_config",
    "load_yaml_tree",
    "parse_overrides",
    "parse_yaml_value",
    "apply_overrides",
]


# --------------------------------------------------------------------------------------------
# YAML 1.2-style scalars


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only) and exponent floats without a dot."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml_value(text: str) -> Any:
    """Parse a command-line value as YAML: ``1e-4`` → 1e-4, ``[1,2]`` → [1, 2], ``no`` → "no"."""
    if text == "":
        return ""
    return yaml.load(text, Loader=_ConfigLoader)


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VOSDataError(path, "config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise VOSDataError(path, f"cannot read config: {err}") from None
    try:
        data = yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise VOSDataError(path, f"invalid YAML{line}: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VOSDataError(path, f"a config must be a YAML mapping, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------------------------
# Inheritance and merging; ``sources`` maps every dotted key to the file that last wrote it.


def _record_sources(tree: Mapping, prefix: str, source_of, sources: dict[str, str]) -> None:
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        sources[dotted] = source_of(dotted)
        if isinstance(value, Mapping):
            _record_sources(value, f"{dotted}.", source_of, sources)


def _merge(
    base: dict, update: Mapping, sources: dict[str, str], source_of, prefix: str = ""
) -> dict:
    """``base`` updated by ``update``: mappings merge key by key, other values replace.

    ``sources`` (dotted key -> file) is updated alongside; ``source_of(dotted)`` says where each
    key of ``update`` came from.
    """
    merged = dict(base)
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            sources[dotted] = source_of(dotted)
            merged[key] = _merge(merged[key], value, sources, source_of, f"{dotted}.")
        else:
            for stale in [k for k in sources if k.startswith(f"{dotted}.")]:
                del sources[stale]
            sources[dotted] = source_of(dotted)
            if isinstance(value, Mapping):
                _record_sources(value, f"{dotted}.", source_of, sources)
            merged[key] = value
    return merged


def _resolve(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict[str, str]]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise VOSDataError(chain[-1], f"config inheritance cycle: {cycle}")
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        bases = []
    elif isinstance(bases, str):
        bases = [bases]
    elif not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        raise VOSDataError(path, f"'{BASE_KEY}' must be a file name or a list of file names")
    tree: dict = {}
    sources: dict[str, str] = {}
    for name in bases:
        base_path = (path.parent / os.path.expanduser(name)).resolve()
        if not base_path.is_file():
            raise VOSDataError(path, f"base config '{name}' not found (looked for {base_path})")
        base_tree, base_sources = _resolve(base_path, (*chain, path))
        tree = _merge(
            tree, base_tree, sources, lambda k, s=base_sources, b=str(base_path): s.get(k, b)
        )
    tree = _merge(tree, data, sources, lambda k, p=str(path): p)
    return tree, sources


def load_yaml_tree(path: str | os.PathLike) -> tuple[dict, dict[str, str]]:
    """Read ``path`` with its ``base`` chain resolved and merged.

    Returns ``(tree, sources)``: the merged mapping (without ``base`` keys) and, for every dotted
    key, the absolute path of the file that set its final value.
    """
    return _resolve(Path(path), ())


# --------------------------------------------------------------------------------------------
# Command-line overrides


def parse_overrides(opts: Sequence[str] | None) -> list[tuple[str, Any]]:
    """Turn ``["train.lr", "1e-4", "model.name", "r50"]`` into ``[("train.lr", 1e-4), ...]``."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise VOSDataError(
            None, f"--opts takes 'key value' pairs; the last key '{opts[-1]}' has no value"
        )
    pairs = []
    for key, text in zip(opts[0::2], opts[1::2], strict=True):
        if not key or key.startswith(".") or key.endswith(".") or ".." in key:
            raise VOSDataError(None, f"--opts: '{key}' is not a dotted key like 'train.lr'")
        if key.split(".")[-1] == BASE_KEY:
            raise VOSDataError(None, f"--opts: '{key}' cannot be overridden on the command line")
        try:
            value = parse_yaml_value(text)
        except yaml.YAMLError:
            raise VOSDataError(None, f"--opts {key}: cannot parse value {text!r} as YAML") from None
        pairs.append((key, value))
    return pairs


def apply_overrides(
    tree: dict, overrides: Iterable[tuple[str, Any]], sources: dict[str, str] | None = None
) -> dict:
    """Set dotted keys in a copy of ``tree`` (mapping values deep-merge into existing mappings)."""
    tree = copy.deepcopy(dict(tree))
    sources = {} if sources is None else sources
    for dotted, value in overrides:
        parts = dotted.split(".")
        node = tree
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                parent = ".".join(parts[: depth + 1])
                raise VOSDataError(
                    None, f"--opts {dotted}: '{parent}' is a {type(child).__name__}, not a mapping"
                )
            else:
                child = node[part] = dict(child)
            node = child
        leaf = parts[-1]
        prefix = ".".join(parts[:-1])
        prefix = f"{prefix}." if prefix else ""
        updated = _merge(node, {leaf: value}, sources, lambda k: OPTS_SOURCE, prefix)
        node.clear()
        node.update(updated)
    return tree


# --------------------------------------------------------------------------------------------
# Typed conversion


def _source_of(dotted: str, sources: Mapping[str, str], default: str | None) -> str | None:
    key = re.sub(r"\[\d+\]", "", dotted)
    while key:
        if key in sources:
            return sources[key]
        key = key.rpartition(".")[0]
    return default


class _Converter:
    def __init__(self, sources: Mapping[str, str], root: str | None):
        self.sources = sources
        self.root = root

    def fail(self, dotted: str, problem: str) -> VOSDataError:
        source = _source_of(dotted, self.sources, self.root)
        if source == OPTS_SOURCE:
            return VOSDataError(self.root, f"--opts {dotted}: {problem}")
        return VOSDataError(source, f"{dotted}: {problem}" if dotted else problem)

    def dataclass(self, cls: type, data: Any, dotted: str) -> Any:
        if not isinstance(data, Mapping):
            raise self.fail(dotted, f"expected a mapping for {cls.__name__}, got {_describe(data)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        prefix = f"{dotted}." if dotted else ""
        for key in data:
            if key not in fields:
                if not isinstance(key, str):
                    raise self.fail(dotted, f"keys must be strings, got {key!r}")
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
                known = ", ".join(fields) or "none"
                raise self.fail(
                    f"{prefix}{key}",
                    f"unknown key{hint} (keys of {cls.__name__}: {known})",
                )
        values = {}
        for name, field in fields.items():
            if name in data:
                values[name] = self.value(hints[name], data[name], f"{prefix}{name}")
            elif (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise self.fail(f"{prefix}{name}", "required key is missing")
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise self.fail(dotted, f"invalid {cls.__name__}: {err}") from None

    def value(self, annotation: Any, data: Any, dotted: str) -> Any:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if annotation is Any:
            return data
        if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
            return self.dataclass(annotation, data, dotted)
        if origin is Union or origin is types.UnionType:
            if data is None and type(None) in args:
                return None
            members = [a for a in args if a is not type(None)]
            errors = []
            for member in members:
                try:
                    return self.value(member, data, dotted)
                except VOSDataError as err:
                    errors.append(err)
            if len(members) == 1:
                raise errors[0]
            raise self.fail(dotted, f"expected {_type_name(annotation)}, got {_describe(data)}")
        if origin is Literal:
            if data in args and all(type(data) is type(a) for a in args if a == data):
                return data
            choices = ", ".join(repr(a) for a in args)
            raise self.fail(dotted, f"expected one of {choices}, got {_describe(data)}")
        if origin in (list, Sequence) or annotation is list:
            if not isinstance(data, list):
                raise self.fail(dotted, f"expected a list, got {_describe(data)}")
            item = args[0] if args else Any
            return [self.value(item, v, f"{dotted}[{i}]") for i, v in enumerate(data)]
        if origin is tuple:
            if not isinstance(data, (list, tuple)):
                raise self.fail(dotted, f"expected a list, got {_describe(data)}")
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(self.value(args[0], v, f"{dotted}[{i}]") for i, v in enumerate(data))
            if args and len(args) != len(data):
                raise self.fail(dotted, f"expected {len(args)} items, got {len(data)}")
            kinds = args or (Any,) * len(data)
            return tuple(
                self.value(a, v, f"{dotted}[{i}]")
                for i, (a, v) in enumerate(zip(kinds, data, strict=True))
            )
        if origin in (dict, Mapping) or annotation is dict:
            if not isinstance(data, Mapping):
                raise self.fail(dotted, f"expected a mapping, got {_describe(data)}")
            key_type, value_type = args if args else (Any, Any)
            result = {}
            for key, value in data.items():
                key = self.value(key_type, key, f"{dotted}.{key}")
                result[key] = self.value(value_type, value, f"{dotted}.{key}")
            return result
        if annotation is bool:
            if isinstance(data, bool):
                return data
            raise self.fail(dotted, f"expected true or false, got {_describe(data)}")
        if annotation is int:
            if isinstance(data, int) and not isinstance(data, bool):
                return data
            raise self.fail(dotted, f"expected an integer, got {_describe(data)}")
        if annotation is float:
            if isinstance(data, (int, float)) and not isinstance(data, bool):
                return float(data)
            raise self.fail(dotted, f"expected a number, got {_describe(data)}")
        if annotation is str:
            if isinstance(data, str):
                return data
            raise self.fail(dotted, f"expected a string, got {_describe(data)} (quote it in YAML)")
        if annotation is type(None):
            if data is None:
                return None
            raise self.fail(dotted, f"expected null, got {_describe(data)}")
        raise TypeError(
            f"config field {dotted!r} has an unsupported type annotation {annotation!r}"
        )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def config_from_dict(
    schema: type[T],
    data: Mapping,
    sources: Mapping[str, str] | None = None,
    path: str | os.PathLike | None = None,
) -> T:
    """Build ``schema`` (a dataclass) from a plain mapping, refusing unknown keys and bad types.

    ``sources`` (dotted key → file) lets errors name the file that wrote a bad key; ``path`` is
    named when no source is known.
    """
    if not (dataclasses.is_dataclass(schema) and isinstance(schema, type)):
        raise TypeError(f"schema must be a dataclass type, got {schema!r}")
    root = None if path is None else os.fspath(path)
    return _Converter(sources or {}, root).dataclass(schema, data, "")


def load_config(
    path: str | os.PathLike, schema: type[T], overrides: Sequence[str] | None = None
) -> T:
    """Load ``path`` (with its ``base`` chain), apply ``--opts`` pairs and build ``schema``.

    ``overrides`` is the flat list given after ``--opts``: ``["train.lr", "1e-4", ...]``.
    Errors are :class:`VOSDataError` naming the file and the dotted key.
    """
    tree, sources = load_yaml_tree(path)
    tree = apply_overrides(tree, parse_overrides(overrides), sources)
    return config_from_dict(schema, tree, sources, Path(path).resolve())


# --------------------------------------------------------------------------------------------
# Output


def config_to_dict(config: Any) -> Any:
    """Plain YAML-ready data (dicts, lists, scalars) from a config dataclass."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {key: config_to_dict(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(value) for value in config]
    return config


def format_config(config: Any) -> str:
    """The resolved config as YAML text, in field order (for the start-of-run printout)."""
    return yaml.safe_dump(
        config_to_dict(config), sort_keys=False, default_flow_style=None, width=100
    )


def dump_config(config: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML to ``path`` atomically; ``load_config`` reads it back."""
    atomic_write_text(path, format_config(config))
