"""YouTube-VOS (2018/2019) evaluation with RDE-VOS, the original ``eval_youtube.py`` flags.

    python -m rde.eval_youtube --output prediction/YV-19-val --yv_path YouTube \\
        --model model_s012_final_yv.pth --mode two-frames-compress --mem_every 4 --top 20 [--amp]

Reads ``<yv_path>/<split>/Annotations`` (first-appearance masks), ``<split>/meta.json`` and every
frame from ``<yv_path>/<split>_all_frames/JPEGImages`` (directly under the root, as the code
expects; the README's ``all_frames/`` level is STCN's). Frames are resized so the shorter side
is 480 (bicubic, no antialiasing; masks nearest). Objects that appear later get their own
memory from their first annotated frame; memory frames are counted from the last memory or
annotation frame (``t - last >= mem_every``). Writes ``<output>/Annotations/<video>/<frame>.png``
with the original object ids and the palette of ``valid/Annotations/0a49f5265b/00000.png``,
from each video's first annotated frame on, only for the frames listed in meta.json unless
``--output_all``; frames neither listed nor memory frames are not computed. Zip
``Annotations`` (``python -m vos_eval youtube-pack``) for the evaluation server.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vos_common.datasets import YouTubeVOS
from vos_common.errors import cli_errors

from rde.evaluation import add_common_arguments, log, read_palette, run_sparse, setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rde.eval_youtube",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--yv_path", default="../YouTube",
                        help="YouTube-VOS root holding <split>/ and <split>_all_frames/")
    parser.add_argument("--split", default="valid", help="valid or test (default valid)")
    parser.add_argument("--output_all", action="store_true",
                        help="write every frame, not only the frames listed in meta.json")
    parser.add_argument("--res", type=int, default=480,
                        help="shorter side the frames are resized to (-1 keeps the size; default 480)")
    add_common_arguments(parser, top=20)
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    net, device = setup(args, "rde.eval_youtube")
    root = Path(args.yv_path)
    dataset = YouTubeVOS(root, split=args.split, all_frames=True)
    palette = read_palette(root / args.split / "Annotations" / "0a49f5265b" / "00000.png")
    out = Path(args.output) / "Annotations"
    log(f"data: {root} ({args.split}, {len(dataset)} videos) -> {out}")

    def videos():
        for seq in dataset:
            required = None if args.output_all else set(seq.required_frames or {})
            annotations = dict(seq.meta["given_annotation_paths"])
            size = seq.read_mask(min(annotations), check_size=False).shape
            yield (seq.name, seq.frame_paths, seq.frame_names, annotations, required,
                   out / seq.name, palette, size)

    run_sparse(args, net, device, videos(), schedule="relative")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
