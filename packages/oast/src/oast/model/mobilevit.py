"""The MobileViT variant OAST builds on (spec §2.1), in 2-D; :mod:`oast.model.inflate` makes it 3-D.

This is the *unofficial* MobileViT layout (module and key names of the ImageNet checkpoints
OAST starts from), which differs from Apple's MobileViT in several places: the stem conv has a
bias and no BN/activation, the MV2 expansion conv has BN but no activation, the MobileViT block's
1×1 projection has BN + SiLU, attention is one head of width 32 scaled by ``d**-0.5`` (``d`` =
model width), the FFN is ``2·d`` wide in stage 2 and ``4·d`` in stages 3-4, there is no final
LayerNorm, and the fusion / final convs are plain biased convs.

Every block works on 2-D feature maps ``B×C×H×W`` and, once its convs are inflated, on 2-frame
clips ``B×C×T×H×W``: BatchNorm accepts both ranks and the transformer unfolds 2×2 spatial
patches with temporal patch size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SCALES",
    "MobileViTConfig",
    "BatchNorm",
    "ConvNormAct",
    "InvertedResidual",
    "MobileViTBlock",
    "Transformer",
    "MobileViT",
    "mobilevit_config",
]

PATCH = 2  # patch size (2×2) everywhere


@dataclass(frozen=True)
class MobileViTConfig:
    """Widths of one scale: ``features`` f0..f10, transformer widths ``dims`` d0..d2, MV2
    expansion ``expansion`` and transformer depths ``depths`` L0..L2 (spec §2.1 table)."""

    features: tuple[int, ...]
    dims: tuple[int, int, int]
    expansion: int
    depths: tuple[int, int, int] = (2, 4, 3)

    @property
    def decoder_channels(self) -> tuple[int, int, int, int]:
        """Channels of the four encoder outputs (strides 4, 8, 16, 32): f3, f5, f7, f10."""
        f = self.features
        return (f[3], f[5], f[7], f[10])


SCALES: dict[str, MobileViTConfig] = {
    "xxs": MobileViTConfig((16, 16, 24, 24, 48, 48, 64, 64, 80, 80, 320), (64, 80, 96), 2),
    "xs": MobileViTConfig((16, 32, 48, 48, 64, 64, 80, 80, 96, 96, 384), (96, 120, 144), 4),
    "s": MobileViTConfig((16, 32, 64, 64, 96, 96, 128, 128, 160, 160, 640), (144, 192, 240), 4),
}


def mobilevit_config(scale: str) -> MobileViTConfig:
    """The configuration of ``scale`` (``xxs``, ``xs`` or ``s``)."""
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(
            f"unknown MobileViT scale {scale!r} (expected one of {', '.join(SCALES)})"
        ) from None


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose input check also accepts 5-D clips.

    On ``B×C×T×H×W`` it normalises over (B, T, H, W) — numerically BatchNorm3d — so the RGB and
    flow slots share their statistics. State keys are those of BatchNorm2d.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:  # noqa: A002 (torch's name)
        if input.dim() not in (4, 5):
            raise ValueError(f"expected 4-D or 5-D input (got {input.dim()}-D input)")


class ConvNormAct(nn.Module):
    """``conv`` k×k (padding (k−1)/2, no bias), ``norm_layer`` BatchNorm, ``act`` SiLU or none."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False
        )
        self.norm_layer = BatchNorm(cout)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm_layer(self.conv(x)))


