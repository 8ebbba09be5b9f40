"""torchvision's RAFT with a checkpoint file given by the user (nothing is ever downloaded).

Two checkpoint formats load:

* torchvision's own ``state_dict`` of ``raft_small`` / ``raft_large`` (what
  ``torch.save(model.state_dict(), path)`` writes);
* the original princeton-vl RAFT checkpoints (``raft-things.pth``, ``raft-sintel.pth``,
  ``raft-small.pth``, ...): keys prefixed ``module.`` (DataParallel) and named after the
  original modules (``fnet``, ``cnet``, ``update_block.encoder.convc1``, ...). They are
  renamed to torchvision's names by :func:`convert_princeton_state_dict`; torchvision's
  RAFT is a port of that network (same layers, same order, same normalisation), so the
  renamed weights compute the same flow.

Files are read with ``torch.load(..., weights_only=True)`` (no pickled code runs) and
loaded strictly: a missing, unexpected or mis-shaped key raises :class:`VOSDataError`
naming the file and giving examples. torch is imported only when RAFT is used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vos_common.errors import VOSDataError
from vos_common.flow.base import FlowEstimator, check_frame_pair

RAFT_VARIANTS = ("raft_small", "raft_large")

# torchvision's default number of refinement iterations (RAFT.forward(num_flow_updates=12)),
# also the original RAFT's default ``iters=12``.
DEFAULT_NUM_FLOW_UPDATES = 12

# The correlation pyramid has 4 levels on the 1/8-resolution features, each halving the
# size, so torchvision requires inputs of at least 8 * 2 * 2**3 = 128 pixels per side.
RAFT_MIN_INPUT_SIZE = 128

_EXAMPLES_SHOWN = 5


def _import_torch():
    try:
        import torch
        import torchvision.models.optical_flow as optical_flow
    except ImportError as err:
        raise VOSDataError(
            None, f"RAFT flow needs torch and torchvision (pip install 'vos-common[torch]'): {err}"
        ) from None
    return torch, optical_flow


def build_raft(variant: str):
    """A randomly initialised torchvision RAFT (``"raft_small"``/``"raft_large"``), no download."""
    if variant not in RAFT_VARIANTS:
        raise ValueError(f"unknown RAFT variant {variant!r}; choose from {RAFT_VARIANTS}")
    _, optical_flow = _import_torch()
    return getattr(optical_flow, variant)(weights=None, progress=False)


# ------------------------------------------------------------------ princeton-vl key names
_PRINCETON_ENCODERS = {"fnet": "feature_encoder", "cnet": "context_encoder"}
_PRINCETON_MOTION_ENCODER = {
    "convc1": "convcorr1.0",
    "convc2": "convcorr2.0",
    "convf1": "convflow1.0",
    "convf2": "convflow2.0",
    "conv": "conv.0",
}
_ENCODER_STEM = re.compile(r"^(conv1|norm1|conv2)\.(.+)$")
_ENCODER_BLOCK = re.compile(r"^(layer\d+\.\d+)\.(conv|norm)(\d+)\.(.+)$")
_ENCODER_DOWNSAMPLE = re.compile(r"^layer\d+\.\d+\.downsample\.[01]\..+$")
_GRU = re.compile(r"^conv([zrq])(\d?)\.(.+)$")


def is_princeton_state_dict(state: dict) -> bool:
    """True when the keys follow the original princeton-vl RAFT naming (``fnet.``, ``cnet.``)."""
    keys = [_strip_module(key) for key in state]
    return any(
        key.startswith(("fnet.", "cnet.", "update_block.encoder.", "update_block.gru."))
        for key in keys
    )


def _strip_module(key: str) -> str:
    return key[len("module.") :] if key.startswith("module.") else key


def convert_princeton_state_dict(state: dict) -> tuple[dict, list[str]]:
    """Rename an original RAFT ``state_dict`` to torchvision's names.

    Returns ``(converted, unmapped_keys)``. Besides renaming, the original residual blocks
    register their shortcut normalisation twice (as ``normK`` and as ``downsample.1``);
    the ``normK`` copy without a matching ``convK`` is dropped, after checking that it
    equals the ``downsample.1`` tensor. Keys that fit no rule are returned as unmapped.
    """
    stripped = {_strip_module(key): value for key, value in state.items()}
    converted: dict = {}
    unmapped: list[str] = []
    for key, value in stripped.items():
        new_key = _convert_princeton_key(key, stripped)
        if new_key is None:
            unmapped.append(key)
        elif new_key:
            converted[new_key] = value
    return converted, unmapped


def _convert_princeton_key(key: str, state: dict) -> str | None:
    """torchvision name of an original key; ``""``: verified duplicate; ``None``: unknown."""
    head, _, rest = key.partition(".")
    if head in _PRINCETON_ENCODERS:
        prefix = _PRINCETON_ENCODERS[head]
        if match := _ENCODER_STEM.match(rest):
            module, tail = match.groups()
            target = {"conv1": "convnormrelu.0", "norm1": "convnormrelu.1", "conv2": "conv"}[module]
            return f"{prefix}.{target}.{tail}"
        if _ENCODER_DOWNSAMPLE.match(rest):
            return f"{prefix}.{rest}"
        if match := _ENCODER_BLOCK.match(rest):
            block, kind, index, tail = match.groups()
            has_conv = any(k.startswith(f"{head}.{block}.conv{index}.") for k in state)
            if kind == "conv":
                return f"{prefix}.{block}.convnormrelu{index}.0.{tail}"
            if has_conv:
                return f"{prefix}.{block}.convnormrelu{index}.1.{tail}"
            # the shortcut's norm, registered a second time under downsample.1
            twin = state.get(f"{head}.{block}.downsample.1.{tail}")
            if twin is not None and _same_tensor(twin, state[key]):
                return ""
        return None
    if key.startswith("update_block.encoder."):
        module, _, tail = key[len("update_block.encoder.") :].partition(".")
        if module in _PRINCETON_MOTION_ENCODER:
            return f"update_block.motion_encoder.{_PRINCETON_MOTION_ENCODER[module]}.{tail}"
        return None
    if key.startswith("update_block.gru."):
        if match := _GRU.match(key[len("update_block.gru.") :]):
            gate, index, tail = match.groups()
            return f"update_block.recurrent_block.convgru{index or '1'}.conv{gate}.{tail}"
        return None
    if key.startswith("update_block.flow_head.conv"):
        return key
    if key.startswith("update_block.mask.0."):
        return "mask_predictor.convrelu.0." + key[len("update_block.mask.0.") :]
    if key.startswith("update_block.mask.2."):
        return "mask_predictor.conv." + key[len("update_block.mask.2.") :]
    return None


def _same_tensor(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


# ------------------------------------------------------------------------------- loading
def load_raft_state_dict(
    path: str | os.PathLike, variant: str, expected: dict | None = None
) -> dict:
    """Read a RAFT checkpoint and return a ``state_dict`` that loads strictly into ``variant``.

    Accepts a bare ``state_dict``, or a dict holding it under ``"state_dict"`` or
    ``"model"``; a ``module.`` prefix on every key is removed; original princeton-vl names
    are converted. Raises :class:`VOSDataError` naming ``path`` for anything else.
    ``expected``: the target model's ``state_dict`` (built here when not given).
    """
    torch, _ = _import_torch()
    path = Path(path)
    if not path.is_file():
        raise VOSDataError(path, "RAFT checkpoint does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as err:  # torch raises many types (UnpicklingError, RuntimeError, EOFError, ...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VOSDataError(path, f"cannot read RAFT checkpoint ({first_line})") from None
    state = _unwrap_state_dict(loaded, path)
    if is_princeton_state_dict(state):
        state, unmapped = convert_princeton_state_dict(state)
        if unmapped:
            raise VOSDataError(
                path,
                "original RAFT checkpoint has keys that cannot be mapped to torchvision's RAFT "
                f"({len(unmapped)}, e.g. {', '.join(unmapped[:_EXAMPLES_SHOWN])})",
            )
    elif state and all(key.startswith("module.") for key in state):
        state = {_strip_module(key): value for key, value in state.items()}
    if expected is None:
        expected = build_raft(variant).state_dict()
    _fill_batch_counters(state, expected)
    _check_keys(state, expected, path, variant)
    return state


def _unwrap_state_dict(loaded, path: Path) -> dict:
    for wrapper_key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper_key), dict):
            loaded = loaded[wrapper_key]
            break
    if not isinstance(loaded, dict) or not loaded:
        raise VOSDataError(path, f"not a RAFT state_dict (found {type(loaded).__name__})")
    non_tensor = [key for key, value in loaded.items() if not hasattr(value, "shape")]
    if non_tensor:
        raise VOSDataError(
            path,
            f"not a RAFT state_dict: non-tensor entries such as {non_tensor[:_EXAMPLES_SHOWN]}",
        )
    return dict(loaded)


def _fill_batch_counters(state: dict, expected: dict) -> None:
    """Add missing BatchNorm ``num_batches_tracked`` counters (older PyTorch did not save them;
    they only matter for training with ``momentum=None``)."""
    for key, value in expected.items():
        if key.endswith(".num_batches_tracked") and key not in state:
            prefix = key[: -len("num_batches_tracked")]
            if f"{prefix}running_mean" in state:
                state[key] = value.new_zeros(())


def _check_keys(state: dict, expected: dict, path: Path, variant: str) -> None:
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [
        f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected keys, e.g. {', '.join(unexpected[:_EXAMPLES_SHOWN])}"
        )
    if missing:
        problems.append(f"{len(missing)} missing keys, e.g. {', '.join(missing[:_EXAMPLES_SHOWN])}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches, e.g. {'; '.join(mismatched[:3])}")
    other = "raft_large" if variant == "raft_small" else "raft_small"
    hint = f" (is it a {other} checkpoint?)" if mismatched or (missing and unexpected) else ""
    raise VOSDataError(path, f"does not fit torchvision {variant}{hint}: " + "; ".join(problems))


# ----------------------------------------------------------------------------- estimator
def resolve_device(device: str) -> str:
    """Check that ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) is usable and return it."""
    torch, _ = _import_torch()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VOSDataError(None, f"device {device!r} requested but CUDA is not available to torch")
    if device != "cpu" and not device.startswith("cuda"):
        raise VOSDataError(None, f"unknown device {device!r} (use cpu, cuda or cuda:N)")
    return device


def padding_for(height: int, width: int) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` replicate padding that makes a frame RAFT-sized.

    Each side becomes a multiple of 8 and at least :data:`RAFT_MIN_INPUT_SIZE`; the padding
    is split evenly between both sides (the original RAFT pads the same way).
    """

    def split(size: int) -> tuple[int, int]:
        target = max(-(-size // 8) * 8, RAFT_MIN_INPUT_SIZE)
        total = target - size
        return total // 2, total - total // 2

    left, right = split(width)
    top, bottom = split(height)
    return left, right, top, bottom


class RaftFlowEstimator(FlowEstimator):
    """torchvision RAFT with user-given weights: RGB uint8 frames -> float32 ``(H, W, 2)`` flow.

    Frames are scaled to [-1, 1] (``2 * x / 255 - 1``, as torchvision's RAFT transforms and
    the original RAFT do), padded by :func:`padding_for`, and the flow of the last of
    ``num_flow_updates`` refinement iterations is cropped back to ``(H, W)``.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        variant: str = "raft_large",
        device: str = "cpu",
        num_flow_updates: int = DEFAULT_NUM_FLOW_UPDATES,
    ):
        if num_flow_updates < 1:
            raise ValueError(f"num_flow_updates must be at least 1, got {num_flow_updates}")
        torch, _ = _import_torch()
        self._torch = torch
        self.name = variant
        self.checkpoint = Path(checkpoint)
        self.device = resolve_device(device)
        self.num_flow_updates = num_flow_updates
        model = build_raft(variant)
        state = load_raft_state_dict(checkpoint, variant, expected=model.state_dict())
        model.load_state_dict(state, strict=True)
        self.model = model.eval().to(self.device)

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        check_frame_pair(frame_a, frame_b)
        torch = self._torch
        height, width = frame_a.shape[:2]
        left, right, top, bottom = padding_for(height, width)
        pair = torch.from_numpy(np.stack([frame_a, frame_b])).to(self.device)
        pair = pair.permute(0, 3, 1, 2).float() * (2.0 / 255.0) - 1.0  # (2, 3, H, W) in [-1, 1]
        pair = torch.nn.functional.pad(pair, (left, right, top, bottom), mode="replicate")
        with torch.inference_mode():
            predictions = self.model(pair[:1], pair[1:], num_flow_updates=self.num_flow_updates)
        flow = predictions[-1][0, :, top : top + height, left : left + width]
        return np.ascontiguousarray(flow.permute(1, 2, 0).cpu().numpy(), dtype=np.float32)

    def __repr__(self) -> str:
        return (
            f"RaftFlowEstimator({self.name}, checkpoint={os.fspath(self.checkpoint)!r}, "
            f"device={self.device!r}, num_flow_updates={self.num_flow_updates})"
        )
