"""Extra training videos drawn from the synthetic generator (a from-scratch aid, opt-in).

A tiny CPU training run of an STM-family method on the synthetic benchmark sees only the
benchmark's few train videos and overfits them. :func:`write_training_videos` renders
``count`` further videos of :mod:`vos_common.synth` (its own seed, so none of them is a video
of the benchmark being evaluated as long as the seeds differ) into a DAVIS-like folder pair
``<out>/JPEGImages/<video>/%05d.jpg`` + ``<out>/Annotations/<video>/%05d.png`` (indexed label
maps), which the methods' ordinary folder loaders read. The folder is reused when it already
holds the same videos (``synthetic.json`` records the parameters), so a resumed run does not
render again.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

__all__ = ["write_training_videos"]

RECORD = "synthetic.json"


def write_training_videos(
    out: str | os.PathLike,
    count: int,
    seed: int = 1000,
    size: tuple[int, int] = (64, 96),
    frames: int = 10,
    num_objects: tuple[int, int] = (1, 2),
    prefix: str = "train",
) -> tuple[Path, Path]:
    """Render ``count`` synthetic videos into ``out``; returns ``(image_root, mask_root)``.

    Videos are ``SynthConfig(height, width, frames, num_objects, seed, late_objects=0,
    name_prefix=prefix)`` numbers ``0 .. count-1`` (frame 0 always holds every object).
    """
    from vos_common.io import write_label_map
    from vos_common.io.frames import write_frame
    from vos_common.synth import LazyVideos, SynthConfig

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    config = SynthConfig(
        height=int(size[0]),
        width=int(size[1]),
        frames=int(frames),
        num_objects=(int(num_objects[0]), int(num_objects[1])),
        seed=int(seed),
        late_objects=0,
        name_prefix=prefix,
    )
    out = Path(out)
    images, masks = out / "JPEGImages", out / "Annotations"
    record = {"config": asdict(config), "count": count}
    if (out / RECORD).is_file() and json.loads((out / RECORD).read_text()) == json.loads(
        json.dumps(record)
    ):
        return images, masks
    shutil.rmtree(out, ignore_errors=True)
    for video in LazyVideos(config, count):
        for t in range(len(video)):
            write_frame(images / video.name / f"{t:05d}.jpg", video.frames[t], config.jpeg_quality)
            write_label_map(masks / video.name / f"{t:05d}.png", video.masks[t])
    (out / RECORD).write_text(json.dumps(record, indent=2))
    return images, masks