class InvertedResidual(nn.Module):
    """MV2 block: 1×1 expansion (BN, no activation), depthwise 3×3 (BN, SiLU), 1×1 projection
    (no bias) + BN; residual iff ``stride == 1`` and ``cin == cout``."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: float):
        super().__init__()
        hidden = int(round(cin * expansion))
        self.use_residual = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            ConvNormAct(cin, hidden, 1, act=False),
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            BatchNorm(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_residual else y


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))`` (keys ``norm``, ``fn``); :class:`Transformer` adds the residual."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


class Attention(nn.Module):
    """One head of width 32: ``to_qvk`` (no bias) holds q, k, v in that order; the softmax
    scale is ``dim ** -0.5`` with ``dim`` the model width; ``w_out`` maps 32 → dim (no bias)."""

    HEAD = 32

    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim**-0.5
        self.to_qvk = nn.Linear(dim, 3 * self.HEAD, bias=False)
        self.w_out = nn.Linear(self.HEAD, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: B × P × N × d, attention over the N tokens of each of the P pixel-offset groups
        q, k, v = self.to_qvk(x).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.w_out(out)


class FeedForward(nn.Module):
    """``net`` = Linear(d → mlp), SiLU, Dropout(0.1), Linear(mlp → d), Dropout(0.1)."""

    def __init__(self, dim: int, mlp: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, mlp),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    """``depth`` pre-norm layers ``x += Attn(LN(x)); x += FFN(LN(x))``, no final LayerNorm."""

    def __init__(self, dim: int, depth: int, mlp: int, dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [PreNorm(dim, Attention(dim)), PreNorm(dim, FeedForward(dim, mlp, dropout))]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ffn in self.layers:
            x = x + attn(x)
            x = x + ffn(x)
        return x


def unfold_patches(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``B×d×[T×]H×W`` → ``B×4×N×d`` (4 pixel offsets of the 2×2 patches, N = T·H/2·W/2 tokens)."""
    clip = x.dim() == 5
    if not clip:
        x = x.unsqueeze(2)
    b, d, t, h, w = x.shape
    if h % PATCH or w % PATCH:
        raise ValueError(
            f"MobileViT block input {h}×{w} is not divisible by the 2×2 patch size "
            "(the network input's height and width must be multiples of 64)"
        )
    x = x.reshape(b, d, t, h // PATCH, PATCH, w // PATCH, PATCH)
    x = x.permute(0, 4, 6, 2, 3, 5, 1).reshape(b, PATCH * PATCH, t * (h // PATCH) * (w // PATCH), d)
    return x, (b, d, t, h, w, int(clip))


def fold_patches(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Exact inverse of :func:`unfold_patches`."""
    b, d, t, h, w, clip = shape
    x = x.reshape(b, PATCH, PATCH, t, h // PATCH, w // PATCH, d)
    x = x.permute(0, 6, 3, 4, 1, 5, 2).reshape(b, d, t, h, w)
    return x if clip else x.squeeze(2)


class MobileViTBlock(nn.Module):
    """Local 3×3 CNA + 1×1 CNA (BN, SiLU) to width ``dim``; transformer over 2×2 patches;
    ``fusion_block1`` (1×1, bias) back to ``cin``; concat [input, that]; ``fusion_block2``
    (3×3, bias) to ``cout``. No residual around the block."""

    def __init__(self, cin: int, cout: int, dim: int, depth: int, mlp: int, dropout: float = 0.1):
        super().__init__()
        self.local_representation = nn.Sequential(
            ConvNormAct(cin, cin, 3), ConvNormAct(cin, dim, 1)
        )
        self.transformer = Transformer(dim, depth, mlp, dropout)
        self.fusion_block1 = nn.Conv2d(dim, cin, 1, bias=True)
        self.fusion_block2 = nn.Conv2d(2 * cin, cout, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.local_representation(x)
        tokens, shape = unfold_patches(y)
        y = fold_patches(self.transformer(tokens), shape)
        y = self.fusion_block1(y)
        return self.fusion_block2(torch.cat([x, y], dim=1))


def encoder_stages(cfg: MobileViTConfig) -> tuple[nn.Sequential, list[nn.Sequential]]:
    """``stem`` and ``stage1..4`` of the backbone (2-D, PyTorch default init)."""
    f, d, e, L = cfg.features, cfg.dims, cfg.expansion, cfg.depths
    stem = nn.Sequential(nn.Conv2d(3, f[0], 3, 2, 1, bias=True), InvertedResidual(f[0], f[1], 1, e))
    stage1 = nn.Sequential(
        InvertedResidual(f[1], f[2], 2, e),
        InvertedResidual(f[2], f[2], 1, e),
        InvertedResidual(f[2], f[3], 1, e),
    )
    stage2 = nn.Sequential(
        InvertedResidual(f[3], f[4], 2, e), MobileViTBlock(f[4], f[5], d[0], L[0], 2 * d[0])
    )
    stage3 = nn.Sequential(
        InvertedResidual(f[5], f[6], 2, e), MobileViTBlock(f[6], f[7], d[1], L[1], 4 * d[1])
    )
    stage4 = nn.Sequential(
        InvertedResidual(f[7], f[8], 2, e),
        MobileViTBlock(f[8], f[9], d[2], L[2], 4 * d[2]),
        nn.Conv2d(f[9], f[10], 1, bias=True),
    )
    return stem, [stage1, stage2, stage3, stage4]


class MobileViT(nn.Module):
    """The 2-D ImageNet classifier that holds the pretrained backbone weights (270 entries).

    ``forward`` returns the logits; :meth:`forward_features` the stem and stage outputs
    (strides 2, 4, 8, 16, 32). ``avgpool`` is ``AvgPool2d(8)``: a 256×256 input gives 1×1.
    """

    def __init__(self, scale: str = "xxs", num_classes: int = 1000):
        super().__init__()
        cfg = mobilevit_config(scale)
        self.stem, (self.stage1, self.stage2, self.stage3, self.stage4) = encoder_stages(cfg)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(cfg.features[10], num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [self.stem(x)]
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4):
            outs.append(stage(outs[-1]))
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.avgpool(self.forward_features(x)[-1])
        return self.fc(y.flatten(1))
