"""SAM, the spatio-temporal aggregation module, and the memory compressor built from it.

``MemCompress`` (key prefix ``mem_compress``) turns two memory slots — the current dynamic
embedding and the newest memory frame — into one slot of the same size, separately for keys
(``key_encoder``, C = 64) and values (``value_encoder``, C = 512, objects in the batch), then
collapses time with a (2, 3, 3) convolution (``compress_key`` / ``compress_value``).

SAM(C) = non-local block → (optional SE blocks) → ASPP + residual:

* non-local (3-D, embedded dot product, sub-sampled): θ, φ, g are 1×1×1 convs to C/2, φ and g
  max-pooled by (1, 2, 2); ``f = θᵀφ / N'`` with N' the pooled position count — **no softmax**
  — then ``z = W(f gᵀ) + x``;
* ASPP: four bias-free branches (1×1×1 and 1×3×3 with spatial dilation 2, 4, 6; no temporal
  mixing), each ReLU, concatenated, a bias-free 1×3×3 conv, ReLU; output ``ASPP(z) + z``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NonLocal3D(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        inter = max(1, channels // 2)
        self.inter_channels = inter
        self.g = nn.Sequential(nn.Conv3d(channels, inter, 1), nn.MaxPool3d((1, 2, 2)))
        self.W = nn.Conv3d(inter, channels, 1)
        self.theta = nn.Conv3d(channels, inter, 1)
        self.phi = nn.Sequential(nn.Conv3d(channels, inter, 1), nn.MaxPool3d((1, 2, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        g_x = self.g(x).reshape(b, self.inter_channels, -1).transpose(1, 2)
        theta_x = self.theta(x).reshape(b, self.inter_channels, -1).transpose(1, 2)
        phi_x = self.phi(x).reshape(b, self.inter_channels, -1)
        f = torch.matmul(theta_x, phi_x)
        f = f / f.shape[-1]
        y = torch.matmul(f, g_x).transpose(1, 2).reshape(b, self.inter_channels, *x.shape[2:])
        return self.W(y) + x


class _ASPPBranch(nn.Module):
    def __init__(self, inplanes: int, planes: int, kernel, padding, dilation):
        super().__init__()
        self.atrous_conv = nn.Conv3d(inplanes, planes, kernel, padding=padding,
                                     dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.atrous_conv(x))


class ASPP3D(nn.Module):
    def __init__(self, in_plane: int, out_plane: int, reduction: int = 4):
        super().__init__()
        mid = out_plane // reduction
        self.aspp1 = _ASPPBranch(in_plane, mid, 1, 0, 1)
        for name, d in (("aspp2", 2), ("aspp3", 4), ("aspp4", 6)):
            setattr(self, name, _ASPPBranch(in_plane, mid, (1, 3, 3), (0, d, d), (1, d, d)))
        self.conv1 = nn.Conv3d(mid * 4, out_plane, (1, 3, 3), padding=(0, 1, 1), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)], 1)
        return F.relu(self.conv1(x))


class SELayerT2(nn.Module):
    """Squeeze-excitation over a (2, 1, 1)-pooled descriptor (assumes two time slots)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        both = channels * 2
        self.fc = nn.Sequential(nn.Linear(both, both // reduction, bias=False), nn.ReLU(),
                                nn.Linear(both // reduction, both, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        y = F.adaptive_avg_pool3d(x, (2, 1, 1)).reshape(b, 2 * c)
        return x * self.fc(y).reshape(b, c, 2, 1, 1)


class SEBlock3D(nn.Module):
    """Residual block with instance norms and SE (``--repeat`` > 0; no released model uses it)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1))
        self.in1 = nn.InstanceNorm3d(channels)
        self.conv2 = nn.Conv3d(channels, channels, (1, 3, 3), padding=(0, 1, 1))
        self.in2 = nn.InstanceNorm3d(channels)
        self.ses = SELayerT2(channels)
        self.in3 = nn.InstanceNorm3d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.in1(self.conv1(x)))
        out = self.in3(self.ses(self.in2(self.conv2(out))))
        return F.relu(out + x)


class SAM(nn.Module):
    """Spatio-temporal aggregation module on ``(n, C, T=2, h, w)``."""

    def __init__(self, channels: int, repeat: int = 0):
        super().__init__()
        self.repeat = repeat
        if repeat > 0:
            self.se_block = nn.Sequential(*[SEBlock3D(channels) for _ in range(repeat)])
        self.conv1 = ASPP3D(channels, channels, reduction=4)
        self.non_local = NonLocal3D(channels)

    def forward_parts(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``nonlocal`` (after SE blocks if any), ``aspp`` (before the residual) and ``sam``."""
        z = self.non_local(x)
        if self.repeat > 0:
            z = self.se_block(z)
        a = self.conv1(z)
        return {"nonlocal": z, "aspp": a, "sam": a + z}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.non_local(x)
        if self.repeat > 0:
            z = self.se_block(z)
        return self.conv1(z) + z


class MemCompress(nn.Module):
    """Two memory slots → one: keys ``(N, Ck, 2, h, w)`` and values ``(N, O, Cv, 2, h, w)``."""

    def __init__(self, key_dim: int = 64, value_dim: int = 512, repeat: int = 0):
        super().__init__()
        self.key_encoder = SAM(key_dim, repeat)
        self.value_encoder = SAM(value_dim, repeat)
        self.compress_key = nn.Conv3d(key_dim, key_dim, (2, 3, 3), padding=(0, 1, 1))
        self.compress_value = nn.Conv3d(value_dim, value_dim, (2, 3, 3), padding=(0, 1, 1))

    @torch.no_grad()
    def init_average(self) -> None:
        """From-scratch aid (off by default; the original keeps PyTorch's initialisation).

        The non-local output convs start at zero (each non-local block is the identity, as the
        original's commented-out init would do) and the time collapse starts as the average of
        the two slots, so a random SAM neither explodes when applied recurrently (the
        non-local block is cubic in its input) nor hides the memory behind a random projection.
        """
        for branch, conv in ((self.key_encoder, self.compress_key),
                             (self.value_encoder, self.compress_value)):
            nn.init.zeros_(branch.non_local.W.weight)
            nn.init.zeros_(branch.non_local.W.bias)
            branch.conv1.conv1.weight.mul_(0.25)
            conv.weight.mul_(0.125)
            conv.bias.zero_()
            c = torch.arange(conv.weight.shape[0])
            for tap in range(conv.weight.shape[2]):
                conv.weight[c, c, tap, 1, 1] += 0.5

    def forward(self, key: torch.Tensor, value: torch.Tensor):
        n, o, c, t, h, w = value.shape
        k = self.compress_key(self.key_encoder(key))
        v = self.compress_value(self.value_encoder(value.reshape(n * o, c, t, h, w)))
        return k, v.reshape(n, o, c, 1, h, w)
