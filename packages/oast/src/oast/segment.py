"""Segment the primary moving object of your own video with trained OAST weights.

    python -m oast.segment --video clip.mp4 --weights phase_c_teacher.pth --out out/ \\
        [--model_scale xxs] [--save-overlay out/overlay]

``--video`` is a video file or a folder of frames. OAST needs a colour-coded flow picture for
every frame: by default they are computed here with vos_common.flow (OpenCV DIS, offline;
``--flow-method raft_large --raft-checkpoint raft-things.pth`` for RAFT as the paper) and written
to ``<out>/flows/<video>/<stem>.jpg`` in OAST's layout (the last frame gets the negated backward
flow, so it is predicted too). ``--flow DIR`` uses existing flow pictures ``DIR/<stem>.jpg``;
``--flo DIR`` renders Middlebury ``DIR/<stem>.flo`` files (flow from the frame to the next) with
the Middlebury colour wheel.

Writes ``<out>/masks/<video>/<stem>.png`` (0/255 masks at the frame size) and, with
``--save_prob``, ``<out>/prob/<video>/<stem>.png`` (probability × 255).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from vos_common.datasets import read_frame_folder, read_video
from vos_common.devices import pick_device
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import flow_to_color, read_flo, read_frame
from vos_common.io.masks import write_binary_mask
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from oast.checkpoint import load_weights
from oast.inference.predict import Predictor
from oast.model.network import MobileViTVOS, check_input_size
from oast.test import _write_prob

__all__ = ["build_parser", "main", "segment_video", "flow_pictures"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oast.segment",
        description="Segment the primary moving object of a video (file or frame folder) with "
        "OAST; optical flow is computed when no flow is given.",
    )
    parser.add_argument("--video", required=True, help="video file (mp4, avi, ...) or frame folder")
    parser.add_argument(
        "--weights",
        nargs="+",
        required=True,
        help="OAST checkpoint(s) {'model': state_dict} (several are averaged)",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--model_scale",
        choices=("xxs", "xs", "s"),
        default="xxs",
        help="network scale of the weights (default xxs)",
    )
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default=None,
        help="default: cuda when available, else cpu",
    )
    parser.add_argument(
        "--img_size",
        type=int,
        nargs=2,
        default=[384, 640],
        metavar=("H", "W"),
        help="network input size, multiples of 64 (default 384 640)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--flow", help="folder of existing flow pictures <stem>.jpg (OAST layout)")
    source.add_argument("--flo", help="folder of Middlebury <stem>.flo files (frame -> next frame)")
    parser.add_argument(
        "--flow-method",
        default="dis",
        help="flow when none is given: dis (default, offline), raft_small, raft_large",
    )
    parser.add_argument("--raft-checkpoint", help="RAFT weights file for --flow-method raft_*")
    parser.add_argument("--name", help="video name in the output paths (default: file/folder name)")
    parser.add_argument("--save_prob", action="store_true", help="also write probability maps")
    add_overlay_arguments(parser)
    return parser


def _sequence(path: str, name: str | None):
    p = Path(path)
    if p.is_dir():
        return read_frame_folder(p, name=name)
    if not p.exists():
        raise VOSDataError(p, "video file or frame folder not found")
    return read_video(p, name=name or p.stem)


def flow_pictures(seq, args: argparse.Namespace, out: Path, device: str) -> list[Path]:
    """One flow picture per frame of ``seq`` (given, rendered from .flo, or computed)."""
    stems = seq.frame_names
    if args.flow:
        folder = Path(args.flow)
        paths = []
        for stem in stems:
            found = [
                folder / f"{stem}{ext}"
                for ext in (".jpg", ".jpeg", ".png")
                if (folder / f"{stem}{ext}").is_file()
            ]
            if not found:
                raise VOSDataError(
                    folder / f"{stem}.jpg", "flow picture missing (every frame needs one)"
                )
            paths.append(found[0])
        return paths
    flow_dir = out / "flows" / seq.name
    if args.flo:
        from PIL import Image
        from vos_common.io.atomic import atomic_path

        flow_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem in tqdm(stems, desc="flow pictures", unit="frame"):
            src = Path(args.flo) / f"{stem}.flo"
            if not src.is_file():
                raise VOSDataError(src, "flow file missing (every frame needs one)")
            target = flow_dir / f"{stem}.jpg"
            with atomic_path(target) as tmp:
                Image.fromarray(flow_to_color(read_flo(src))).save(tmp, format="JPEG", quality=95)
            paths.append(target)
        return paths
    from vos_common.flow import make_estimator, write_sequence_flows

    estimator = make_estimator(args.flow_method, args.raft_checkpoint, device=device)
    print(
        f"oast.segment: computing {args.flow_method} flow pictures into {flow_dir}", file=sys.stderr
    )
    write_sequence_flows(seq, estimator, out, layout="oast")
    return [flow_dir / f"{stem}.jpg" for stem in stems]


def segment_video(args: argparse.Namespace) -> dict:
    """Run the whole command; returns the paths written."""
    check_input_size(*args.img_size)
    device = pick_device(args.device)
    model = MobileViTVOS(args.model_scale)
    load_weights(model, args.weights)
    seq = _sequence(args.video, args.name)
    out = Path(args.out)
    pictures = flow_pictures(seq, args, out, str(device))
    predictor = Predictor(model, device, args.img_size)
    print(
        f"oast.segment: {seq.name}, {len(seq)} frames, OAST-{args.model_scale} from "
        f"{' + '.join(args.weights)} on {device}",
        file=sys.stderr,
    )
    masks, written = [], []
    for index, stem in enumerate(tqdm(seq.frame_names, desc=seq.name, unit="frame")):
        frame = seq.read_frame(index)
        picture = read_frame(pictures[index])
        if picture.shape[:2] != frame.shape[:2]:
            raise VOSDataError(
                pictures[index],
                f"flow picture is {picture.shape[1]}x"
                f"{picture.shape[0]}, the frame {frame.shape[1]}x{frame.shape[0]}",
            )
        mask, prob = predictor.predict(frame, picture)
        path = out / "masks" / seq.name / f"{stem}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_binary_mask(path, mask)
        if args.save_prob:
            _write_prob(out / "prob" / seq.name / f"{stem}.png", prob)
        masks.append((mask > 0).astype(np.uint8))
        written.append(path)
    result = {"masks": written, "flows": pictures}
    if args.save_overlay is not None:
        saved = save_overlays(
            Path(args.save_overlay) / seq.name, seq, masks, **overlay_options(args)
        )
        result["overlay"] = saved
        print(f"oast.segment: overlays in {Path(args.save_overlay) / seq.name}", file=sys.stderr)
    print(f"oast.segment: {len(written)} masks in {out / 'masks' / seq.name}", file=sys.stderr)
    return result


@cli_errors
def main(argv: list[str] | None = None) -> None:
    segment_video(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
