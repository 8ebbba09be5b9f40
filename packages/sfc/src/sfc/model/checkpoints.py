"""The official checkpoint of every SFC encoder: file names, containers and key maps.

Each ``model_type`` of the original ``make_encoder`` (spec 2.4) is declared as data: the
architecture, the entry of :mod:`vos_common.checkpoint`'s registry of official files (which
gives the file name looked up under the checkpoint folder), the container entry holding the
state, and the declared key map. Loading goes through :func:`vos_common.checkpoint.load_weights`
(``weights_only=True`` with ``argparse.Namespace`` allowed, strict: every trunk tensor must
come from the file, one error line names the file and lists missing / unexpected / mismatched
keys) — where the original's ``partial_load`` silently kept random tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vos_common.checkpoint import DROP, KEY_MAPS, KeyMap, load_registry
from vos_common.errors import VOSDataError

# CRW: strip 'encoder.model.', drop the head. The original also renames legacy keys of convs
# once wrapped with a padding module ('conv1.1.weight') but keeps the prefix on them, so those
# convs stay random there; here they load (README, "Deviations").
CRW_KEY_MAP = KeyMap(
    [
        (r"re:encoder\.model\.(.*conv[12])\.1\.weight$", r"\1.weight"),
        ("encoder.model.", ""),
        ("re:.*", DROP),
    ],
    "crw_encoder (+ legacy conv names)",
)


@dataclass(frozen=True)
class EncoderSpec:
    """One ``model_type`` of the original test script."""

    model_type: str
    arch: str
    registry: tuple[str, ...] = ()  # entries of vos_common's known_checkpoints.yaml, in order
    container: str | None = None  # None: bare state_dict
    key_map: KeyMap | None = None
    reflect_padding: bool = False
    note: str = ""

    @property
    def needs_file(self) -> bool:
        return bool(self.registry)

    @property
    def files(self) -> tuple[str, ...]:
        """Official file names, in the order they are looked for."""
        known = _registry()
        return tuple(known[name].file_name for name in self.registry)


@lru_cache(maxsize=1)
def _registry():
    return load_registry()


ENCODERS: dict[str, EncoderSpec] = {
    spec.model_type: spec
    for spec in (
        EncoderSpec(
            "fine-grained",
            "resnet18",
            ("sfc_fine_grained",),
            "model",
            KEY_MAPS["sfc_online_encoder"],
            note="SFC's fine-grained correspondence network (online encoder of train.py)",
        ),
        EncoderSpec(
            "crw",
            "resnet18",
            ("crw_videowalk",),
            "model",
            CRW_KEY_MAP,
            reflect_padding=True,
            note="Contrastive Random Walk (reflect padding)",
        ),
        EncoderSpec(
            "mocov1",
            "resnet50",
            ("moco_v1_r50_200ep",),
            "state_dict",
            KEY_MAPS["moco_v1_encoder_q"],
            note="MoCo v1, 200 epochs (query encoder)",
        ),
        EncoderSpec(
            "simsiam",
            "resnet50",
            ("simsiam_r50",),
            "state_dict",
            KEY_MAPS["simsiam_encoder"],
            note="SimSiam, 100 epochs (encoder)",
        ),
        EncoderSpec(
            "pixpro",
            "resnet50",
            ("pixpro_r50_400ep",),
            "model",
            KEY_MAPS["pixpro_encoder"],
            note="PixPro base, 400 epochs (online encoder)",
        ),
        EncoderSpec(
            "vfs",
            "resnet50",
            ("vfs_r50_k400",),
            "state_dict",
            KEY_MAPS["drop_fc"],
            note="VFS, Kinetics-400 (README of commit f8dc7ef; torchvision names)",
        ),
        EncoderSpec(
            "imagenet18",
            "resnet18",
            ("torchvision_resnet18_v1_legacy", "torchvision_resnet18_imagenet1k_v1"),
            None,
            KEY_MAPS["drop_fc"],
            note="torchvision ImageNet-1k V1 weights",
        ),
        EncoderSpec(
            "imagenet50",
            "resnet50",
            ("torchvision_resnet50_v1_legacy", "torchvision_resnet50_imagenet1k_v1"),
            None,
            KEY_MAPS["drop_fc"],
            note="torchvision ImageNet-1k V1 weights",
        ),
        EncoderSpec("random18", "resnet18", note="random initialisation"),
        EncoderSpec("random50", "resnet50", note="random initialisation"),
    )
}
FC_MODEL_TYPES = ("fine-grained", "crw")
SEMANTIC_MODEL_TYPES = ("imagenet18", "imagenet50", "mocov1", "simsiam", "vfs", "pixpro")


def encoder_spec(model_type: str) -> EncoderSpec:
    if model_type not in ENCODERS:
        raise VOSDataError(
            None, f"unknown model type {model_type!r} (expected one of {', '.join(ENCODERS)})"
        )
    return ENCODERS[model_type]


def find_checkpoint(model_type: str, checkpoint_dir: str | os.PathLike) -> Path:
    """The official file of ``model_type`` under ``checkpoint_dir`` (first existing name)."""
    spec = encoder_spec(model_type)
    folder = Path(checkpoint_dir).expanduser()
    for name in spec.files:
        if (folder / name).is_file():
            return folder / name
    raise VOSDataError(
        folder / spec.files[0],
        f"checkpoint file for model type '{model_type}' not found "
        f"(expected {' or '.join(spec.files)} in the checkpoint folder)",
    )
