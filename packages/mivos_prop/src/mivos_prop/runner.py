"""What the entry points share: network construction from flags, palettes, the timed
per-sequence propagation loop, and the run log."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from vos_common.devices import pick_device
from vos_common.errors import VOSDataError
from vos_common.io import DAVIS_PALETTE
from vos_common.io.masks import open_mask_image

from mivos_prop.inference import InferenceCore, normalise_frame, probabilities_to_labels
from mivos_prop.model import ModelSpec, PropagationNetwork
from mivos_prop.model.checkpoint import load_weights

log = logging.getLogger("mivos_prop")

KM_SIGMA = 5.6
TOP_K = 50


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of the record (redirections included)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup_logging() -> None:
    if not log.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("[mivos_prop] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def add_network_arguments(
    parser: argparse.ArgumentParser,
    km: bool = True,
    default_model: str = "saves/propagation_model.pth",
) -> None:
    """``--model``, ``--no_top``, ``--use_km``, memory and device options (original flag names)."""
    parser.add_argument(
        "--model",
        default=default_model,
        help="checkpoint: the released propagation_model.pth (a bare state_dict), "
        "a training snapshot <id>_<it>.pth or a resume file "
        f"<id>_checkpoint.pth (default: {default_model})",
    )
    parser.add_argument(
        "--no_top",
        action="store_true",
        help=f"plain softmax over the whole memory instead of top-k (k={TOP_K})",
    )
    if km:
        parser.add_argument(
            "--use_km",
            action="store_true",
            help=f"kernelized memory readout (Gaussian sigma={KM_SIGMA} on the "
            "1/16 grid, combined with top-k unless --no_top)",
        )
    parser.add_argument(
        "--top_k",
        type=int,
        default=TOP_K,
        help=f"k of the top-k readout (default: {TOP_K}, as the original)",
    )
    parser.add_argument(
        "--mem_every",
        type=int,
        default=5,
        help="every N-th frame after an annotated frame joins the permanent memory "
        "(default: 5, as the original)",
    )
    parser.add_argument(
        "--max-memory-frames",
        dest="max_memory_frames",
        type=int,
        default=None,
        metavar="N",
        help="keep at most N permanent memory frames per object, dropping the oldest "
        "non-annotated frame first (default: unbounded, as the original)",
    )
    parser.add_argument(
        "--smoke-model",
        action="store_true",
        help="the checkpoint is a ResNet-18 smoke-scale model (tiny training config)",
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default: cuda if available, else cpu)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)"
    )


def build_network(args: argparse.Namespace) -> tuple[PropagationNetwork, torch.device]:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.top_k is not None and args.top_k < 1:
        raise VOSDataError(None, f"--top_k must be at least 1, got {args.top_k}")
    if args.mem_every < 1:
        raise VOSDataError(None, f"--mem_every must be at least 1, got {args.mem_every}")
    if args.max_memory_frames is not None and args.max_memory_frames < 1:
        raise VOSDataError(
            None, f"--max-memory-frames must be at least 1, got {args.max_memory_frames}"
        )
    top_k = None if args.no_top else args.top_k
    km = KM_SIGMA if getattr(args, "use_km", False) else None
    spec = ModelSpec.smoke() if args.smoke_model else ModelSpec()
    with torch.device("meta"):
        net = PropagationNetwork(top_k=top_k, km_sigma=km, spec=spec)
    net = net.to_empty(device="cpu")
    load_weights(net, args.model)
    net = net.to(device).eval()
    log.info(
        "model %s (%s), top_k=%s, km_sigma=%s, mem_every=%d, max_memory_frames=%s, "
        "device=%s, threads=%d",
        args.model,
        spec.arch,
        top_k,
        km,
        args.mem_every,
        args.max_memory_frames,
        device,
        torch.get_num_threads(),
    )
    return net, device


def read_palette(
    candidates: Iterable[str | os.PathLike], default: np.ndarray = DAVIS_PALETTE
) -> np.ndarray:
    """The palette of the first existing palette PNG among ``candidates`` (``(256, 3)`` uint8)."""
    for path in candidates:
        if path is not None and Path(path).is_file():
            image = open_mask_image(path)
            palette = image.getpalette() if image.mode == "P" else None
            if palette:
                table = np.zeros((256, 3), dtype=np.uint8)
                values = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
                table[: len(values)] = values
                return table
    return default


@dataclass
class Timer:
    """Total processing time and frames, I/O excluded (the original's FPS protocol)."""

    seconds: float = 0.0
    frames: int = 0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start

    def report(self) -> str:
        fps = self.frames / self.seconds if self.seconds > 0 else float("nan")
        return (
            f"Total processing time: {self.seconds:.3f} s; total processed frames: "
            f"{self.frames}; FPS: {fps:.3f}"
        )


def propagate_sequence(
    net: PropagationNetwork,
    device: torch.device,
    frames: Iterable[np.ndarray],
    annotations: Callable[[int], np.ndarray | None],
    object_ids: Sequence[int],
    args: argparse.Namespace,
    timer: Timer,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    prepare_mask: Callable[[np.ndarray], np.ndarray] | None = None,
    output_size: tuple[int, int] | None = None,
    ids: Sequence[int] | None = None,
):
    """Yield ``(frame index, label map)`` for every frame from the first annotated one on.

    Only the propagation, unpadding, resizing and argmax are timed (frame decoding and PNG
    writing are not).
    """
    core = InferenceCore(
        net,
        object_ids=object_ids,
        mem_every=args.mem_every,
        max_memory_frames=args.max_memory_frames,
        device=device,
    )
    for t, rgb in enumerate(frames):
        mask = annotations(t)
        with timer:
            x = normalise_frame(rgb)
            if prepare is not None:
                x = prepare(x)
            if mask is not None and prepare_mask is not None:
                mask = prepare_mask(mask)
            prob = core.step(x, mask)
            labels = None if prob is None else probabilities_to_labels(prob, output_size, ids)
        if labels is not None:
            timer.frames += 1
            yield t, labels


def check_consecutive(names: Sequence[str], folder: Path) -> None:
    """DAVIS frames must be ``00000``, ``00001``, ...: a gap names the missing frame file."""
    for index, name in enumerate(names):
        if name != f"{index:05d}":
            raise VOSDataError(
                folder / f"{index:05d}.jpg",
                "frame is missing (frames must be numbered 00000, 00001, ... without gaps)",
            )


def image_palette_size(path: str | os.PathLike) -> int | None:
    image = Image.open(path)
    palette = image.getpalette()
    return None if palette is None else len(palette) // 3
