"""OpenCV's DIS optical flow (Kroeger et al., 2016): the offline default estimator.

DIS needs no weights and no GPU, which is why it is the default for a user's own video.

Default settings (:data:`DEFAULT_DIS_SETTINGS`): the MEDIUM preset with ``finest_scale=0``,
i.e. the patch search runs down to full resolution instead of stopping at half resolution
(MEDIUM's own ``finest_scale=1``), keeping MEDIUM's variational refinement (5 iterations).
Chosen by end-point error against the exact flow of ``vos_common.synth`` videos (pixels
visible in both frames; mean EPE in pixels, 4-8 videos x 5 frame pairs per size, 2 cores):

============================  ===========  ===========  ===========  ==============
settings                      96x160       240x427      480x854      ms/pair 480x854
============================  ===========  ===========  ===========  ==============
zero flow (baseline)          1.07         2.68         4.87         --
ULTRAFAST preset              0.45         0.49         0.58         3
FAST preset                   0.39         0.43         0.52         6
MEDIUM preset                 0.21         0.20         0.38         19
MEDIUM, no variational ref.   0.26         0.23         0.39         11
MEDIUM, finest_scale=0        0.12         0.13         0.34         75
  ... + 10 variational iter.  0.12         0.13         0.33         92
  ... + patch stride 2        0.13         0.13         0.32         131
============================  ===========  ===========  ===========  ==============

Full-resolution search cuts the mean EPE by 10-40 % over MEDIUM (most at the small sizes,
where half resolution loses the finest texture) for 4x the time, still under 0.1 s per 480p
pair; further refinements gain at most 6 % for 1.2-1.8x more time. The variational
refinement pays off (up to 35 % more error without it). The median EPE is 0.04-0.05 px for
all MEDIUM variants. At 480x854 the mean is dominated by one object entering at about 50 px
per frame, which no DIS setting tracks (EPE about 50 px on it, below 0.12 px on everything
else of those frames): use RAFT for videos with such fast motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vos_common.flow.base import FlowEstimator, check_frame_pair

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class DISSettings:
    """A DIS preset plus optional overrides of its parameters (``None`` keeps the preset's).

    Attributes:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        finest_scale: pyramid level where the search stops (0 = full resolution).
        patch_size / patch_stride: patch side and the step between patches, in pixels.
        gradient_descent_iterations: inverse-search iterations per patch and level.
        variational_refinement_iterations: iterations of the variational refinement
            (0 switches it off).
    """

    preset: str = "medium"
    finest_scale: int | None = None
    patch_size: int | None = None
    patch_stride: int | None = None
    gradient_descent_iterations: int | None = None
    variational_refinement_iterations: int | None = None


DEFAULT_DIS_SETTINGS = DISSettings(preset="medium", finest_scale=0)  # see the module doc


class DISFlowEstimator(FlowEstimator):
    """DIS flow between two RGB uint8 frames ``(H, W, 3)`` -> float32 ``(H, W, 2)`` (u, v).

    The frames are converted to grey (DIS works on one channel). One OpenCV object is kept
    and reused, so an instance is not meant to be shared between threads.
    """

    name = "dis"

    def __init__(self, settings: DISSettings = DEFAULT_DIS_SETTINGS):
        if settings.preset not in DIS_PRESETS:
            raise ValueError(
                f"unknown DIS preset {settings.preset!r}; choose from {sorted(DIS_PRESETS)}"
            )
        self.settings = settings
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[settings.preset])
        overrides = {
            dis.setFinestScale: settings.finest_scale,
            dis.setPatchSize: settings.patch_size,
            dis.setPatchStride: settings.patch_stride,
            dis.setGradientDescentIterations: settings.gradient_descent_iterations,
            dis.setVariationalRefinementIterations: settings.variational_refinement_iterations,
        }
        for setter, value in overrides.items():
            if value is not None:
                setter(int(value))
        self._dis = dis

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        check_frame_pair(frame_a, frame_b)
        grey_a = cv2.cvtColor(np.ascontiguousarray(frame_a), cv2.COLOR_RGB2GRAY)
        grey_b = cv2.cvtColor(np.ascontiguousarray(frame_b), cv2.COLOR_RGB2GRAY)
        flow = self._dis.calc(grey_a, grey_b, None)
        return np.ascontiguousarray(flow, dtype=np.float32)

    def __repr__(self) -> str:
        return f"DISFlowEstimator({self.settings})"
