"""``python -m vos_common.flow`` (also ``vos-flow``): compute optical flow for your own video."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vos_common.errors import cli_errors
from vos_common.flow import (
    DEFAULT_DIS_SETTINGS,
    DEFAULT_NUM_FLOW_UPDATES,
    DIRECTIONS,
    DIS_PRESETS,
    LAYOUTS,
    METHODS,
    DISSettings,
    make_estimator,
    write_sequence_flows,
)
from vos_common.datasets.folder import discover_sequences

DESCRIPTION = """\
Compute optical flow for a video (or a folder of videos) and write it in the layout a
method expects. Flow is (u, v) = (+x right, +y down) in pixels of the input frames.

Layouts:
  rcf   OUT/Flows_NewCT[/RES]/SEQ/<frame t+1>.npy         forward  t -> t+1
        OUT/BackwardFlows_NewCT[/RES]/SEQ/<frame t+1>.npy backward t+1 -> t
        (RCF names both after the later frame; gap g>1 goes to Flows_NewCT_gap{g}/ and
        BackwardFlows_NewCT_gap{g}/, named after frame t+g)
  oast  OUT/flows/SEQ/<frame t>.jpg  colour-coded forward flow t -> t+1 for EVERY frame;
        the last frame gets its backward flow t -> t-1, negated
  flo   OUT/forward_gap{g}/SEQ/<frame t>.flo  (t -> t+g) and
        OUT/backward_gap{g}/SEQ/<frame t>.flo (t -> t-g), named after the source frame

Existing output files are skipped, so an interrupted run can simply be started again."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vos_common.flow",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--frames",
        required=True,
        type=Path,
        metavar="DIR_OR_VIDEO",
        help="a folder of frames (one sequence, named after the folder), a folder of sequence "
        "folders and/or video files (e.g. DAVIS JPEGImages/480p), or one video file "
        "(.mp4, .avi, ...; decoded with OpenCV, frames named 00000, 00001, ...)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="output root; the layout's folders are created inside it",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="dis",
        help="flow estimator: 'dis' = OpenCV DIS (default; CPU, no weights); 'raft_small' / "
        "'raft_large' = torchvision RAFT with the weights in --checkpoint",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="RAFT weights file, required for raft_*: a torchvision state_dict, or an original "
        "princeton-vl checkpoint (raft-things.pth, raft-small.pth, ...). Never downloaded",
    )
    parser.add_argument(
        "--gaps",
        type=int,
        nargs="+",
        default=[1],
        metavar="G",
        help="frame gaps: flow between frames t and t+G (default: 1)",
    )
    parser.add_argument(
        "--directions",
        nargs="+",
        choices=DIRECTIONS,
        default=None,
        help="which flows to write for rcf/flo (default: both). 'forward' = t -> t+G, "
        "'backward' = t -> t-G. Not used by the oast layout",
    )
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="flo", help="output layout (see above; default: flo)"
    )
    parser.add_argument(
        "--resolution",
        metavar="LEVEL",
        help="rcf only: resolution folder inside the flow folders, e.g. 480p for "
        "DAVIS (Flows_NewCT/480p/SEQ/...); omit for RCF's resized SegTrackv2/FBMS",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="RAFT device: cpu (default), cuda or cuda:N. DIS always runs on the CPU",
    )
    parser.add_argument(
        "--num-flow-updates",
        type=int,
        default=DEFAULT_NUM_FLOW_UPDATES,
        metavar="N",
        help=f"RAFT refinement iterations (default: {DEFAULT_NUM_FLOW_UPDATES}, "
        "torchvision's and the original RAFT's default)",
    )
    parser.add_argument(
        "--dis-preset",
        choices=sorted(DIS_PRESETS),
        default=DEFAULT_DIS_SETTINGS.preset,
        help=f"OpenCV DIS preset (default: {DEFAULT_DIS_SETTINGS.preset})",
    )
    parser.add_argument(
        "--dis-finest-scale",
        type=int,
        default=DEFAULT_DIS_SETTINGS.finest_scale,
        metavar="S",
        help=f"DIS pyramid level where the search stops, 0 = full resolution (default: "
        f"{DEFAULT_DIS_SETTINGS.finest_scale}; the presets alone stop at 1 or 2). The "
        "defaults were chosen by end-point error on exact synthetic flow: 10-40 %% lower mean "
        "error than the plain medium preset, about 75 ms per 480x854 pair",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute and replace existing output files (default: skip them)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if any(gap < 1 for gap in args.gaps):
        parser.error("--gaps must be positive integers")
    if args.layout == "oast" and (args.gaps != [1] or args.directions is not None):
        parser.error(
            "--layout oast writes forward gap-1 pictures (one per frame); "
            "--gaps and --directions do not apply"
        )
    if args.resolution and args.layout != "rcf":
        parser.error("--resolution applies to --layout rcf only")
    if args.num_flow_updates < 1:
        parser.error("--num-flow-updates must be at least 1")
    if args.method == "dis" and args.checkpoint is not None:
        parser.error("--checkpoint is for the RAFT methods; DIS needs no weights")

    sequences = discover_sequences(args.frames)
    if args.dis_finest_scale < 0:
        parser.error("--dis-finest-scale must be >= 0")
    dis_settings = DISSettings(preset=args.dis_preset, finest_scale=args.dis_finest_scale)
    estimator = make_estimator(
        args.method,
        args.checkpoint,
        device=args.device,
        num_flow_updates=args.num_flow_updates,
        dis_settings=dis_settings,
    )
    directions = tuple(args.directions or DIRECTIONS)
    written = skipped = 0
    for frames in sequences:
        summary = write_sequence_flows(
            frames,
            estimator,
            args.out,
            layout=args.layout,
            gaps=tuple(args.gaps),
            directions=directions,
            resolution=args.resolution,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
        written += summary.written
        skipped += summary.skipped
    print(
        f"{args.method}: {len(sequences)} sequence(s), wrote {written} file(s), "
        f"skipped {skipped} existing, in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
