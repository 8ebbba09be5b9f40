"""Models, datasets and devices from an :class:`~rcf.config.RCFConfig` (shared by the CLIs)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import torch
from vos_common.devices import pick_device
from vos_common.errors import VOSDataError

from rcf.config import RCFConfig

LOG = logging.getLogger("rcf")


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (works under redirection and capture)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(verbose: bool = True) -> logging.Logger:
    if not LOG.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s rcf %(levelname)s: %(message)s", "%H:%M:%S")
        )
        LOG.addHandler(handler)
        LOG.propagate = False
    LOG.setLevel(logging.INFO if verbose else logging.WARNING)
    return LOG


def default_device(requested: str | None = None) -> torch.device:
    return pick_device(requested)


def resolve_object_channel(config: RCFConfig, override: int | None = None) -> int | None:
    """``--test-override-object-channel`` > ``object_channel`` > ``$OBJECT_CHANNEL`` (original)."""
    channel = override if override is not None else config.object_channel
    if channel is None and os.environ.get("OBJECT_CHANNEL", "").strip():
        text = os.environ["OBJECT_CHANNEL"].strip()
        if not text.lstrip("-").isdigit():
            raise VOSDataError(None, f"OBJECT_CHANNEL={text!r} is not an integer")
        channel = int(text)
    slots = config.model_kwargs.mask_layer
    if channel is not None and not 0 <= channel < slots:
        raise VOSDataError(
            None,
            f"object channel {channel} is out of range: the model has {slots} slots "
            f"(0..{slots - 1})",
        )
    return channel


def build_model(config: RCFConfig, object_channel: int | None = None, with_crf: bool = True):
    """The network named by ``model_cls`` (RCFModel or AMDModel)."""
    if config.model_cls == "AMDModel":
        from rcf.model.amd import AMDModel

        return AMDModel(config.model_kwargs)
    from rcf.inference.crf import TrainingCRF
    from rcf.model.rcf_model import RCFModel

    crf = (
        TrainingCRF(config.model_kwargs.crf_head)
        if (with_crf and config.model_kwargs.crf_head)
        else None
    )
    return RCFModel(config.model_kwargs, object_channel=object_channel, crf=crf)


def load_pretrained_into(model, config: RCFConfig, path: str | None):
    from rcf.model.checkpoint import load_pretrained

    if path is None:
        LOG.info("no pretrained_model: training from the initialisation")
        return None
    if "*" in path:
        matches = (
            sorted(Path().glob(path))
            if not os.path.isabs(path)
            else sorted(Path("/").glob(path.lstrip("/")))
        )
        if len(matches) != 1:
            raise VOSDataError(path, f"pattern matches {len(matches)} files (needs exactly one)")
        path = str(matches[0])
    report = load_pretrained(
        model,
        path,
        drop_head_decode_head2=config.drop_head_decode_head2,
        backbone_only=config.pretrained_model_backbone_only,
    )
    LOG.info("%s", report)
    return report


def test_data_root(config: RCFConfig) -> str:
    return config.test_data_path or config.data_path
