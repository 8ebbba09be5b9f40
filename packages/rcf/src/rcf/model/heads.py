"""RCF's heads: the FCN segmentation / residual head and the relaxed-common-fate flow head.

Parameter names follow the original checkpoints (mmcv ``ConvModule`` naming inside ``convs``:
``convs.<i>.conv`` and ``convs.<i>.bn``; ``conv_seg`` registered first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Module):
    """3x3 conv (no bias) + BatchNorm + ReLU named ``conv`` / ``bn`` like mmcv's ConvModule."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        stride: int = 1,
    ):
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.activate = nn.ReLU(inplace=True)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class FCNHead(nn.Module):
    """FCN head: pick / resize-concatenate backbone maps, dilated 3x3 convs, dropout, 1x1 conv.

    ``in_index`` / ``in_channels`` / ``input_transform`` behave as in the original configs:
    an int picks one map; ``input_transform: resize_concat`` with lists bilinearly resizes the
    chosen maps to the first one's size (``align_corners``) and concatenates them in order.
    The forward also accepts a single tensor (the residual head gets the concatenated layer-4
    maps of a frame pair). ``conv_seg`` keeps PyTorch's default initialisation.
    """

    def __init__(
        self,
        in_channels: int | Sequence[int],
        channels: int,
        num_classes: int,
        in_index: int | Sequence[int] = -1,
        input_transform: str | None = None,
        num_convs: int = 2,
        kernel_size: int = 3,
        dilation: int = 1,
        dropout_ratio: float = 0.1,
        align_corners: bool = False,
        concat_input: bool = False,
    ):
        super().__init__()
        if concat_input:
            raise ValueError("concat_input is not used by RCF and not supported")
        if num_convs < 1:
            raise ValueError("num_convs must be >= 1")
        if input_transform not in (None, "resize_concat"):
            raise ValueError(f"unsupported input_transform {input_transform!r}")
        if input_transform == "resize_concat":
            if not isinstance(in_channels, Sequence) or not isinstance(in_index, Sequence):
                raise ValueError("resize_concat needs lists for in_channels and in_index")
            if len(in_channels) != len(in_index):
                raise ValueError("in_channels and in_index must have the same length")
            total_in = int(sum(in_channels))
        else:
            if isinstance(in_channels, Sequence) or isinstance(in_index, Sequence):
                raise ValueError(
                    "in_channels / in_index must be single ints without input_transform"
                )
            total_in = int(in_channels)
        self.in_index = in_index
        self.input_transform = input_transform
        self.align_corners = align_corners
        self.num_classes = num_classes
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        layers = [ConvBNReLU(total_in, channels, kernel_size, dilation)]
        layers += [
            ConvBNReLU(channels, channels, kernel_size, dilation) for _ in range(num_convs - 1)
        ]
        self.convs = nn.Sequential(*layers)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None

    def transform_inputs(self, inputs) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            return inputs
        if self.input_transform == "resize_concat":
            chosen = [inputs[i] for i in self.in_index]
            size = chosen[0].shape[2:]
            resized = [
                F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners)
                if x.shape[2:] != size
                else x
                for x in chosen
            ]
            return torch.cat(resized, dim=1)
        return inputs[self.in_index]

    def forward(self, inputs) -> torch.Tensor:
        x = self.convs(self.transform_inputs(inputs))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.conv_seg(x)


