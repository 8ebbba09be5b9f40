"""The embedded synthetic benchmark: seeded videos of textured, deforming objects over a moving,
textured background, with exact instance masks and exact forward/backward optical flow, and
writers for every dataset layout vos-suite reads.

    >>> from vos_common.synth import SynthConfig, generate_video
    >>> video = generate_video(SynthConfig(height=96, width=160, frames=12), index=0)
    >>> video.frames.shape, video.masks.shape, video.flow("forward", 1).shape
    ((12, 96, 160, 3), (12, 96, 160), (12, 96, 160, 2))

Command line: ``python -m vos_common.synth --help``. Parameters and layouts:
``packages/common/docs/synth.md``.
"""

from vos_common.synth.config import SynthConfig
from vos_common.synth.video import FLOW_GAPS, LazyVideos, SynthVideo, generate_video, generate_videos
from vos_common.synth.writers import FORMATS, WRITERS, WriteSummary, write_benchmark

__all__ = [
    "FLOW_GAPS", "FORMATS", "WRITERS", "LazyVideos", "SynthConfig", "SynthVideo", "WriteSummary",
    "generate_video", "generate_videos", "write_benchmark",
]
