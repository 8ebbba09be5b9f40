"""Render Middlebury ``.flo`` files as OAST flow pictures (colour wheel, JPEG, same stems).

    python -m oast.data.flow_pictures FLO_ROOT OUT_ROOT [--quality 95] [--overwrite]

Every ``FLO_ROOT/<video>/<stem>.flo`` (the flow from frame ``<stem>`` to the next frame) becomes
``OUT_ROOT/<video>/<stem>.jpg`` rendered with :func:`vos_common.io.flow_to_color` (Middlebury
wheel with 55 hues, normalised by the picture's maximum magnitude), i.e. the ``flows/`` folder
of OAST's layout. OAST needs a picture for every frame it predicts: if your ``.flo`` files stop at
the second-to-last frame, compute the missing ones with ``python -m vos_common.flow --layout oast``.
Files are written atomically; existing pictures are kept unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm
from vos_common.errors import VOSDataError, cli_errors
from vos_common.io import flow_to_color, read_flo
from vos_common.io.atomic import atomic_path

__all__ = ["render_flow_pictures", "main"]


def render_flow_pictures(
    flo_root: str | Path,
    out_root: str | Path,
    quality: int = 95,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Render every ``<video>/<stem>.flo`` under ``flo_root``; returns the pictures written."""
    flo_root, out_root = Path(flo_root), Path(out_root)
    if not flo_root.is_dir():
        raise VOSDataError(flo_root, "folder of .flo files not found")
    files = sorted(flo_root.rglob("*.flo"))
    if not files:
        raise VOSDataError(flo_root, "no .flo files found")
    written = 0
    for path in tqdm(files, desc="flow pictures", unit="file", disable=not progress):
        target = out_root / path.relative_to(flo_root).with_suffix(".jpg")
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(flow_to_color(read_flo(path)))
        with atomic_path(target) as tmp:
            picture.save(tmp, format="JPEG", quality=quality)
        written += 1
    return written


@cli_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m oast.data.flow_pictures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("flo_root", help="folder of <video>/<stem>.flo files")
    parser.add_argument("out_root", help="flows/ folder to write <video>/<stem>.jpg into")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    parser.add_argument("--overwrite", action="store_true", help="re-render existing pictures")
    args = parser.parse_args(argv)
    n = render_flow_pictures(args.flo_root, args.out_root, args.quality, args.overwrite)
    print(f"wrote {n} flow pictures under {args.out_root}", file=sys.stderr)


if __name__ == "__main__":
    main()