@dataclass
class FlowHeadOutput:
    """One direction of the flow head: every map is ``[B, 2, h, w]`` in pixels (x first)."""

    flow_overall: torch.Tensor
    flow_agg: torch.Tensor
    residual_adjustment: torch.Tensor | None
    flow_affine: torch.Tensor | None
    gt_flow: torch.Tensor

    def as_dict(self) -> dict:
        """The maps by name (without the ones this head variant does not produce)."""
        names = ("flow_overall", "flow_agg", "residual_adjustment", "flow_affine", "gt_flow")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class FlowAggregationHead(nn.Module):
    """Relaxed common fate: per-slot motion from a learned flow embedding, plus a bounded residual.

    For a soft mask ``m [B, C, h, w]`` (softmax over C), the target flow ``F [B, 2, h, w]`` and
    the raw residual ``r [B, 2C, h', w']``:
    ``F_hat = sum_c m_c v_c (+ sum_c m_c A_c (u - mu_c)) + s * sum_c m_c tanh(r_c / d)`` with
    ``v_c = MLP(sum_x (m_c(x) / sum_y m_c(y)) phi(F)(x))``. See spec rcf.md section 2.4.
    """

    def __init__(
        self,
        mask_layer: int = 4,
        num_flow_feat_channels: int = 64,
        flow_feat_before_agg_kernel_size: int = 3,
        mask_size: Sequence[int] = (96, 96),
        clamp_flow_t: float | None = 20.0,
        norm_flow: bool = False,
        free_residual: bool = True,
        free_residual_with_affine: bool = False,
        allow_residual_resize: bool = True,
        residual_adjustment_scale: float = 10.0,
        pred_div_coeff: float = 10.0,
        outlier_robust_loss: bool = False,
        eps: float = 0.01,
        q: float = 0.4,
    ):
        super().__init__()
        if free_residual and free_residual_with_affine:
            raise ValueError("free_residual and free_residual_with_affine are exclusive")
        k = flow_feat_before_agg_kernel_size
        n = num_flow_feat_channels
        self.flow_feat_before_agg = nn.Sequential(
            nn.Conv2d(2, n, k, padding=(k - 1) // 2),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(n, n, k, padding=(k - 1) // 2),
            nn.LeakyReLU(0.1, inplace=True),
        )
        self.flow_feat_after_agg = nn.Sequential(
            nn.Conv1d(n, n, 1), nn.LeakyReLU(0.1, inplace=True), nn.Conv1d(n, 2, 1)
        )
        self.mask_layer = mask_layer
        self.mask_size = tuple(mask_size)
        self.clamp_flow_t = clamp_flow_t
        self.norm_flow = norm_flow
        self.free_residual = free_residual
        self.free_residual_with_affine = free_residual_with_affine
        self.allow_residual_resize = allow_residual_resize
        self.residual_adjustment_scale = residual_adjustment_scale
        self.pred_div_coeff = pred_div_coeff
        self.outlier_robust_loss = outlier_robust_loss
        self.eps = eps
        self.q = q

    # ------------------------------------------------------------------------------ pieces
    def prepare_flow(self, flow: torch.Tensor) -> torch.Tensor:
        """Clamp (and optionally max-normalise) a target flow; values stay in frame pixels."""
        if self.norm_flow:
            flow = flow / flow.abs().max()
        if self.clamp_flow_t is not None:
            flow = flow.clamp(min=-self.clamp_flow_t, max=self.clamp_flow_t)
        return flow

    def affine_flow(self, mask: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Per-slot weighted least-squares affine fit of the flow on (row, col), mean not added."""
        b, c, h, w = mask.shape
        weights = (mask / mask.sum(dim=(2, 3), keepdim=True)).flatten(2)  # [B, C, N]
        rows, cols = torch.meshgrid(
            torch.arange(h, device=mask.device), torch.arange(w, device=mask.device), indexing="ij"
        )
        coords = torch.stack((rows, cols), dim=2).view(-1, 2).to(mask.dtype)  # [N, 2] (row, col)
        flow_points = flow.flatten(2).transpose(1, 2)  # [B, N, 2]
        mu_flow = torch.bmm(weights, flow_points)  # [B, C, 2]
        mu_coord = weights @ coords  # [B, C, 2]
        flow_centred = flow_points[:, None] - mu_flow[:, :, None]  # [B, C, N, 2]
        coord_centred = coords[None, None] - mu_coord[:, :, None]  # [B, C, N, 2]
        sigma_fu = torch.einsum("bcn,bcnk,bcnl->bckl", weights, flow_centred, coord_centred)
        sigma_uu = torch.einsum("bcn,bcnk,bcnl->bckl", weights, coord_centred, coord_centred)
        # A = Sigma_Fu Sigma_uu^-1, solved as Sigma_uu A^T = Sigma_Fu^T (Sigma_uu is symmetric)
        a_star = torch.linalg.solve(sigma_uu.float(), sigma_fu.transpose(2, 3).float()).transpose(
            2, 3
        )
        predicted = torch.einsum("bcjk,bcnk->bcnj", a_star.to(coord_centred.dtype), coord_centred)
        predicted = predicted.view(b, c, h, w, 2)
        return torch.einsum("bchw,bchwl->blhw", mask, predicted)

    def aggregate(
        self, mask: torch.Tensor, flow: torch.Tensor, residual: torch.Tensor | None
    ) -> FlowHeadOutput:
        """One frame's predicted flow from its mask ``[B, C, h, w]`` and flow ``[B, 2, h, w]``."""
        b, c, h, w = mask.shape
        normalised = mask / mask.view(b, c, h * w, 1).sum(dim=2, keepdim=True)
        embedding = self.flow_feat_before_agg(flow)  # [B, F, h, w]
        if embedding.shape[2:] != normalised.shape[2:]:
            raise ValueError(
                f"flow {tuple(embedding.shape[2:])} and mask {tuple(normalised.shape[2:])} "
                "sizes differ"
            )
        pooled = torch.einsum("bfhw,bchw->bfc", embedding, normalised)  # [B, F, C]
        motion = self.flow_feat_after_agg(pooled)  # [B, 2, C]
        flow_agg = torch.einsum("bkc,bchw->bkhw", motion, mask)
        overall = flow_agg
        adjustment = affine = None
        if self.free_residual or self.free_residual_with_affine:
            if residual is None:
                raise ValueError("this flow head needs a residual")
            if self.allow_residual_resize and tuple(residual.shape[-2:]) != self.mask_size:
                residual = F.interpolate(
                    residual, self.mask_size, mode="bilinear", align_corners=False
                )
            residual = residual.unflatten(1, (2, self.mask_layer))
            if self.residual_adjustment_scale != -1.0:
                adjustment = (torch.tanh(residual / self.pred_div_coeff) * mask[:, None]).sum(
                    dim=2
                ) * self.residual_adjustment_scale
            else:
                adjustment = (residual * mask[:, None]).sum(dim=2)
            if self.free_residual_with_affine:
                affine = self.affine_flow(mask, flow)
                overall = flow_agg + affine + adjustment
            else:
                overall = flow_agg + adjustment
        return FlowHeadOutput(overall, flow_agg, adjustment, affine, flow)

    def reconstruction_loss(self, target: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        error = (target - predicted).abs().reshape(-1)
        if self.outlier_robust_loss:
            return ((error + self.eps) ** self.q).mean()
        return error.mean()

    def forward(
        self,
        masks: torch.Tensor,
        gt_fw_flows: torch.Tensor,
        gt_bw_flows: torch.Tensor,
        residual_fw: torch.Tensor | None,
        residual_bw: torch.Tensor | None,
    ):
        """``masks [B, 2, C, h, w]``, flows ``[B, 1, 2, h, w]`` -> (fw, bw outputs, loss dict).

        Frame 1's mask pairs with the forward flow, frame 2's with the backward flow; the loss
        is the sum of the two mean L1 errors (``seg = seg_fw + seg_bw``).
        """
        if masks.shape[1] != 2:
            raise ValueError("the flow head supports frame pairs only")
        fw_flow = self.prepare_flow(gt_fw_flows[:, 0])
        bw_flow = self.prepare_flow(gt_bw_flows[:, 0])
        fw = self.aggregate(masks[:, 0], fw_flow, residual_fw)
        bw = self.aggregate(masks[:, 1], bw_flow, residual_bw)
        loss_fw = self.reconstruction_loss(fw_flow, fw.flow_overall)
        loss_bw = self.reconstruction_loss(bw_flow, bw.flow_overall)
        return fw, bw, {"seg_fw": loss_fw, "seg_bw": loss_bw, "seg": loss_fw + loss_bw}
