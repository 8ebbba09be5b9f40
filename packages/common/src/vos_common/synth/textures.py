"""Procedural colour textures: band-limited so that bilinear sampling stays exact enough for
flow checks, yet detailed down to a few pixels so that classic optical flow (DIS) can track them.

Every texture is a float32 ``(h, w, 3)`` RGB image in 0..255 built from fractal value noise,
a colour ramp between 2-3 colours and a fine luminance "detail" layer shared by all kinds.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

TEXTURE_KINDS = ("noise", "stripes", "checker", "spots", "gradient")
BACKGROUND_KINDS = ("noise", "stripes", "spots", "checker")
# Headroom below 255 for the global brightness gain (config.brightness_change < 0.5 is
# validated; defaults stay well inside).
TEXTURE_RANGE = (16.0, 228.0)


def fractal_noise(rng: np.random.Generator, height: int, width: int, finest: float = 3.0,
                  coarsest: float | None = None, roughness: float = 0.8) -> np.ndarray:
    """Smooth multi-octave value noise, ``(height, width)`` float32, zero mean, unit std.

    Octave ``k`` is white noise on a grid of ``finest * 2**k`` pixel cells, upsampled
    bicubically (so its shortest wavelength is about two cells); its weight grows as
    ``cell ** roughness`` (larger roughness: smoother picture).
    """
    coarsest = max(finest, coarsest if coarsest is not None else max(height, width) / 2)
    total = np.zeros((height, width), np.float32)
    cell = float(finest)
    while cell <= coarsest + 1e-6:
        grid_h = int(np.ceil(height / cell)) + 4
        grid_w = int(np.ceil(width / cell)) + 4
        grid = rng.standard_normal((grid_h, grid_w)).astype(np.float32)
        big_h, big_w = int(round(grid_h * cell)), int(round(grid_w * cell))
        up = cv2.resize(grid, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
        oy = int(rng.integers(0, big_h - height + 1))
        ox = int(rng.integers(0, big_w - width + 1))
        total += np.float32(cell ** roughness) * up[oy:oy + height, ox:ox + width]
        cell *= 2
    total -= total.mean()
    std = float(total.std())
    return total / np.float32(std if std > 0 else 1.0)


def colour_ramp(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp: ``t`` ``(h, w)`` in [0, 1] -> ``(h, w, 3)`` float32."""
    colours = np.asarray(colours, np.float32)
    position = np.clip(t, 0.0, 1.0) * (len(colours) - 1)
    low = np.minimum(np.floor(position).astype(np.int32), len(colours) - 2)
    frac = (position - low)[..., None]
    return (1 - frac) * colours[low] + frac * colours[low + 1]


def random_colours(rng: np.random.Generator, hue: float, count: int, hue_spread: float = 0.05) -> np.ndarray:
    """``count`` RGB colours (0..255 float32) around ``hue`` (0..1) with varied saturation and value.

    Values alternate dark/bright so every ramp has contrast.
    """
    colours = []
    for index in range(count):
        h = (hue + rng.normal(0.0, hue_spread)) % 1.0
        s = rng.uniform(0.15, 0.6)
        v = rng.uniform(0.25, 0.5) if index % 2 == 0 else rng.uniform(0.6, 0.9)
        colours.append(colorsys.hsv_to_rgb(h, s, v))
    return np.asarray(colours, np.float32) * 255.0


def _rotated_coordinates(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xs * c + ys * s, -xs * s + ys * c


def make_texture(rng: np.random.Generator, kind: str, height: int, width: int, colours: np.ndarray,
                 detail: float = 14.0) -> np.ndarray:
    """A ``(height, width, 3)`` float32 texture of the given kind (one of ``TEXTURE_KINDS``).

    ``colours`` ``(n, 3)`` are the ramp colours; ``detail`` is the standard deviation (grey
    levels) of the fine luminance noise added on top so that every kind has trackable detail.
    """
    if kind == "noise":
        t = 1.0 / (1.0 + np.exp(-1.6 * fractal_noise(rng, height, width, finest=4.0)))
    elif kind == "stripes":
        u, _ = _rotated_coordinates(rng, height, width)
        period = rng.uniform(9.0, 22.0)
        warp = 1.8 * fractal_noise(rng, height, width, finest=16.0, roughness=1.0)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + warp)
    elif kind == "checker":
        u, v = _rotated_coordinates(rng, height, width)
        period = rng.uniform(10.0, 24.0)
        t = 0.5 + 0.5 * np.tanh(2.5 * np.sin(np.pi * u / period) * np.sin(np.pi * v / period))
    elif kind == "spots":
        field = fractal_noise(rng, height, width, finest=6.0, coarsest=48.0, roughness=1.0)
        t = 1.0 / (1.0 + np.exp(-3.0 * (field - rng.uniform(-0.6, 0.6))))
    elif kind == "gradient":
        u, _ = _rotated_coordinates(rng, height, width)
        span = max(float(u.max() - u.min()), 1.0)
        t = (u - u.min()) / span + 0.2 * fractal_noise(rng, height, width, finest=8.0)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; expected one of {TEXTURE_KINDS}")
    texture = colour_ramp(t.astype(np.float32), colours)
    luminance = fractal_noise(rng, height, width, finest=2.5, coarsest=20.0, roughness=0.5)
    texture += np.float32(detail) * luminance[..., None]
    chroma = fractal_noise(rng, height, width, finest=6.0, coarsest=24.0)
    texture += np.float32(0.3 * detail) * chroma[..., None] * rng.uniform(-1.0, 1.0, 3).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 0.6)
    return np.clip(texture, *TEXTURE_RANGE).astype(np.float32)
