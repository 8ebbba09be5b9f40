"""Dense-CRF orchestration for RCF on top of :mod:`vos_common.crf`.

* :class:`TrainingCRF` - stage 2.1 targets (and the pseudo-label CRFs): per image
  ``q = uint8(clip(p 255 / crf_scale))``, max-normalised unary, bilateral-only kernel (sxy 60,
  srgb 5, compat 5), 50 mean-field iterations, MAP label. Backends: vos_common's torch CRF
  (GPU or CPU, default) or pydensecrf (CPU reference, numerically different from the original's
  CUDA CRF, spec pitfall 17).
* :func:`postprocess_folder` - RCF's 480p post-processing of exported PNGs (spec §5.3), over a
  process pool, writing ``<export dir>_crf``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from vos_common.crf.params import CRFParams
from vos_common.errors import VOSDataError
from vos_common.io import atomic_save

from rcf.config import CRFHeadConfig

POSTPROCESS_SCALE = 0.8


def crf_params(cfg: CRFHeadConfig) -> CRFParams:
    return CRFParams(
        iterations=cfg.refine_iters,
        bilateral_sxy=cfg.sxy,
        bilateral_srgb=cfg.srgb,
        bilateral_compat=cfg.scomp,
        gaussian_sxy=cfg.sxy_smooth if cfg.sxy_smooth > 0 else 3.0,
        gaussian_compat=cfg.scomp_smooth,
    )


class TrainingCRF:
    """``crf(images_uint8 [N, H, W, 3], probabilities [N, H, W]) -> binary maps [N, H, W]``."""

    def __init__(self, cfg: CRFHeadConfig, scale: float | None = None):
        self.cfg = cfg
        self.scale = cfg.crf_scale if scale is None else scale
        self.params = crf_params(cfg)
        if cfg.backend == "pydensecrf":
            from vos_common.crf.pydense import require_pydensecrf

            require_pydensecrf()

    def __call__(self, images: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
        if self.cfg.backend == "pydensecrf":
            from vos_common.crf.pydense import rcf_crf_mask

            imgs = images.cpu().numpy()
            probs = probabilities.detach().float().cpu().numpy()
            maps = [
                rcf_crf_mask(imgs[i], probs[i], scale=self.scale, params=self.params)
                for i in range(len(imgs))
            ]
            return torch.from_numpy(np.stack(maps)).float().to(probabilities.device)
        from vos_common.crf.torch_crf import rcf_crf_target

        return rcf_crf_target(
            images,
            probabilities.detach(),
            scale=self.scale,
            params=self.params,
            method=self.cfg.method,
            device=probabilities.device,
        )


def read_export_channel0(
    path: str | os.PathLike, size: tuple[int, int] | None = None
) -> np.ndarray:
    """An exported PNG's channel 0 as uint8, resized to ``size = (H, W)`` with Pillow's default
    filter (bicubic for RGB / L images), as RCF's CRF tool, MAA and semantic constraints do."""
    try:
        with Image.open(path) as image:
            image.load()
            if size is not None and (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]))
            array = np.asarray(image)
    except FileNotFoundError:
        raise VOSDataError(path, "exported mask does not exist") from None
    except (OSError, ValueError) as err:
        raise VOSDataError(path, f"cannot read exported mask ({err})") from None
    return array[..., 0] if array.ndim == 3 else array


@dataclass
class PostprocessJob:
    image: Path
    mask: Path
    output: Path


def _postprocess_one(job: PostprocessJob, params: CRFParams, scale: float) -> str:
    from vos_common.crf.pydense import rcf_crf_mask
    from vos_common.io import read_frame

    image = np.array(read_frame(job.image))  # writable: pydensecrf refuses read-only buffers
    mask = read_export_channel0(job.mask, image.shape[:2])
    labels = rcf_crf_mask(image, mask, scale=scale, params=params)
    out = (labels > 0).astype(np.uint8) * 255
    atomic_save(job.output, lambda tmp: Image.fromarray(out, "L").save(tmp, format="PNG"))
    return str(job.output)


def _run_job(args) -> str:
    job, params, scale = args
    return _postprocess_one(job, params, scale)


def postprocess_jobs(
    jobs: list[PostprocessJob],
    params: CRFParams,
    scale: float = POSTPROCESS_SCALE,
    workers: int = 1,
    progress: bool = True,
) -> list[str]:
    """Run RCF's CPU CRF on every job (pydensecrf), in ``workers`` spawned processes when > 1."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm
    from vos_common.crf.pydense import require_pydensecrf

    require_pydensecrf()
    bar = tqdm(total=len(jobs), desc="CRF post-processing", unit="frame", disable=not progress)
    done = []
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                done.append(_postprocess_one(job, params, scale))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)), mp_context=context
            ) as pool:
                for result in pool.map(_run_job, [(j, params, scale) for j in jobs], chunksize=4):
                    done.append(result)
                    bar.update()
    finally:
        bar.close()
    return done
