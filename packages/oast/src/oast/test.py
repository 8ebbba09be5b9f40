"""Predict binary masks for OAST's test datasets (the release's ``test.py``, working).

    python -m oast.test --data_dir data --save_dir results --weights phase_c_teacher.pth \\
        --model_scale xxs --test_datasets DAVIS-2016 FBMS --device cpu

Writes ``<save_dir>/test/<Dataset>/<video>/<stem>.png``: 8-bit 0/255 masks at the original frame
size. Pre-processing: PIL resize of the frame (bilinear) and of its flow picture (nearest) to
``--img_size`` (384×640); post-processing: sigmoid, bilinear resize with align_corners to the
original size, foreground where ≥ 0.5. Several ``--weights`` are averaged element-wise before
loading (a non-empty ``model_ema`` entry is used instead of ``model``).

Every frame gets a prediction (``--frames all``, default): a frame without a flow picture is an
error, where the release silently skips it (``--frames oast`` restores the release's frame list).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from vos_common.devices import pick_device
from vos_common.errors import cli_errors
from vos_common.io.atomic import atomic_path
from vos_common.io.masks import write_binary_mask

from oast.checkpoint import load_weights
from oast.data.datasets import OASTFrames
from oast.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from oast.inference.predict import postprocess
from oast.model.network import MobileViTVOS, check_input_size
from oast.runner import collate

__all__ = ["build_parser", "main", "run_test"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oast.test",
        description="Segment the test datasets with trained OAST weights and write 0/255 PNG masks "
        "at the original size under <save_dir>/test/<Dataset>/<video>/<stem>.png.",
    )
    parser.add_argument(
        "--data_dir",
        "--data-dir",
        dest="data_dir",
        required=True,
        help="folder holding <Dataset>/val/{images,flows[,labels]}/<video>/",
    )
    parser.add_argument("--save_dir", required=True, help="output folder")
    parser.add_argument(
        "--weights",
        nargs="+",
        required=True,
        help="checkpoint(s) {'model': state_dict} (several are averaged)",
    )
    parser.add_argument(
        "--model_scale",
        choices=("xxs", "xs", "s"),
        default="xxs",
        help="network scale of the weights (default xxs)",
    )
    parser.add_argument(
        "--test_datasets",
        nargs="+",
        default=["DAVIS-2016", "FBMS"],
        help="dataset folders under --data_dir (default DAVIS-2016 FBMS)",
    )
    parser.add_argument("--split", default="val", help="split folder of each dataset (default val)")
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default=None,
        help="default: cuda when available, else cpu",
    )
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout before the head (0)")
    parser.add_argument(
        "--img_size",
        type=int,
        nargs=2,
        default=[384, 640],
        metavar=("H", "W"),
        help="network input size, multiples of 64 (default 384 640)",
    )
    parser.add_argument(
        "--mean", type=float, nargs=3, default=list(IMAGENET_MEAN), help="image mean"
    )
    parser.add_argument("--std", type=float, nargs=3, default=list(IMAGENET_STD), help="image std")
    parser.add_argument(
        "--frames",
        choices=("all", "oast"),
        default="all",
        help="all: every image (a missing flow picture is an error; default); "
        "oast: the release's list (frames without a flow picture skipped)",
    )
    parser.add_argument(
        "--save_prob",
        action="store_true",
        help="also write 8-bit probability maps (x255) under <save_dir>/prob/ "
        "(for video-salient-object metrics)",
    )
    parser.add_argument("--batch_size", type=int, default=1, help="frames per forward (default 1)")
    parser.add_argument(
        "--num_workers", type=int, default=2, help="data loader workers (default 2)"
    )
    return parser


def _write_prob(path: Path, prob: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.round(prob * 255).astype(np.uint8)).save(tmp, format="PNG")


def run_test(args: argparse.Namespace) -> dict[str, int]:
    """Predict and write every frame; returns the number of masks written per dataset."""
    check_input_size(*args.img_size)
    device = pick_device(args.device)
    model = MobileViTVOS(args.model_scale, args.dropout)
    load_weights(model, args.weights)
    model.to(device).eval()
    print(
        f"oast.test: OAST-{args.model_scale} from {' + '.join(args.weights)} on {device}, "
        f"input {args.img_size[0]}x{args.img_size[1]}, frames rule {args.frames}",
        file=sys.stderr,
    )
    save_root = Path(args.save_dir)
    written: dict[str, int] = {}
    for name in args.test_datasets:
        frames = OASTFrames(
            args.data_dir,
            [name],
            "test",
            args.img_size,
            split=args.split,
            frame_rule=args.frames,
            mean=args.mean,
            std=args.std,
        )
        loader = DataLoader(
            frames, batch_size=args.batch_size, num_workers=args.num_workers, collate_fn=collate
        )
        count = 0
        with torch.no_grad():
            for batch in tqdm(loader, desc=name, unit="batch", dynamic_ncols=True):
                logits = model(batch["image"].to(device), batch["flow"].to(device))[0]
                for i in range(logits.shape[0]):
                    size = (int(batch["height"][i]), int(batch["width"][i]))
                    mask, prob = postprocess(logits[i], size)
                    rel = Path(name) / batch["video"][i] / f"{batch['stem'][i]}.png"
                    out = save_root / "test" / rel
                    out.parent.mkdir(parents=True, exist_ok=True)
                    write_binary_mask(out, mask)
                    if args.save_prob:
                        _write_prob(save_root / "prob" / rel, prob)
                    count += 1
        written[name] = count
        print(f"oast.test: {name}: {count} masks in {save_root / 'test' / name}", file=sys.stderr)
    return written


@cli_errors
def main(argv: list[str] | None = None) -> None:
    run_test(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
