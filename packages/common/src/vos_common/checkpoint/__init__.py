"""Checkpoints: safe loading of the published containers, declared key maps, strict loading
with one readable error, atomic saving, and a registry of known official files.

    from vos_common.checkpoint import KEY_MAPS, load_weights
    load_weights(backbone, "moco_v1_200ep_pretrain.pth.tar", key_map=KEY_MAPS["moco_v1_encoder_q"])

CLI: ``python -m vos_common.checkpoint {identify,inspect,list} ...``. Needs torch.
"""

from vos_common.checkpoint.io import (
    Extracted,
    extract_state_dict,
    is_state_dict,
    load_checkpoint,
    save_checkpoint,
    save_state_dict,
    state_dict_sha256,
)
from vos_common.checkpoint.keymap import DROP, KEY_MAPS, KeyMap, KeyMapResult, KeyRule
from vos_common.checkpoint.loading import (
    LoadReport,
    check_state_dict,
    load_state_dict_strict,
    load_weights,
)
from vos_common.checkpoint.registry import (
    DEFAULT_REGISTRY,
    Identification,
    KnownCheckpoint,
    Registry,
    file_digests,
    identify,
    load_registry,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "DROP",
    "KEY_MAPS",
    "Extracted",
    "Identification",
    "KeyMap",
    "KeyMapResult",
    "KeyRule",
    "KnownCheckpoint",
    "LoadReport",
    "Registry",
    "check_state_dict",
    "extract_state_dict",
    "file_digests",
    "identify",
    "is_state_dict",
    "load_checkpoint",
    "load_registry",
    "load_state_dict_strict",
    "load_weights",
    "save_checkpoint",
    "save_state_dict",
    "state_dict_sha256",
]
