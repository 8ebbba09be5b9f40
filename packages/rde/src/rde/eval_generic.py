"""Generic-folder evaluation with RDE-VOS (what the original ``eval_generic.py`` meant to do).

    python -m rde.eval_generic --data_path ROOT --output OUT --model model_s012_final.pth \\
        [--mode two-frames-compress] [--mem_every 3] [--top 40] [--res 480] [--amp]

``ROOT/JPEGImages/<video>/<frame>.jpg`` and ``ROOT/Annotations/<video>/<frame>.png``: every
frame that has a PNG contributes its objects (ids are remapped to 1..K and back, so any ids
work; objects may appear on later frames, YouTube-VOS style). Frames are resized to a shorter
side of ``--res`` (480; -1 keeps the size) and the masks written at the original size,
``OUT/<video>/<frame>.png``, with the palette of the video's first PNG. The original script
imports a class that does not exist (``STCN``) and fails at start-up; ``--long_video_path`` is
accepted as an alias of ``--data_path``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vos_common.datasets.base import files_by_stem, list_frames, require_dir
from vos_common.errors import VOSDataError, cli_errors

from rde.evaluation import add_common_arguments, log, read_palette, run_sparse, setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rde.eval_generic",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_path", "--long_video_path", dest="data_path", required=True,
                        help="root holding JPEGImages/<video>/ and Annotations/<video>/")
    parser.add_argument("--res", type=int, default=480,
                        help="shorter side the frames are resized to (-1 keeps the size; default 480)")
    add_common_arguments(parser, top=40)
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    net, device = setup(args, "rde.eval_generic")
    root = Path(args.data_path)
    images = require_dir(root / "JPEGImages", "frame folder")
    names = sorted(p.name for p in images.iterdir() if p.is_dir())
    if not names:
        raise VOSDataError(images, "no video folder")
    out = Path(args.output)
    log(f"data: {root} ({len(names)} videos) -> {out}")

    def videos():
        for name in names:
            frames = list_frames(images / name)
            if not frames:
                raise VOSDataError(images / name, "video folder has no frames")
            masks = files_by_stem(require_dir(root / "Annotations" / name, "annotation folder"),
                                  (".png",), "annotation folder")
            index = {p.stem: i for i, p in enumerate(frames)}
            unknown = sorted(set(masks) - set(index))
            if unknown:
                raise VOSDataError(masks[unknown[0]], "annotation has no frame of the same name")
            annotations = {index[stem]: path for stem, path in masks.items()}
            if not annotations:
                raise VOSDataError(root / "Annotations" / name, "no annotation")
            palette = read_palette(annotations[min(annotations)])
            yield (name, frames, [p.stem for p in frames], annotations, None, out / name,
                   palette, None)

    run_sparse(args, net, device, videos(), schedule="relative")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
