"""``python -m vos_common.checkpoint``: identify a file, inspect its container, list known files.

python -m vos_common.checkpoint identify FILE [--registry YAML]   (exit 1 if not identified)
python -m vos_common.checkpoint inspect FILE [--key ENTRY | --ema] [--all]
python -m vos_common.checkpoint list [--registry YAML]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch

from vos_common.checkpoint.io import extract_state_dict, load_checkpoint
from vos_common.checkpoint.registry import identify, load_registry
from vos_common.errors import VOSDataError, cli_errors

SHOWN_KEYS = 20


def _describe_value(value) -> str:
    if torch.is_tensor(value):
        return f"tensor {list(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, Mapping):
        tensors = sum(torch.is_tensor(v) for v in value.values())
        return f"dict, {len(value)} entries ({tensors} tensors)"
    if isinstance(value, argparse.Namespace):
        return f"argparse.Namespace, {len(vars(value))} fields"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}, {len(value)} items"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def inspect_text(path: Path, key: str | None, ema: bool, show_all: bool) -> tuple[str, bool]:
    """The report printed by ``inspect`` and whether a state_dict was found in the file.

    Lists the container type, the top-level keys and a key/shape summary; a file whose weights
    cannot be located still gets its top-level keys listed.
    """
    obj = load_checkpoint(path)
    lines = [f"file: {path} ({path.stat().st_size} bytes)"]
    try:
        extracted = extract_state_dict(obj, path, key=key, ema=ema)
    except VOSDataError as err:
        extracted = None
        lines.append(f"container: {err.problem}")
    else:
        lines.append(f"container: {extracted.container}")
    if isinstance(obj, Mapping) and (extracted is None or extracted.location):
        lines.append("top-level keys:")
        lines += [f"  {k}: {_describe_value(v)}" for k, v in obj.items()]
    if extracted is None:
        return "\n".join(lines), False
    state = extracted.state_dict
    numel = sum(t.numel() for t in state.values())
    dtypes = Counter(str(t.dtype).replace("torch.", "") for t in state.values())
    lines.append(
        f"state_dict: {len(state)} tensors, {numel:,} values ("
        + ", ".join(f"{n} {d}" for d, n in dtypes.most_common())
        + ")"
    )
    prefixes = Counter(k.split(".", 1)[0] for k in state)
    lines.append(
        "top-level prefixes: " + ", ".join(f"{p} ({n})" for p, n in prefixes.most_common())
    )
    keys = list(state)
    shown = keys if show_all else keys[:SHOWN_KEYS]
    width = max(len(k) for k in shown)
    lines += [f"  {k:<{width}}  {list(state[k].shape)}" for k in shown]
    if len(keys) > len(shown):
        lines.append(f"  ... and {len(keys) - len(shown)} more (--all lists every key)")
    return "\n".join(lines), True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vos_common.checkpoint", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ident = commands.add_parser("identify", help="hash a file and name the known checkpoint it is")
    ident.add_argument("file", type=Path)
    ident.add_argument("--registry", type=Path, help="registry YAML (default: the packaged table)")
    insp = commands.add_parser("inspect", help="container type, top-level keys, key/shape summary")
    insp.add_argument("file", type=Path)
    choice = insp.add_mutually_exclusive_group()
    choice.add_argument("--key", help="container entry holding the weights (dotted for nesting)")
    choice.add_argument("--ema", action="store_true", help="show the 'model_ema' entry")
    insp.add_argument("--all", action="store_true", help="list every key")
    listing = commands.add_parser("list", help="list the known checkpoints")
    listing.add_argument(
        "--registry", type=Path, help="registry YAML (default: the packaged table)"
    )
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "identify":
        registry = load_registry(args.registry)
        result = identify(args.file, registry)
        print(result.summary())
        return 0 if result.match is not None else 1
    if args.command == "inspect":
        text, found = inspect_text(args.file, args.key, args.ema, args.all)
        print(text)
        return 0 if found else 1
    registry = load_registry(args.registry)
    for entry in registry:
        facts = [entry.file_name or "(file name unknown)"]
        if entry.sha256:
            facts.append(f"sha256 {entry.sha256[:12]}...")
        print(f"{entry.name}: {', '.join(facts)} -- {'; '.join(entry.used_by)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
