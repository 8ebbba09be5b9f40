"""Test-time encoders: the official load procedure of ``make_encoder`` (spec 2.1, 2.4).

``load → modify → one train-mode forward of zeros (1×3×256×256) → eval``: build the trunk
(reflect padding for CRW), load the official file through its declared key map (strictly),
with stride 1 on every conv of layer3/layer4 (no dilation) and ``conv1 … layer3`` kept, then
let BatchNorm refresh its running statistics once on a zero image, as the original does when
it measures the output stride. The refresh can be switched off (``refresh_bn=False``) to study
its effect; the official numbers need it.

The original loads into the full network and removes layer4/fc afterwards; loading the same
tensors straight into the cut trunk gives the same state (the removed parts' keys are ignored
by :meth:`vos_common.backbones.ResNetBackbone.load_pretrained`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from vos_common.backbones import ResNetBackbone
from vos_common.checkpoint import LoadReport, load_state_dict_strict

from sfc.model.checkpoints import encoder_spec, find_checkpoint
from sfc.model.resnet import build_trunk, refresh_batchnorm

FEATURE_STRIDE = 8
TEST_LAST_LAYER = "layer3"


@dataclass
class Encoder:
    """A loaded test-time trunk (torchvision names) and where its weights came from."""

    model_type: str
    trunk: ResNetBackbone
    checkpoint: Path | None
    report: LoadReport | None

    @property
    def channels(self) -> int:
        return self.trunk.out_channels[-1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features ``(N, C, ceil(H/8), ceil(W/8))`` of normalised frames ``(N, 3, H, W)``."""
        return self.trunk(x)[-1]


def _finish(
    model_type: str,
    trunk: ResNetBackbone,
    path: Path | None,
    report: LoadReport | None,
    refresh_bn: bool,
) -> Encoder:
    if refresh_bn:
        refresh_batchnorm(trunk)
    trunk.eval()
    trunk.requires_grad_(False)
    return Encoder(model_type, trunk, path, report)


def make_encoder(
    model_type: str,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    *,
    refresh_bn: bool = True,
    last_layer: str = TEST_LAST_LAYER,
    device: str | torch.device = "cpu",
    seed: int | None = None,
) -> Encoder:
    """Build the test-time encoder of ``model_type`` from its official checkpoint file.

    ``checkpoint`` overrides the official file name under ``checkpoint_dir`` (default
    ``./checkpoints``); ``random18`` / ``random50`` need no file (``seed`` makes them
    reproducible).
    """
    spec = encoder_spec(model_type)
    if not spec.needs_file:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            trunk = build_trunk(spec.arch, last_layer, reflect=spec.reflect_padding)
        return _finish(model_type, trunk.to(device), None, None, refresh_bn)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
    else:
        path = find_checkpoint(
            model_type, checkpoint_dir if checkpoint_dir is not None else "./checkpoints"
        )
    trunk = build_trunk(spec.arch, last_layer, reflect=spec.reflect_padding)
    report = trunk.load_pretrained(path, key_map=spec.key_map, key=spec.container)
    return _finish(model_type, trunk.to(device), path, report, refresh_bn)


def encoder_from_state(
    model_type: str,
    state: Mapping[str, torch.Tensor],
    *,
    refresh_bn: bool = True,
    last_layer: str = TEST_LAST_LAYER,
) -> Encoder:
    """Same procedure from an in-memory container state (e.g. a network just trained)."""
    spec = encoder_spec(model_type)
    trunk = build_trunk(spec.arch, last_layer, reflect=spec.reflect_padding)
    mapped = spec.key_map.apply(state).state_dict if spec.key_map is not None else dict(state)
    own = trunk.state_dict()
    mapped = {k: v for k, v in mapped.items() if k in own or not k.startswith(("layer4.", "fc."))}
    load_state_dict_strict(trunk, mapped, "<state in memory>")
    return _finish(model_type, trunk, None, None, refresh_bn)
