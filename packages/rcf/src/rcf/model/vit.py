"""DINO's Vision Transformer, built in-package, and the key features MAA / semantic constraints use.

Parameter names are those of DINO's released files (``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``norm``), so
``dino_deitsmall8_300ep_pretrain.pth`` (ViT-S/8: dim 384, 12 blocks, 6 heads) loads strictly
from a file the user supplies (nothing is downloaded). Tests use a small random ViT behind the
same interface (:func:`build_vit` ``"vit_test"``: patch 8, dim 48, 2 blocks, 3 heads).
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = {
    # name: (embed_dim, depth, heads)
    "vit_small": (384, 12, 6),
    "vit_tiny": (192, 12, 3),
    "vit_base": (768, 12, 12),
    "vit_test": (48, 2, 3),
}


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def qkv_split(self, x: torch.Tensor) -> torch.Tensor:
        """``[3, B, heads, N, dim/heads]`` (q, k, v)."""
        b, n, c = x.shape
        return (
            self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, c = x.shape
        q, k, v = self.qkv_split(x)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out), attn


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(self.norm1(x))
        x = x + y
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int, img_size: int = 224):
        super().__init__()
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(3, dim, patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """DINO ViT (no classifier head). ``key_features`` gives the last block's attention keys."""

    def __init__(
        self,
        patch_size: int = 8,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        img_size: int = 224,
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, embed_dim, img_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    def interpolate_pos_encoding(
        self, tokens: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        """DINO's rule: bicubic resize of the patch position grid by ``(rows + 0.1) / sqrt(N)``."""
        npatch = tokens.shape[1] - 1
        n = self.pos_embed.shape[1] - 1
        if npatch == n and height == width:
            return self.pos_embed
        class_pos = self.pos_embed[:, 0]
        patch_pos = self.pos_embed[:, 1:]
        dim = tokens.shape[-1]
        rows = height // self.patch_size + 0.1
        cols = width // self.patch_size + 0.1
        side = int(math.sqrt(n))
        patch_pos = F.interpolate(
            patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2),
            scale_factor=(rows / math.sqrt(n), cols / math.sqrt(n)),
            mode="bicubic",
        )
        if int(rows) != patch_pos.shape[-2] or int(cols) != patch_pos.shape[-1]:
            raise RuntimeError("position-embedding interpolation gave the wrong grid")
        patch_pos = patch_pos.permute(0, 2, 3, 1).view(1, -1, dim)
        return torch.cat((class_pos.unsqueeze(0), patch_pos), dim=1)

    def prepare_tokens(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), tokens), dim=1)
        return tokens + self.interpolate_pos_encoding(tokens, height, width)

    def key_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(keys [B, 1 + N, dim], last attention [B, heads, 1 + N, 1 + N])`` of the last block.

        Keys = the key part of the last block's qkv projection, heads concatenated (token 0 = CLS).
        """
        tokens = self.prepare_tokens(x)
        for block in self.blocks[:-1]:
            tokens = block(tokens)
        last = self.blocks[-1]
        normed = last.norm1(tokens)
        q, k, _ = last.attn.qkv_split(normed)
        attn = ((q @ k.transpose(-2, -1)) * last.attn.scale).softmax(dim=-1)
        b, heads, n, d = k.shape
        keys = k.transpose(1, 2).reshape(b, n, heads * d)
        return keys, attn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.prepare_tokens(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)


def build_vit(
    arch: str = "vit_small",
    patch_size: int = 8,
    weights: str | os.PathLike | None = None,
    seed: int = 0,
) -> VisionTransformer:
    """A DINO ViT; ``weights`` (a DINO ``.pth`` file) is loaded strictly with ``weights_only=True``.

    Without weights the network is randomly initialised from ``seed`` (tests, smoke runs).
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown ViT {arch!r} (expected one of {', '.join(ARCHS)})")
    dim, depth, heads = ARCHS[arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VisionTransformer(patch_size, dim, depth, heads)
    if weights is not None:
        from vos_common.checkpoint import load_weights

        load_weights(model, weights, allow_missing=())
    model.requires_grad_(False)
    return model.eval()
