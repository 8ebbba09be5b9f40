"""RCF's configuration: the original YAML keys, typed, with ``base`` inheritance and ``--opts``.

Every config of the original repository (``configs/rcf``, ``configs/rcf_stv2``,
``configs/rcf_fbms59``, ``configs/amd``) is shipped inside this package under the same relative
name, e.g. ``configs/rcf/rcf_stage1.yaml``; :func:`resolve_config_path` finds it from any
working directory (a path that exists on disk wins). Files inherit with ``base:`` (the
original's ``base_config:``), and ``--opts key value`` pairs use the original dotted key
names (``object_channel 2``, ``test_dataset_kwargs.split val.txt``, ``export_all_seg false``).
Loading goes through :mod:`vos_common.config`, which refuses unknown keys and wrong types with
one line naming the file and the key.

Keys added by vos-suite (all optional, defaults keep the released behaviour) are marked
"[vos-suite]" below.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vos_common.config import config_to_dict, format_config, load_config
from vos_common.errors import VOSDataError

CONFIG_PACKAGE_DIR = "configs"


@dataclass
class NormConfig:
    type: str = "SyncBN"
    requires_grad: bool = True


@dataclass
class LossDecodeConfig:
    """Kept for key compatibility: the segmentation heads of RCF are not trained with it."""

    type: str = "CrossEntropyLoss"
    use_sigmoid: bool = False
    loss_weight: float = 1.0


@dataclass
class BackboneConfig:
    type: str = "ResNet"
    depth: int = 50
    num_stages: int = 4
    strides: list[int] = field(default_factory=lambda: [1, 2, 1, 1])
    dilations: list[int] = field(default_factory=lambda: [1, 1, 2, 4])
    out_indices: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    norm_cfg: NormConfig = field(default_factory=NormConfig)
    norm_eval: bool = False
    style: str = "pytorch"
    contract_dilation: bool = True
    create_ema: bool = False
    base_channels: int = 64  # [vos-suite] width of layer1 (64 = ResNet-50); 16 in smoke configs
    stem_channels: int | None = None  # [vos-suite] stem width (default: base_channels)


@dataclass
class HeadConfig:
    """One head: ``FCNHead`` (segmentation, residual, AMD flow net) or the flow-aggregation head."""

    type: str = "FCNHead"
    # FCNHead
    in_channels: int | list[int] | None = None
    channels: int = 256
    in_index: int | list[int] = -1
    input_transform: str | None = None
    num_convs: int = 2
    kernel_size: int = 3
    concat_input: bool = False
    dilation: int = 1
    dropout_ratio: float = 0.1
    num_classes: int = 1
    norm_cfg: NormConfig = field(default_factory=NormConfig)
    align_corners: bool = False
    loss_decode: LossDecodeConfig = field(default_factory=LossDecodeConfig)
    create_ema: bool = False
    # FlowAggregationHeadWithResidual (and AMD's flow net)
    ssim_sz: int = 1
    create_flownet: bool = False
    mask_layer: int = 4
    flow_feat_before_agg_kernel_size: int = 3
    num_flow_feat_channels: int = 64
    mask_size: list[int] = field(default_factory=lambda: [96, 96])
    norm_flow: bool = False
    clamp_flow_t: float | None = None
    free_residual: bool = False
    free_residual_with_affine: bool = False
    free_scale: bool = False
    outlier_robust_loss: bool = False
    eps: float = 0.01
    q: float = 0.4
    allow_residual_resize: bool = False
    residual_adjustment_scale: float = 10.0
    pred_div_coeff: float = 10.0
    # AMD flow network
    flow_model_path: str = ""
    freeze_flownet: bool = False
    load_flownet: bool = False
    flownet_input_size: list[int] = field(default_factory=lambda: [384, 640])  # [vos-suite]


@dataclass
class CompactnessHeadConfig:
    type: str = "CompactnessHead"
    compact_channel: int = 0


@dataclass
class CRFHeadConfig:
    """The stage-2.1 dense CRF (defaults: RCF's bilateral-only CRF)."""

    type: str = "CRFHead"
    srgb: float = 5.0
    scomp: float = 5.0
    sxy: float = 60.0
    scomp_smooth: float = 0.0
    sxy_smooth: float = 0.0
    refine_iters: int = 50
    crf_scale: float = 0.7
    # [vos-suite] "torch" (vos_common's torch CRF, GPU or CPU) or "pydensecrf" (CPU reference)
    backend: str = "torch"
    method: str = "auto"  # [vos-suite] torch CRF: exact / grid / auto


@dataclass
class ModelConfig:
    """``model_kwargs``: the model's structure, loss weights and switches."""

    backbone2: BackboneConfig = field(default_factory=BackboneConfig)
    decode_head: HeadConfig = field(
        default_factory=lambda: HeadConfig(type="FlowAggregationHeadWithResidual")
    )
    decode_head2: HeadConfig = field(default_factory=HeadConfig)
    decode_head3: HeadConfig | None = None
    compactness_head: CompactnessHeadConfig | None = None
    crf_head: CRFHeadConfig | None = None
    crf_use_ema: bool = False
    ema_m: float = 0.999
    w_seg: float = 2.0
    w_sharpen: float = 0.0
    t_sharpen: float = 0.25
    w_entropy: float = 0.0
    w_compactness: float = 0.0
    w_pl: float = 0.0
    pl_pos_weight: float = 1.0
    pl_neg_weight: float = 1.0
    pl_mask_pos_th: float = 0.35
    w_crf: float = 0.0
    crf_pos_weight: float = 1.0
    crf_neg_weight: float = 1.0
    crf_mask_pos_th: float = -1.0
    mask_layer: int = 1
    align_corners: bool = False
    mask_size: list[int] = field(default_factory=lambda: [48, 48])
    log_interval: int = 50
    freeze_backbone: bool = False
    object_aware_sharpening: bool = False
    separate_residual: bool = False
    allow_mask_resize: bool = False
    # [vos-suite] corrections, all off by default (released behaviour)
    entropy_corrected: bool = False  # proper entropy -sum p log p (issue #4)
    ema_teacher_eval: bool = False  # run the EMA teacher in eval mode during training
    residual_bw_swap_frames: bool = False  # backward residual from the (frame 2, frame 1) order


@dataclass
class TransformConfig:
    strong_aug: bool = False
    has_flow: bool = True
    has_pl: bool = False
    scale_flow: bool = False  # the original's switch: rescale flow values with the image
    # [vos-suite] sizes (defaults = the original's 400-short-side / 384 crop / 0.98 eval ratio)
    img_scale: list[int] = field(default_factory=lambda: [9999, 400])
    ratio_range: list[float] | None = None  # default: [0.96, 1.0] train, [0.98, 0.98] eval
    crop_size: list[int] = field(default_factory=lambda: [384, 384])
    negate_flipped_flow_u: bool = False  # [vos-suite] fix: negate u when flipping horizontally


@dataclass
class DatasetKwargs:
    frame_num: int = 2
    load_flow: bool = False
    load_pl: bool = False
    flow_suffix: str = ""
    split: str = "trainval.txt"
    zero_ann: bool = False
    pl_root: str | None = None


@dataclass
class LRSchedulerKwargs:
    power: float = 0.9
    min_lr: float = 1e-6


@dataclass
class TrainerKwargs:
    check_val_every_n_epoch: int = 1
    amp_backend: str = "native"
    precision: int = 32
    benchmark: bool = False


@dataclass
class RCFConfig:
    """A whole run (the original's flat top-level keys)."""

    batch_size: int = 8
    epochs: int = 200
    override_max_epochs: int | None = None
    learning_rate: float = 1e-4
    optimizer: str = "Adam"
    weight_decay: float = 0.0
    workers: int = 4
    checkpoints_dir: str = "saved/saved_rcf"
    preferred_linalg_library: str | None = None
    pretrained_model: str | None = None
    pretrained_model_backbone_only: bool = False
    model_cls: str = "RCFModel"
    eval_pos_th: float = 0.35
    disable_wandb: bool = True
    allow_overwriting_checkpoints_dir: bool = False
    train_transform_kwargs: TransformConfig = field(default_factory=TransformConfig)
    test_transform_kwargs: TransformConfig = field(default_factory=TransformConfig)
    loss_log_interval: int = 100
    object_channel: int | None = None
    data_path: str = "./data/data_davis"
    test_data_path: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    train_dataset_kwargs: DatasetKwargs = field(default_factory=DatasetKwargs)
    test_dataset_kwargs: DatasetKwargs = field(
        default_factory=lambda: DatasetKwargs(frame_num=1, split="val.txt")
    )
    lr_scheduler_kwargs: LRSchedulerKwargs = field(default_factory=LRSchedulerKwargs)
    set_object_channel_after_epoch: int = 1
    trainer_kwargs: TrainerKwargs = field(default_factory=TrainerKwargs)
    model_kwargs: ModelConfig = field(default_factory=ModelConfig)
    eval_save: bool = True
    eval_export: bool = True
    export_all_seg: bool = False
    saved_eval_dir_name: str = "saved_eval"
    saved_eval_export_dir_name: str = "saved_eval_export"
    eval_on_ema: bool = False
    drop_head_decode_head2: bool = False
    # [vos-suite] run control
    seed: int = 0
    max_steps: int | None = None  # stop after this many optimizer steps (schedule unchanged)
    tensorboard: bool = False
    device: str | None = None  # default: the accelerator's device


# ------------------------------------------------------------------------------------ paths
def shipped_config_root() -> Path:
    """The folder holding the shipped ``configs/`` tree (inside the installed package)."""
    return Path(str(resources.files("rcf") / CONFIG_PACKAGE_DIR))


def resolve_config_path(name: str | os.PathLike) -> Path:
    """A config file from a path on disk, or from its relative name in the shipped tree.

    ``configs/rcf/rcf_stage1.yaml``, ``rcf/rcf_stage1.yaml`` and ``rcf/rcf_stage1`` all name the
    shipped copy; an existing file path is used as is.
    """
    path = Path(os.path.expanduser(str(name)))
    if path.is_file():
        return path.resolve()
    root = shipped_config_root()
    text = str(name).replace("\\", "/")
    candidates = []
    parts = [p for p in text.split("/") if p and p != "."]
    for start in range(len(parts)):
        rel = "/".join(parts[start:])
        if rel.startswith(CONFIG_PACKAGE_DIR + "/"):
            rel = rel[len(CONFIG_PACKAGE_DIR) + 1 :]
        candidates.append(rel)
    for rel in candidates:
        for suffix in ("", ".yaml", ".yml"):
            candidate = root / (rel + suffix)
            if candidate.is_file():
                return candidate
        if rel.endswith(".yml") and (root / (rel[:-4] + ".yaml")).is_file():
            return root / (rel[:-4] + ".yaml")
    raise VOSDataError(
        name,
        "config not found (neither a file nor a shipped config name; "
        f"shipped configs are under {root})",
    )


def list_shipped_configs() -> list[str]:
    root = shipped_config_root()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml"))


def load_rcf_config(name: str | os.PathLike, opts: list[str] | None = None) -> RCFConfig:
    """Load a config by path or shipped name, apply ``--opts`` pairs, validate."""
    path = resolve_config_path(name)
    config = load_config(path, RCFConfig, opts)
    validate_config(config, path)
    return config


def validate_config(config: RCFConfig, path: str | os.PathLike | None = None) -> None:
    """Cross-field checks that the type system cannot express (one-line errors)."""
    model = config.model_kwargs
    if config.model_cls not in ("RCFModel", "AMDModel"):
        raise VOSDataError(
            path, f"model_cls: unknown model {config.model_cls!r} (RCFModel or AMDModel)"
        )
    if config.optimizer != "Adam":
        raise VOSDataError(path, f"optimizer: only Adam is used by RCF, got {config.optimizer!r}")
    if config.batch_size < 1:
        raise VOSDataError(path, "batch_size must be at least 1")
    if config.object_channel is not None and not 0 <= config.object_channel < model.mask_layer:
        raise VOSDataError(
            path,
            f"object_channel {config.object_channel} is out of range for "
            f"{model.mask_layer} slots (0..{model.mask_layer - 1})",
        )
    if model.w_sharpen != 0:
        raise VOSDataError(
            path,
            "model_kwargs.w_sharpen: the sharpening loss is off in every RCF "
            "config and not implemented; keep it 0",
        )
    if model.crf_head is not None and model.crf_head.backend not in ("torch", "pydensecrf"):
        raise VOSDataError(
            path,
            f"model_kwargs.crf_head.backend must be torch or pydensecrf, "
            f"got {model.crf_head.backend!r}",
        )


def config_dict(config: RCFConfig) -> dict:
    return config_to_dict(config)


def config_text(config: RCFConfig) -> str:
    return format_config(config)


def replace(config, **changes):
    return dataclasses.replace(config, **changes)
