"""Segment your own video with a trained RCF checkpoint (no flow needed at inference).

    python -m rcf.segment --video clip.mp4 --checkpoint saved/saved_rcf_stage2.2/last.ckpt \\
        --object-channel 2 --out out_dir [--crf] [--save-overlay]

``--video`` is a video file or a folder of frames. Every frame goes through the evaluation
transform of the config (short side 392, OpenCV bilinear), the segmentation network and a
softmax; the object slot's probability is resized to the frame and written as
``<out>/masks/<frame>.png`` (0/255, foreground = p > 0.5; ``--save-probabilities`` also writes the
8-bit probability). ``--crf`` refines each mask with RCF's dense CRF (scale 0.8 on the 8-bit
probability, bilateral sxy 60 / srgb 5 / compat 5 at 480p; ``--crf-sxy`` rescales for other sizes).
``--save-overlay`` writes coloured overlays (``<out>/overlays/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm
from vos_common.errors import VOSDataError
from vos_common.io import atomic_save

from rcf.tools import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rcf.segment",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--video", required=True, help="video file (mp4, avi, ...) or folder of frames"
    )
    parser.add_argument("--checkpoint", required=True, help="trained RCF checkpoint (last.ckpt)")
    parser.add_argument(
        "--object-channel", type=int, required=True, help="the object slot (from rcf.maa)"
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--config",
        default="configs/rcf/rcf_eval.yaml",
        help="config describing the network (default configs/rcf/rcf_eval.yaml)",
    )
    parser.add_argument(
        "--opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="config overrides ('key value' pairs; must come last)",
    )
    parser.add_argument(
        "--ema", action="store_true", help="use the EMA teacher of a stage-2.x checkpoint"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="foreground probability threshold (default 0.5)",
    )
    parser.add_argument(
        "--crf", action="store_true", help="refine masks with RCF's dense CRF (pydensecrf)"
    )
    parser.add_argument(
        "--crf-sxy",
        type=float,
        default=None,
        help="CRF spatial std in pixels (default 60 scaled by frame height / 480)",
    )
    parser.add_argument(
        "--save-overlay",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="also write overlay PNGs and a preview GIF (vos_common.viz) to DIR "
        "(default <out>/overlays)",
    )
    parser.add_argument(
        "--save-probabilities", action="store_true", help="also write 8-bit object probabilities"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _save_png(path: Path, array: np.ndarray, mode: str) -> None:
    atomic_save(path, lambda tmp: Image.fromarray(array, mode).save(tmp, format="PNG"))


def main(argv: list[str] | None = None) -> int:
    from vos_common.datasets import open_dataset

    from rcf.config import load_rcf_config
    from rcf.data.transforms import eval_image
    from rcf.runtime import (
        build_model,
        default_device,
        load_pretrained_into,
        resolve_object_channel,
    )

    args = build_parser().parse_args(argv)
    video = Path(args.video)
    if not video.exists():
        raise VOSDataError(video, "video file or frame folder does not exist")
    if not Path(args.checkpoint).is_file():
        raise VOSDataError(args.checkpoint, "checkpoint file does not exist")
    config = load_rcf_config(args.config, args.opts)
    channel = resolve_object_channel(config, args.object_channel)
    device = default_device(args.device)
    model = build_model(config, channel, with_crf=False)
    load_pretrained_into(model, config, args.checkpoint)
    model.use_ema_for_eval = args.ema
    model.to(device).eval()
    kind = "frames" if video.is_dir() else "video"
    sequence = open_dataset(kind, video)[0]
    out = Path(args.out)
    params = None
    if args.crf:
        from vos_common.crf.params import RCF_CRF
        from vos_common.crf.pydense import require_pydensecrf

        require_pydensecrf()
        params = RCF_CRF
    names = sequence.frame_names
    masks = []
    for index in tqdm(range(len(sequence)), desc="segment", unit="frame", disable=args.no_progress):
        frame = np.array(sequence.read_frame(index))
        with torch.no_grad():
            probs = model.segment(eval_image(frame, config.test_transform_kwargs)[None].to(device))
            prob = (
                F.interpolate(
                    probs[:, channel : channel + 1],
                    size=frame.shape[:2],
                    mode="bilinear",
                    align_corners=False,
                )[0, 0]
                .cpu()
                .numpy()
            )
        quantised = np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)
        if params is not None:
            from vos_common.crf.pydense import rcf_crf_mask

            sxy = (
                args.crf_sxy
                if args.crf_sxy is not None
                else params.bilateral_sxy * frame.shape[0] / 480
            )
            mask = (
                rcf_crf_mask(
                    frame, quantised, scale=0.8, params=params.scaled(sxy / params.bilateral_sxy)
                )
                > 0
            )
        else:
            mask = prob > args.threshold
        _save_png(out / "masks" / f"{names[index]}.png", mask.astype(np.uint8) * 255, "L")
        if args.save_probabilities:
            _save_png(out / "probabilities" / f"{names[index]}.png", quantised, "L")
        masks.append(mask.astype(np.uint8))
    if args.save_overlay is not None:
        from vos_common.viz import save_overlays

        overlay_dir = Path(args.save_overlay) if args.save_overlay else out / "overlays"
        saved = save_overlays(overlay_dir, sequence, masks, preview="gif")
        print(f"overlays in {overlay_dir} (preview {saved.preview})")
    print(
        f"wrote {len(sequence)} masks to {out / 'masks'} (object slot {channel}"
        f"{', CRF' if args.crf else ''})"
    )
    return 0


def entry(argv: list[str] | None = None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(entry())
