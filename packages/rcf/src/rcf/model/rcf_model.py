"""``RCFModel``: backbone, segmentation, residual and flow-aggregation heads (+ EMA teacher).

Attribute names are the ``state_dict`` prefixes of the official checkpoints: ``backbone2``,
``decode_head`` (flow aggregation, training only), ``decode_head2`` (segmentation),
``decode_head3`` (residual, training only) and, in stages 2.x, ``backbone2_ema`` /
``decode_head2_ema``. Spec: ``shared/specs/rcf.md`` sections 2-3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rcf.config import BackboneConfig, HeadConfig, ModelConfig
from rcf.model.backbone import ResNet
from rcf.model.heads import FCNHead, FlowAggregationHead
from rcf.model.losses import asymmetric_squared_loss, compactness_loss, entropy_loss

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CRFFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``crf(images_uint8 [N, H, W, 3], object_probabilities [N, H, W]) -> binary maps [N, H, W]``."""


def build_backbone(cfg: BackboneConfig) -> ResNet:
    if cfg.type != "ResNet":
        raise ValueError(f"unsupported backbone type {cfg.type!r}")
    if cfg.style != "pytorch":
        raise ValueError("only the 'pytorch' ResNet style (stride on the 3x3 conv) is supported")
    return ResNet(
        depth=cfg.depth,
        strides=cfg.strides,
        dilations=cfg.dilations,
        contract_dilation=cfg.contract_dilation,
        out_indices=cfg.out_indices,
        base_channels=cfg.base_channels,
        stem_channels=cfg.stem_channels,
        norm_eval=cfg.norm_eval,
    )


def build_fcn_head(cfg: HeadConfig) -> FCNHead:
    if cfg.type != "FCNHead":
        raise ValueError(f"expected an FCNHead, got {cfg.type!r}")
    if cfg.in_channels is None:
        raise ValueError("FCNHead needs in_channels")
    return FCNHead(
        cfg.in_channels,
        cfg.channels,
        cfg.num_classes,
        in_index=cfg.in_index,
        input_transform=cfg.input_transform,
        num_convs=cfg.num_convs,
        kernel_size=cfg.kernel_size,
        dilation=cfg.dilation,
        dropout_ratio=cfg.dropout_ratio,
        align_corners=cfg.align_corners,
        concat_input=cfg.concat_input,
    )


def build_flow_head(cfg: HeadConfig) -> FlowAggregationHead:
    if cfg.type != "FlowAggregationHeadWithResidual":
        raise ValueError(f"expected FlowAggregationHeadWithResidual, got {cfg.type!r}")
    if cfg.free_scale:
        raise ValueError("decode_head.free_scale is not used by RCF and not supported")
    return FlowAggregationHead(
        mask_layer=cfg.mask_layer,
        num_flow_feat_channels=cfg.num_flow_feat_channels,
        flow_feat_before_agg_kernel_size=cfg.flow_feat_before_agg_kernel_size,
        mask_size=cfg.mask_size,
        clamp_flow_t=cfg.clamp_flow_t,
        norm_flow=cfg.norm_flow,
        free_residual=cfg.free_residual,
        free_residual_with_affine=cfg.free_residual_with_affine,
        allow_residual_resize=cfg.allow_residual_resize,
        residual_adjustment_scale=cfg.residual_adjustment_scale,
        pred_div_coeff=cfg.pred_div_coeff,
        outlier_robust_loss=cfg.outlier_robust_loss,
        eps=cfg.eps,
        q=cfg.q,
    )


class EMACopy:
    """The teacher copy of one sub-network and RCF's update rule.

    ``ema <- m * ema + (1 - m) * student`` for every ``state_dict`` entry, parameters and
    buffers alike, integer counters mixed in float and truncated (vos_common's
    ``ModelEMA(buffers="average")``). Not an ``nn.Module``: the copy itself is registered on
    the model (``backbone2_ema`` / ``decode_head2_ema``) so its keys match the checkpoints.
    """

    def __init__(self, module: nn.Module, momentum: float):
        from vos_common.training.ema import ModelEMA

        self._ema = ModelEMA(module, momentum=momentum, buffers="average")
        self._ema.module.eval()  # as constructed by the original; the training loop's .train() wins

    @property
    def module(self) -> nn.Module:
        return self._ema.module

    def update(self, student: nn.Module) -> None:
        self._ema.update(student)

    @torch.no_grad()
    def copy_from(self, student: nn.Module) -> None:
        self._ema.copy_from(student)


