"""The AMD baseline ("The Emergence of Objectness", NeurIPS 2021) as RCF's repository trains it.

A segmenter (dilated ResNet-50 ``backbone2`` + FCN ``decode_head2``, 5 slots, stride 8) and a
PWC-Net-lite flow network (``decode_head.flownet``) are trained jointly with a photometric loss:
at every pyramid level the flow is piecewise constant, ``sum_c m_c v_c``, with one motion vector
per slot pooled from the flow decoder's features under that slot's mask. Loss: 0.15 x L1 + 0.85 x
SSIM distance between a frame and its warp, masked by a forward-splatting occlusion estimate,
both directions, pyramid levels weighted (1, 1, 1, 1, 0). Inference uses the segmenter only.

As in the original, the forward flow of the pair is aggregated with the SECOND frame's mask and
the backward flow with the first frame's (``forward_2_frames(x1, x2, mask[1])``) [quirk kept].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rcf.config import ModelConfig
from rcf.model.rcf_model import build_backbone, build_fcn_head

PWC_CHANNELS = (3, 16, 32, 64, 96, 128, 192)
SEARCH_RANGE = 4
OUTPUT_LEVEL = 4
PHOTOMETRIC = {"w_l1": 0.15, "w_ssim": 0.85, "w_scales": (1.0, 1.0, 1.0, 1.0, 0.0)}
MMSEG_MEAN = (123.675, 116.28, 103.53)
MMSEG_STD = (58.395, 57.12, 57.375)


def conv(
    in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, relu: bool = True
) -> nn.Sequential:
    layers = [
        nn.Conv2d(
            in_ch, out_ch, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=True
        )
    ]
    if relu:
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


def resize_ac(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


def pixel_grid(b: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(h, device=like.device), torch.arange(w, device=like.device), indexing="ij"
    )
    return torch.stack((xs, ys)).to(like.dtype)[None].expand(b, -1, -1, -1)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Sample ``x`` at ``pixel + flow`` (bilinear, corner-aligned normalisation)."""
    b, _, h, w = x.shape
    coords = pixel_grid(b, h, w, flow) + flow
    gx = 2.0 * coords[:, 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * coords[:, 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(
        x, torch.stack((gx, gy), dim=3), mode="bilinear", padding_mode=padding, align_corners=True
    )


def correlation(
    x1: torch.Tensor, x2: torch.Tensor, max_displacement: int = SEARCH_RANGE
) -> torch.Tensor:
    """Channel-mean correlation for each displacement in ``[-d, d]^2``: ``[B, (2d+1)^2, H, W]``."""
    _, _, h, w = x1.shape
    padded = F.pad(x2, [max_displacement] * 4)
    size = 2 * max_displacement + 1
    return torch.cat(
        [
            (x1 * padded[:, :, i : i + h, j : j + w]).mean(1, keepdim=True)
            for i in range(size)
            for j in range(size)
        ],
        1,
    )


def splat_coverage(flow: torch.Tensor) -> torch.Tensor:
    """How much lands on each pixel when the frame is moved by ``flow`` (bilinear splatting)."""
    b, _, h, w = flow.shape
    target = pixel_grid(b, h, w, flow) + flow
    x, y = target[:, 0].reshape(b, -1), target[:, 1].reshape(b, -1)
    x0, y0 = torch.floor(x), torch.floor(y)
    coverage = torch.zeros(b, h * w, device=flow.device, dtype=flow.dtype)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            index = (xi.clamp(0, w - 1) + yi.clamp(0, h - 1) * w).long()
            coverage.scatter_add_(1, index, torch.where(inside, weight, torch.zeros_like(weight)))
    return coverage.view(b, 1, h, w)


def visible_mask(backward_flow: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """1 where a pixel is covered (not occluded) according to the backward flow's splatting."""
    return 1.0 - (splat_coverage(backward_flow).clamp(0.0, 1.0) < threshold).float()


def ssim_distance(x: torch.Tensor, y: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """``clamp((1 - SSIM) / 2, 0, 1)`` over ``(2r+1)^2`` windows without padding."""
    pool = nn.AvgPool2d(2 * radius + 1, 1, 0)
    c1, c2 = 0.01**2, 0.03**2
    mx, my = pool(x), pool(y)
    vx = pool(x * x) - mx**2
    vy = pool(y * y) - my**2
    cov = pool(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return torch.clamp((1 - ssim) / 2, 0, 1)


class FeatureExtractor(nn.Module):
    def __init__(self, channels=PWC_CHANNELS):
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Sequential(conv(a, b, stride=2), conv(b, b))
                for a, b in zip(channels[:-1], channels[1:], strict=True)
            ]
        )

    def forward(self, x):
        pyramid = []
        for layer in self.convs:
            x = layer(x)
            pyramid.append(x)
        return pyramid[::-1]


class FlowEstimatorReduce(nn.Module):
    """Dense-connected flow decoder: one constant flow per slot from mask-pooled features."""

    def __init__(self, in_channels: int, mask_layer: int):
        super().__init__()
        self.conv1 = conv(in_channels, 128)
        self.conv2 = conv(128, 128)
        self.conv3 = conv(128 + 128, 96)
        self.conv4 = conv(128 + 96, 64)
        self.conv5 = conv(96 + 64, 32)
        self.predict_flow1 = conv(64 + 32, 64, kernel_size=1)
        self.predict_flow2 = conv(64, 2, kernel_size=1, relu=False)
        self.mask_layer = mask_layer

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        x3 = self.conv3(torch.cat([x1, x2], 1))
        x4 = self.conv4(torch.cat([x2, x3], 1))
        x5 = self.conv5(torch.cat([x3, x4], 1))
        feat = torch.cat([x4, x5], 1)
        motions = []
        for slot in range(self.mask_layer):
            m = mask[:, slot : slot + 1]
            pooled = (feat * m).flatten(2).sum(2) / m.flatten(2).sum(2)
            motions.append(
                self.predict_flow2(self.predict_flow1(pooled[..., None, None]))
            )  # [B, 2, 1, 1]
        return motions


class PWCLite(nn.Module):
    def __init__(self, mask_layer: int):
        super().__init__()
        self.mask_layer = mask_layer
        self.feature_pyramid_extractor = FeatureExtractor()
        dim_corr = (2 * SEARCH_RANGE + 1) ** 2
        self.flow_estimators = FlowEstimatorReduce(32 + dim_corr + 2, mask_layer)
        self.conv_1x1 = nn.ModuleList([conv(c, 32, kernel_size=1) for c in (192, 128, 96, 64, 32)])
        self.leaky = nn.LeakyReLU(0.1, inplace=True)

    def two_frames(
        self, pyr1: list[torch.Tensor], pyr2: list[torch.Tensor], mask: torch.Tensor
    ) -> list[torch.Tensor]:
        """Piecewise-constant flows 1 -> 2 at 5 levels, each upsampled x4, finest first."""
        b, _, h, w = pyr1[0].shape
        flow = torch.zeros(b, 2, h, w, dtype=pyr1[0].dtype, device=pyr1[0].device)
        sums = [torch.zeros_like(flow) for _ in range(self.mask_layer)]
        flows = []
        for level, (x1, x2) in enumerate(zip(pyr1, pyr2, strict=True)):
            if level >= 1:
                flow = F.interpolate(flow * 2, scale_factor=2, mode="bilinear", align_corners=True)
                sums = [
                    F.interpolate(s * 2, scale_factor=2, mode="bilinear", align_corners=True)
                    for s in sums
                ]
            warped = x2 if level == 0 else flow_warp(x2, flow)
            corr = self.leaky(correlation(x1, warped))
            mask_level = resize_ac(mask, flow.shape[-2:])
            motions = self.flow_estimators(
                torch.cat([corr, self.conv_1x1[level](x1), flow], 1), mask_level
            )
            sums = [s + v for s, v in zip(sums, motions, strict=True)]
            flow = sum(mask_level[:, c : c + 1] * sums[c] for c in range(self.mask_layer))
            flows.append(flow)
            if level == OUTPUT_LEVEL:
                break
        flows = [
            F.interpolate(f * 4, scale_factor=4, mode="bilinear", align_corners=True) for f in flows
        ]
        return flows[::-1]

    def forward(
        self, im1: torch.Tensor, im2: torch.Tensor, mask1: torch.Tensor, mask2: torch.Tensor
    ):
        pyr1 = self.feature_pyramid_extractor(im1) + [im1]
        pyr2 = self.feature_pyramid_extractor(im2) + [im2]
        forward = self.two_frames(
            pyr1, pyr2, mask2
        )  # the original pairs the forward flow with mask 2
        backward = self.two_frames(pyr2, pyr1, mask1)
        return forward, backward


def photometric_loss(
    flows_fw: list[torch.Tensor], flows_bw: list[torch.Tensor], im1: torch.Tensor, im2: torch.Tensor
) -> torch.Tensor:
    """Occlusion-masked L1 + SSIM warping loss over the pyramid (ARFlow-style, AMD settings)."""
    total = 0.0
    visible1 = visible2 = None
    for level, (fw, bw) in enumerate(zip(flows_fw, flows_bw, strict=True)):
        weight = PHOTOMETRIC["w_scales"][level]
        if weight == 0:
            continue
        h, w = fw.shape[-2:]
        i1 = F.interpolate(im1, (h, w), mode="area")
        i2 = F.interpolate(im2, (h, w), mode="area")
        recon1, recon2 = flow_warp(i2, fw), flow_warp(i1, bw)
        if visible1 is None:
            visible1, visible2 = visible_mask(bw), visible_mask(fw)
            occ1, occ2 = visible1, visible2
        else:
            occ1 = F.interpolate(visible1, (h, w), mode="nearest")
            occ2 = F.interpolate(visible2, (h, w), mode="nearest")

        def term(image, recon, occ):
            l1 = (PHOTOMETRIC["w_l1"] * (image - recon).abs() * occ).mean()
            ssim = (PHOTOMETRIC["w_ssim"] * ssim_distance(recon * occ, image * occ)).mean()
            return (l1 + ssim) / occ.mean()

        total = total + weight * (term(i1, recon1, occ1) + term(i2, recon2, occ2)) / 2.0
    return total


class FlowNetHead(nn.Module):
    """``decode_head`` of AMD: holds the flow network as ``flownet`` (the checkpoint key prefix)."""

    def __init__(self, mask_layer: int, input_size=(384, 640)):
        super().__init__()
        self.flownet = PWCLite(mask_layer)
        self.input_size = tuple(input_size)


class AMDModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.mask_layer = cfg.mask_layer
        self.backbone2 = build_backbone(cfg.backbone2)
        head = cfg.decode_head
        if head.type != "FCNHead" or not head.create_flownet:
            raise ValueError("AMD's decode_head is an FCNHead with create_flownet: true")
        self.decode_head = FlowNetHead(cfg.mask_layer, head.flownet_input_size)
        if head.freeze_flownet:
            self.decode_head.requires_grad_(False)
        self.decode_head2 = build_fcn_head(cfg.decode_head2)
        if self.decode_head2.num_classes != self.mask_layer:
            raise ValueError("decode_head2.num_classes must equal mask_layer")
        self.use_ema_for_eval = False
        self.object_channel = None

    def segment(self, images: torch.Tensor, use_ema: bool | None = None) -> torch.Tensor:
        return F.softmax(self.decode_head2(self.backbone2(images)), dim=1)

    def forward_train(self, imgs: torch.Tensor) -> dict:
        b, frames, c, h, w = imgs.shape
        logits = self.decode_head2(self.backbone2(imgs.reshape(b * frames, c, h, w)))
        masks = F.softmax(logits.view(b, frames, self.mask_layer, *logits.shape[-2:]), dim=2)
        mean = torch.tensor(MMSEG_MEAN, device=imgs.device, dtype=imgs.dtype)[None, :, None, None]
        std = torch.tensor(MMSEG_STD, device=imgs.device, dtype=imgs.dtype)[None, :, None, None]
        im1 = resize_ac((imgs[:, 0] * std + mean) / 255.0, self.decode_head.input_size)
        im2 = resize_ac((imgs[:, 1] * std + mean) / 255.0, self.decode_head.input_size)
        fw, bw = self.decode_head.flownet(im1, im2, masks[:, 0], masks[:, 1])
        loss_seg = photometric_loss(fw, bw, im1, im2)
        loss = loss_seg * self.cfg.w_seg
        return {
            "losses": {"loss_warp_seg": loss_seg, "loss": loss},
            "masks": masks,
            "flows_fw": fw,
            "flows_bw": bw,
        }

    def forward(self, imgs: torch.Tensor, *args, **kwargs):
        if self.training:
            return self.forward_train(imgs)
        return self.segment(imgs)
