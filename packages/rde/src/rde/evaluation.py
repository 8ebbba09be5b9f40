"""What the evaluation entry points share: options, model loading, frames, writing, timing."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from vos_common.errors import VOSDataError
from vos_common.io.masks import DAVIS_PALETTE

from rde.inference.core import InferenceCore
from rde.inference.memory import MODES
from rde.model.checkpoint import load_eval_network

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def normalise_frame(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 → ``(3, H, W)`` float32: /255, minus ImageNet mean, over std."""
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
    return x.sub_(MEAN).div_(STD)


def add_common_arguments(parser: argparse.ArgumentParser, top: int, mem_every: int = 3,
                         repeat: bool = True) -> None:
    """``--model --output --top --amp --mem_every --mode [--repeat]`` and our extras."""
    parser.add_argument("--model", required=True,
                        help="network weights: a released model_*.pth (e.g. model_s012_final.pth) "
                             "or a training checkpoint; loaded strictly")
    parser.add_argument("--output", required=True, help="folder to write the predicted masks to")
    parser.add_argument("--top", type=int, default=top,
                        help=f"top-k of the memory read (default {top})")
    parser.add_argument("--amp", action="store_true",
                        help="CUDA autocast (fp16); ignored with a note when no GPU is present")
    parser.add_argument("--mem_every", type=int, default=mem_every,
                        help=f"memory-frame interval: a SAM update every N frames (default {mem_every})")
    parser.add_argument("--mode", default="two-frames-compress", choices=MODES,
                        help="memory read per query frame (default two-frames-compress, the "
                             "released setting; the original has no default)")
    if repeat:
        parser.add_argument("--repeat", type=int, default=None,
                            help="SE blocks inside each SAM branch; must match the checkpoint "
                                 "(default: read from the file; 0 for every released model)")
    extra = parser.add_argument_group("vos-suite extras")
    extra.add_argument("--readout", choices=("sparse", "dense"), default="sparse",
                       help="top-k readout: gather the k entries (default) or the original's "
                            "dense product (same numbers, slower)")
    extra.add_argument("--stable_topk", action="store_true",
                       help="subtract the maximum inside the top-k softmax (the original does "
                            "not; only matters if exp overflows)")
    extra.add_argument("--device", default=None,
                       help="torch device (default: cuda if available, else cpu)")
    extra.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def setup(args: argparse.Namespace, prog: str) -> tuple[torch.nn.Module, torch.device]:
    """Device, threads, strict model loading and the 'what was run' log lines."""
    if args.mem_every < 1:
        raise VOSDataError(None, f"--mem_every must be at least 1, got {args.mem_every}")
    if args.top < 1:
        raise VOSDataError(None, f"--top must be at least 1, got {args.top}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = load_eval_network(args.model, getattr(args, "repeat", None), device)
    log(f"command: python -m {prog} {shlex.join(sys.argv[1:])}")
    log(f"model: {args.model} (width 1/{net.spec.width_div}, repeat {net.spec.repeat}), "
        f"device {device}, threads {torch.get_num_threads()}")
    log(f"mode {args.mode}, mem_every {args.mem_every}, top-k {args.top}, readout {args.readout}"
        + (", stable top-k" if args.stable_topk else ""))
    if args.amp and device.type != "cuda":
        log("--amp: no GPU, running in float32")
    return net, device


def make_core(net, args, num_objects: int, schedule: str, include_last: bool = False):
    return InferenceCore(net, num_objects, args.mode, args.mem_every, args.top, schedule,
                         include_last, amp=args.amp, readout=args.readout,
                         stable_topk=args.stable_topk)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_palette(path: Path) -> np.ndarray:
    """The palette of an indexed PNG, or the DAVIS palette (with a note) when it is missing."""
    if path.is_file():
        with Image.open(path) as image:
            palette = image.getpalette()
        if palette:
            palette = palette + [0] * (768 - len(palette))
            return np.asarray(palette, dtype=np.uint8).reshape(256, 3)
    log(f"{path}: not found; writing with the DAVIS palette (the original requires this file)")
    return DAVIS_PALETTE


def labels_at(prob: torch.Tensor, core: InferenceCore, size: tuple[int, int] | None) -> np.ndarray:
    """Unpad, optionally resize bilinearly to ``size``, argmax over the K+1 channels."""
    prob = core.unpad(prob)
    if size is not None and tuple(prob.shape[-2:]) != tuple(size):
        prob = F.interpolate(prob, size, mode="bilinear", align_corners=False)
    return torch.argmax(prob, dim=0)[0].to(torch.uint8).cpu().numpy()


@contextlib.contextmanager
def staged_folder(final: Path):
    """Write a sequence's outputs into a hidden folder, renamed into place when complete."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


class Timer:
    """Frames / wall time of propagation + unpad + resize + argmax (the original's FPS)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.total = 0.0
        self.frames = 0
        self._start = 0.0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.total += time.perf_counter() - self._start

    def report(self) -> None:
        log(f"Total processing time: {self.total:.3f} s")
        log(f"Total processed frames: {self.frames}")
        if self.total > 0:
            log(f"FPS: {self.frames / self.total:.2f}")


def resize_shorter(x: torch.Tensor, res: int, nearest: bool = False) -> torch.Tensor:
    """Resize ``(C, H, W)`` so the shorter side is ``res`` (-1: keep), as torchvision's
    ``Resize(res)`` on tensors (bicubic without antialiasing, as the reference era; masks nearest)."""
    if res is None or res < 0:
        return x
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    mode = InterpolationMode.NEAREST if nearest else InterpolationMode.BICUBIC
    return TF.resize(x, res, interpolation=mode, antialias=False)


def run_sparse(args, net, device, videos, schedule: str = "relative") -> None:
    """YouTube-VOS-style propagation: objects first annotated on any frame, per-start banks.

    ``videos`` yields ``(name, frame_paths, frame_names, given {index: png path},
    required (set of indices) or None, out_folder, palette, size)``. Frames before the first
    annotation are not processed or written; a frame outside ``required`` is written only if
    ``required`` is None, and skipped entirely when it is not a memory frame.
    """
    from tqdm import tqdm
    from vos_common.io.frames import read_frame
    from vos_common.io.masks import read_label_map, write_label_map

    timer = Timer(device)
    for name, frame_paths, frame_names, given, required, out_folder, palette, size in tqdm(
            list(videos), desc="videos", dynamic_ncols=True):
        masks = {t: read_label_map(path) for t, path in sorted(given.items())}
        for t, mask in masks.items():
            if size is not None and mask.shape != tuple(size):
                raise VOSDataError(given[t], f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                                                   f"the first annotation {size[1]}x{size[0]}")
        labels = sorted({int(v) for mask in masks.values() for v in np.unique(mask) if v != 0})
        if not labels:
            raise VOSDataError(next(iter(given.values()), name), "no annotated object")
        convert = {label: i + 1 for i, label in enumerate(labels)}
        backward = np.zeros(len(labels) + 1, dtype=np.uint8)
        backward[1:] = labels
        core = make_core(net, args, len(labels), schedule)
        first = min(masks)
        total = len(frame_paths)
        with staged_folder(out_folder) as folder:
            for t in range(total):
                if t < first:
                    core.skip()
                    continue
                annotated = t in masks
                need = required is None or t in required
                last = t == total - 1
                if not core.needs_frame(annotated, last, need):
                    core.skip()
                    continue
                rgb = read_frame(frame_paths[t])
                frame = resize_shorter(normalise_frame(rgb), args.res)
                annotation = None
                if annotated:
                    ids = masks[t]
                    if ids.shape != rgb.shape[:2]:
                        raise VOSDataError(given[t], f"mask is {ids.shape[1]}x{ids.shape[0]}"
                                                           f" but its frame is {rgb.shape[1]}x{rgb.shape[0]}")
                    present = [int(v) for v in np.unique(ids) if v != 0]
                    onehot = torch.from_numpy(np.stack([(ids == v) for v in present]).astype(np.float32))
                    onehot = resize_shorter(onehot, args.res, nearest=True)
                    annotation = {convert[v]: onehot[i] for i, v in enumerate(present)}
                with timer:
                    prob = core.step(frame, annotation, last=last, need_output=need)
                    out = None if prob is None or not need else labels_at(prob, core, rgb.shape[:2])
                timer.frames += 1
                if out is not None:
                    write_label_map(folder / f"{frame_names[t]}.png", backward[out], palette)
    timer.report()