class RCFModel(nn.Module):
    """The RCF network: ``forward_train`` returns losses and intermediates, ``segment`` infers."""

    def __init__(
        self, cfg: ModelConfig, object_channel: int | None = None, crf: CRFFunction | None = None
    ):
        super().__init__()
        self.cfg = cfg
        self.mask_layer = cfg.mask_layer
        self.mask_size = tuple(cfg.mask_size)
        self.align_corners = cfg.align_corners
        self.object_channel = object_channel

        self.backbone2 = build_backbone(cfg.backbone2)
        self._backbone_ema = (
            EMACopy(self.backbone2, cfg.ema_m) if cfg.backbone2.create_ema else None
        )
        self.backbone2_ema = self._backbone_ema.module if self._backbone_ema else None
        self.decode_head = build_flow_head(cfg.decode_head)
        self.decode_head2 = build_fcn_head(cfg.decode_head2)
        self._head_ema = (
            EMACopy(self.decode_head2, cfg.ema_m) if cfg.decode_head2.create_ema else None
        )
        self.decode_head2_ema = self._head_ema.module if self._head_ema else None
        if cfg.decode_head3 is None:
            raise ValueError("RCFModel needs decode_head3 (the residual head)")
        self.decode_head3 = build_fcn_head(cfg.decode_head3)

        if self.decode_head2.num_classes != self.mask_layer:
            raise ValueError(
                f"decode_head2.num_classes ({self.decode_head2.num_classes}) must equal "
                f"mask_layer ({self.mask_layer})"
            )
        if self.decode_head3.num_classes != 4 * self.mask_layer:
            raise ValueError(
                f"decode_head3.num_classes must be 4 x mask_layer = {4 * self.mask_layer}"
            )
        if cfg.freeze_backbone:
            self.backbone2.requires_grad_(False)
        if cfg.w_sharpen != 0:
            raise ValueError("w_sharpen != 0 is not supported")
        if (cfg.w_crf > 0) != (cfg.crf_head is not None):
            raise ValueError("w_crf > 0 and crf_head go together")
        if cfg.crf_use_ema and cfg.w_crf > 0 and self.backbone2_ema is None:
            raise ValueError("crf_use_ema needs create_ema on backbone2 and decode_head2")
        if cfg.compactness_head is not None and cfg.w_compactness == 0:
            raise ValueError("compactness_head is set but w_compactness is 0")
        self.crf = crf
        self.use_ema_for_eval = False
        self.train_iter = 0

    # ------------------------------------------------------------------------------ helpers
    @property
    def has_ema(self) -> bool:
        return self.backbone2_ema is not None and self.decode_head2_ema is not None

    def init_ema_from_main(self) -> None:
        """Set the teacher to the student's weights (a stage-1 checkpoint has no EMA keys)."""
        if self._backbone_ema is not None:
            self._backbone_ema.copy_from(self.backbone2)
        if self._head_ema is not None:
            self._head_ema.copy_from(self.decode_head2)

    def update_ema(self) -> None:
        if self._backbone_ema is not None:
            self._backbone_ema.update(self.backbone2)
        if self._head_ema is not None:
            self._head_ema.update(self.decode_head2)

    def resize(self, x: torch.Tensor, size) -> torch.Tensor:
        return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=self.align_corners)

    def segment_logits(self, images: torch.Tensor, use_ema: bool | None = None) -> torch.Tensor:
        """Slot logits ``[N, C, h, w]`` of normalised images ``[N, 3, H, W]``."""
        use_ema = self.use_ema_for_eval if use_ema is None else use_ema
        if use_ema:
            if not self.has_ema:
                raise ValueError("eval_on_ema needs a model with an EMA teacher (create_ema)")
            return self.decode_head2_ema(self.backbone2_ema(images))
        return self.decode_head2(self.backbone2(images))

    def segment(self, images: torch.Tensor, use_ema: bool | None = None) -> torch.Tensor:
        """Slot probabilities ``[N, C, h, w]`` (softmax over slots); flow is not needed."""
        return F.softmax(self.segment_logits(images, use_ema), dim=1)

    def residuals(
        self, feats: list[torch.Tensor], batch: int, frames: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward raw residuals ``[B, 2C, h', w']`` from the pair's layer-4 maps."""
        last = feats[-1].unflatten(0, (batch, frames))
        c = self.mask_layer
        if self.cfg.separate_residual:
            out = self.decode_head3(last.flatten(1, 2))
            fw, bw = out[:, : 2 * c], out[:, 2 * c :]
            if self.cfg.residual_bw_swap_frames:
                bw = self.decode_head3(last.flip(1).flatten(1, 2))[:, 2 * c :]
            return fw, bw
        fw = self.decode_head3(last.flatten(1, 2))
        bw = self.decode_head3(last.flip(1).flatten(1, 2))
        return fw, bw

    @staticmethod
    def unnormalise_uint8(images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` normalised -> ``[N, H, W, 3]`` uint8 (x255, clamped, truncated)."""
        mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=images.dtype)[
            None, :, None, None
        ]
        std = torch.tensor(IMAGENET_STD, device=images.device, dtype=images.dtype)[
            None, :, None, None
        ]
        rgb = (images * std + mean).permute(0, 2, 3, 1) * 255.0
        return rgb.clamp_(0.0, 255.0).to(torch.uint8)

    # --------------------------------------------------------------------------- training
    def forward_train(
        self,
        imgs: torch.Tensor,
        gt_fw_flows: torch.Tensor,
        gt_bw_flows: torch.Tensor,
        pl_masks: torch.Tensor | None = None,
        crf: CRFFunction | None = None,
        object_channel: int | None = None,
    ) -> dict:
        """One training forward.

        Args:
            imgs: ``[B, 2, 3, H, W]`` normalised frame pairs.
            gt_fw_flows / gt_bw_flows: ``[B, 1, 2, H, W]`` flows in frame pixels (never rescaled).
            pl_masks: ``[B, 2, H, W]`` pseudo-labels in [0, 1] (stage 2.2).
            crf: overrides the model's CRF (stage 2.1), e.g. a fixed stand-in in tests.
        Returns a dict with ``losses`` (``loss_warp_seg``, ``loss_entropy`` / ``loss_compactness``
        / ``loss_pl`` / ``loss_crf``, ``loss``) and the intermediate tensors.
        """
        cfg = self.cfg
        object_channel = self.object_channel if object_channel is None else object_channel
        batch, frames, channels, height, width = imgs.shape
        flow_num = gt_fw_flows.shape[1]
        images = imgs.reshape(batch * frames, channels, height, width)
        feats = self.backbone2(images)
        logits = self.decode_head2(feats)
        if cfg.allow_mask_resize and tuple(logits.shape[-2:]) != self.mask_size:
            logits = self.resize(logits, self.mask_size)
        residual_fw, residual_bw = self.residuals(feats, batch, frames)
        h, w = logits.shape[-2:]
        masks = F.softmax(logits.view(batch, frames, self.mask_layer, h, w), dim=2)

        fw = self.resize(
            gt_fw_flows.reshape(batch * flow_num, *gt_fw_flows.shape[2:]), self.mask_size
        )
        bw = self.resize(
            gt_bw_flows.reshape(batch * flow_num, *gt_bw_flows.shape[2:]), self.mask_size
        )
        fw = fw.view(batch, flow_num, 2, *self.mask_size)
        bw = bw.view(batch, flow_num, 2, *self.mask_size)
        out_fw, out_bw, flow_loss = self.decode_head(masks, fw, bw, residual_fw, residual_bw)

        losses = {"loss_warp_seg": flow_loss["seg"]}
        loss = flow_loss["seg"] * cfg.w_seg
        if cfg.w_entropy > 0:
            losses["loss_entropy"] = entropy_loss(masks, corrected=cfg.entropy_corrected)
            loss = loss + losses["loss_entropy"] * cfg.w_entropy
        if cfg.compactness_head is not None:
            channel = cfg.compactness_head.compact_channel
            if channel == -1:
                channel = object_channel
            if channel is not None:
                losses["loss_compactness"] = compactness_loss(masks, channel)
                loss = loss + losses["loss_compactness"] * cfg.w_compactness
        result = {
            "seg_logits": logits,
            "masks": masks,
            "residual_raw_fw": residual_fw,
            "residual_raw_bw": residual_bw,
            "flows_at_mask_size_unclamped": {"fw": fw, "bw": bw},
            "fw": out_fw.as_dict(),
            "bw": out_bw.as_dict(),
            "flow_loss": flow_loss,
        }
        if cfg.w_pl > 0:
            if object_channel is None:
                raise ValueError("the pseudo-label loss needs object_channel")
            if pl_masks is None:
                raise ValueError("the pseudo-label loss needs pl_masks")
            pl = self.resize(pl_masks, self.mask_size)
            losses["loss_pl"] = asymmetric_squared_loss(
                masks, pl, object_channel, cfg.pl_pos_weight, cfg.pl_neg_weight, cfg.pl_mask_pos_th
            )
            loss = loss + losses["loss_pl"] * cfg.w_pl
        if cfg.w_crf > 0:
            if object_channel is None:
                raise ValueError("the CRF loss needs object_channel")
            crf = crf or self.crf
            if crf is None:
                raise ValueError("the CRF loss needs a CRF (model.crf)")
            if cfg.crf_use_ema:
                teacher_logits = self.teacher_logits(images)
                result["teacher_seg_logits"] = teacher_logits
                source = F.softmax(teacher_logits.view(batch, frames, self.mask_layer, h, w), dim=2)
            else:
                source = masks
            crf_input = self.resize(
                source.detach().flatten(0, 1)[:, object_channel : object_channel + 1],
                images.shape[-2:],
            )[:, 0]
            with torch.no_grad():
                crf_output = crf(self.unnormalise_uint8(images.detach()), crf_input).float()
            result["crf_input"], result["crf_output"] = crf_input, crf_output
            target = self.resize(crf_output.view(batch, frames, height, width), self.mask_size)
            losses["loss_crf"] = asymmetric_squared_loss(
                masks,
                target,
                object_channel,
                cfg.crf_pos_weight,
                cfg.crf_neg_weight,
                cfg.crf_mask_pos_th,
            )
            loss = loss + losses["loss_crf"] * cfg.w_crf
        self.update_ema()
        losses["loss"] = loss
        result["losses"] = losses
        self.train_iter += 1
        return result

    @torch.no_grad()
    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The EMA teacher's logits. In train mode (the released behaviour under Lightning) its
        BatchNorm uses batch statistics and updates its own running stats, and dropout is active;
        ``ema_teacher_eval: true`` runs it in eval mode instead."""
        if not self.has_ema:
            raise ValueError("no EMA teacher")
        modules = (self.backbone2_ema, self.decode_head2_ema)
        modes = [m.training for m in modules]
        if self.cfg.ema_teacher_eval:
            for m in modules:
                m.eval()
        try:
            return self.decode_head2_ema(self.backbone2_ema(images))
        finally:
            for m, mode in zip(modules, modes, strict=True):
                m.train(mode)

    def forward(self, imgs: torch.Tensor, *args, **kwargs):
        if self.training:
            return self.forward_train(imgs, *args, **kwargs)
        return self.segment(imgs)

    def train(self, mode: bool = True):
        """Like Lightning, ``train()`` reaches the EMA copies too (the released quirk)."""
        return super().train(mode)
