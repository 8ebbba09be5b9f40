"""Parity helpers: the weights of ``shared/parity/rde`` (deterministic rule + ``adjust.json``).

Used by the tests and the benchmark: :func:`parity_weights` rebuilds the state_dict the
reference was run with; :func:`save_release_file` writes it in the released checkpoint format
(a bare name → tensor dict in the training network's order).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from vos_common.parity import parity_dir, parity_state_dict

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def normalise(frames_uint8: torch.Tensor) -> torch.Tensor:
    """``(..., H, W, 3)`` uint8 → ``(..., 3, H, W)`` ImageNet-normalised float32."""
    x = frames_uint8.movedim(-1, -3).float() / 255
    return (x - MEAN) / STD


def scaled_ok(ours: torch.Tensor, ref: torch.Tensor, rel: float = 2e-4, abs_: float = 1e-5):
    """(passed, max error, tolerance) of the scaled rule ``|ours - ref| <= abs + rel * max|ref|``."""
    err = (ours.double() - ref.double()).abs().max().item()
    tol = abs_ + rel * ref.abs().max().item()
    return err <= tol, err, tol


def compare(ours: torch.Tensor, ref, rel: float = 2e-4, abs_: float = 1e-5) -> list[str]:
    """Compare a full tensor or a "slim" reference (every n-th channel + energy); list failures."""
    failures = []
    if isinstance(ref, dict):
        pairs = [("channels", ours[:, ::ref["channel_step"]], ref["channels"]),
                 ("energy", ours.pow(2).sum(1), ref["energy"])]
    else:
        pairs = [("tensor", ours, ref)]
    for name, a, b in pairs:
        assert a.shape == b.shape, f"{name}: shape {tuple(a.shape)} vs reference {tuple(b.shape)}"
        ok, err, tol = scaled_ok(a, b, rel, abs_)
        if not ok:
            failures.append(f"{name}: max error {err:.3g} > {tol:.3g}")
    return failures


def apply_adjustments(state: dict[str, torch.Tensor], ops: list[dict]) -> dict[str, torch.Tensor]:
    """Apply the ``adjust.json`` operations (scale / add / add_diagonal) in list order."""
    for op in ops:
        t = state[op["name"]].clone()
        if op["op"] == "scale":
            if "dim" in op:
                index = [slice(None)] * t.dim()
                index[op["dim"]] = slice(op["start"], op["stop"])
                t[tuple(index)] *= op["factor"]
            else:
                t *= op["factor"]
        elif op["op"] == "add":
            t += op["value"]
        elif op["op"] == "add_diagonal":
            c = torch.arange(t.shape[0])
            for tap in range(t.shape[2]):
                t[c, c, tap, t.shape[3] // 2, t.shape[4] // 2] += op["value"]
        else:
            raise ValueError(f"unknown adjustment {op['op']!r}")
        state[op["name"]] = t
    return state


def parity_weights(table: str = "keys_eval.json", adjust: bool = True,
                   cache: bool = True) -> dict[str, torch.Tensor]:
    """The fixtures' state_dict for a key table of ``shared/parity/rde``.

    Drawing the 64 M values takes seconds, so the result is cached in the temporary folder
    (keyed by the hash of the table, ``adjust.json`` and the weight rule) and reloaded with
    ``weights_only=True``.
    """
    folder = parity_dir("rde")
    sources = [folder / table, folder / "adjust.json", folder.parent / "weights.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + bytes([adjust])).hexdigest()
    cached = Path(tempfile.gettempdir()) / f"rde_parity_{digest[:16]}.pt"
    if cache and cached.is_file():
        try:
            return torch.load(cached, map_location="cpu", weights_only=True)
        except Exception:  # a damaged cache is rebuilt
            pass
    state = parity_state_dict(folder / table)
    if adjust:
        ops = json.loads((folder / "adjust.json").read_text())["ops"]
        state = apply_adjustments(state, ops)
    if cache:
        from vos_common.io.atomic import atomic_save

        atomic_save(cached, lambda tmp: torch.save(state, tmp))
    return state


def save_release_file(path: str | os.PathLike) -> Path:
    """Write the parity weights as a released-style ``model_*.pth`` (bare state_dict)."""
    from vos_common.checkpoint import save_checkpoint

    train_order = json.loads((parity_dir("rde") / "keys_train.json").read_text())
    state = parity_weights()
    save_checkpoint({k: state[k] for k in train_order}, path)
    return Path(path)


def tiny_random_network(seed: int = 0, width_div: int = 8):
    """A random evaluation network at the smoke width, scaled so that nothing overflows.

    Random keys are large (the top-k exponent overflows without max subtraction, spec pitfall
    14) and a random SAM explodes recurrently, so the key projection is scaled by 1/16 and SAM
    starts as identity + averaging (:meth:`rde.model.sam.MemCompress.init_average`).
    """
    from rde.model.network import RDEVOS, ModelSpec

    torch.manual_seed(seed)
    net = RDEVOS(ModelSpec(width_div)).eval()
    with torch.no_grad():
        net.key_proj.key_proj.weight.mul_(1 / 16)
        net.mem_compress.init_average()
    return net
