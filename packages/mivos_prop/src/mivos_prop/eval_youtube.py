"""YouTube-VOS val propagation, as the original ``eval_youtube.py``.

    python -m mivos_prop.eval_youtube --model saves/propagation_model.pth --yv ../YouTube \\
        --output out/yv [--split valid] [--use_km] [--no_top]

Frames are every 30 fps frame, from ``<yv>/all_frames/<split>_all_frames/JPEGImages/<video>/``
(the original's layout) or ``<yv>/<split>_all_frames/JPEGImages/<video>/`` (the official
archive's); annotations are ``<yv>/<split>/Annotations/<video>/<frame>.png`` matched by name.
An object starts on the frame of the first annotation that contains it, with its own memory.
Frames are resized so the shorter side is 480 (bicubic, no antialiasing) and masks with
nearest sampling; the output is resized back to the annotation size and written with the
video's original ids and the YouTube-VOS palette as ``<output>/<video>/<frame>.png`` for every
frame from the first annotated one on: the submission layout (``Annotations/<video>/...``
inside the zip) that vos_eval packs. ``--mem_every`` counts 30 fps frames. The original
README's 2018 rows say k = 20; the original script (and this one) uses k = 50 unless
``--top_k`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from vos_common.datasets.base import (
    VideoSequence,
    annotations_by_frame,
    files_by_stem,
    require_dir,
    sequence_frames,
)
from vos_common.datasets.loading import iter_samples
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import write_label_map
from vos_common.viz import add_overlay_arguments, overlay_options, save_overlays

from mivos_prop.inference import resize_mask_short_side, resize_short_side
from mivos_prop.runner import (
    Timer,
    add_network_arguments,
    build_network,
    log,
    propagate_sequence,
    read_palette,
    setup_logging,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mivos_prop.eval_youtube",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_network_arguments(parser)
    parser.add_argument("--yv", default="../YouTube", help="YouTube-VOS root folder")
    parser.add_argument("--output", required=True, help="output folder (one sub-folder per video)")
    parser.add_argument("--split", default="valid", help="split folder name")
    parser.add_argument(
        "--short-side",
        type=int,
        default=480,
        help="frames are resized so their shorter side is this long",
    )
    parser.add_argument("--sequences", nargs="+", default=None, help="only these videos")
    add_overlay_arguments(parser)
    return parser


def youtube_videos(root: Path, split: str, wanted: list[str] | None) -> list[VideoSequence]:
    frames_root = root / "all_frames" / f"{split}_all_frames" / "JPEGImages"
    if not frames_root.is_dir():
        frames_root = require_dir(
            root / f"{split}_all_frames" / "JPEGImages",
            "all-frames folder (all_frames/<split>_all_frames/JPEGImages)",
        )
    masks_root = require_dir(root / split / "Annotations", "annotation folder")
    names = sorted(p.name for p in frames_root.iterdir() if p.is_dir())
    if wanted is not None:
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise VOSDataError(frames_root, f"unknown video(s): {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    videos = []
    for name in names:
        frames = sequence_frames(frames_root / name, (".jpg", ".jpeg"))
        masks = files_by_stem(masks_root / name, (".png",), "annotation folder")
        if not masks:
            raise VOSDataError(masks_root / name, "video has no annotation")
        annotations = annotations_by_frame(masks, list(frames), name)
        videos.append(
            VideoSequence(
                name=name, frame_paths=list(frames.values()), annotation_paths=annotations
            )
        )
    return videos


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    root = Path(args.yv).expanduser()
    videos = youtube_videos(root, args.split, args.sequences)
    palette = read_palette(
        [
            root / "valid/Annotations/0a49f5265b/00000.png",
            next(iter(videos[0].annotation_paths.values()), None),
        ]
    )
    net, device = build_network(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log.info("YouTube-VOS %s: %d videos from %s -> %s", args.split, len(videos), root, out)
    timer = Timer()
    short = args.short_side
    for video in tqdm(videos, desc="videos", unit="video"):
        masks = {t: video.read_mask(t) for t in video.annotated_frames}
        sizes = {m.shape for m in masks.values()}
        if len(sizes) != 1:
            raise VOSDataError(
                video.annotation_paths[video.annotated_frames[-1]],
                f"annotations of video {video.name} differ in size",
            )
        size = sizes.pop()
        ids = sorted({int(i) for m in masks.values() for i in np.unique(m) if i != 0})
        if not ids:
            raise VOSDataError(
                video.annotation_paths[video.annotated_frames[0]], "no object in any annotation"
            )
        first_frame = video.read_frame(0)
        if first_frame.shape[:2] != size:
            raise VOSDataError(
                video.frame_paths[0],
                f"frame is {first_frame.shape[1]}x"
                f"{first_frame.shape[0]} but the annotations are {size[1]}x{size[0]}",
            )
        frames = (s.frame for s in iter_samples(video, masks=False, workers=2))
        labels_all, written = [], []
        for t, labels in tqdm(
            propagate_sequence(
                net,
                device,
                frames,
                masks.get,
                ids,
                args,
                timer,
                prepare=lambda x: resize_short_side(x, short),
                prepare_mask=lambda m: resize_mask_short_side(torch.from_numpy(m), short),
                output_size=size,
                ids=ids,
            ),
            total=len(video),
            desc=video.name,
            unit="frame",
            leave=False,
        ):
            write_label_map(out / video.name / f"{video.frame_names[t]}.png", labels, palette)
            if args.save_overlay:
                labels_all.append(labels)
                written.append(t)
        if args.save_overlay:
            save_overlays(
                args.save_overlay / video.name,
                [video.read_frame(t) for t in written],
                labels_all,
                names=[video.frame_names[t] for t in written],
                palette=palette,
                **overlay_options(args),
            )
    log.info(timer.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
