"""The analytic scene behind a synthetic video: layers with exactly invertible motion maps.

Every layer (the background and each object) owns a texture in its own canonical
coordinates ``p`` and, for every frame ``t``, a map to frame coordinates

    x = M_t(p) = A_t D_t(p)

where ``A_t`` is an affine map (2x3: object rotation, scale, translation, or the camera for the
background) and ``D_t`` a smooth non-rigid wave deformation made of two shears, each
triangular and therefore exactly invertible. A pixel ``x`` of frame ``t`` shows the canonical
point ``p = M_t^-1(x)`` of the front-most layer whose shape contains it; its flow to frame
``t2`` is ``M_t2(p) - x``. Rendering and flow use the same maps, so the flow is exact.

Pixel centres sit at integer coordinates (pixel ``(row, col)`` is ``x = col, y = row``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vos_common.synth.config import SynthConfig
from vos_common.synth.textures import BACKGROUND_KINDS, TEXTURE_KINDS, make_texture, random_colours

SHAPE_KINDS = ("blob", "superellipse", "star", "polygon")


@dataclass(frozen=True)
class Shape:
    """A closed shape given by its radius as a function of angle, ``r(theta)``, in canonical pixels.

    ``kind`` doubles as the object's category name (YouTube-VOS ``meta.json``).
    """

    kind: str
    radius: float
    params: tuple[float, ...]
    harmonics: np.ndarray  # (n, 3): order k, amplitude, phase of the radial perturbation

    def radius_at(self, theta: np.ndarray) -> np.ndarray:
        if self.kind == "superellipse":
            aspect, power = self.params
            c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta)) / aspect
            base = (c ** power + s ** power) ** (-1.0 / power)
        elif self.kind == "star":
            points, depth = self.params
            base = 1.0 + depth * np.cos(points * theta)
        elif self.kind == "polygon":
            (sides,) = self.params
            sector = 2 * np.pi / sides
            base = np.cos(np.pi / sides) / np.cos(np.mod(theta, sector) - np.pi / sides)
        else:  # blob: the harmonics alone
            base = np.ones_like(theta)
        wobble = 1.0 + sum(a * np.cos(k * theta + phase) for k, a, phase in self.harmonics)
        return self.radius * base * wobble

    def inside(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Boolean mask of canonical points ``(px, py)`` inside the shape."""
        return np.hypot(px, py) <= self.radius_at(np.arctan2(py, px))

    def bound(self) -> float:
        """A radius enclosing the whole shape."""
        return float(self.radius_at(np.linspace(-np.pi, np.pi, 1441)).max()) * 1.01 + 1.0


@dataclass(frozen=True)
class Deformation:
    """Travelling-wave non-rigid deformation ``D_t``, per frame parameters ``(T,)``.

    ``D_t(p)``: first ``x += ax sin(fx * y + phx)``, then ``y += ay sin(fy * x + phy)``
    (using the updated ``x``). Each step shears one coordinate by a function of the other,
    so the inverse undoes them in reverse order exactly.
    """

    amp_x: np.ndarray
    amp_y: np.ndarray
    freq_x: float
    freq_y: float
    phase_x: np.ndarray
    phase_y: np.ndarray

    def forward(self, t: int, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        qx = px + self.amp_x[t] * np.sin(self.freq_x * py + self.phase_x[t])
        qy = py + self.amp_y[t] * np.sin(self.freq_y * qx + self.phase_y[t])
        return qx, qy

    def inverse(self, t: int, qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        py = qy - self.amp_y[t] * np.sin(self.freq_y * qx + self.phase_y[t])
        px = qx - self.amp_x[t] * np.sin(self.freq_x * py + self.phase_x[t])
        return px, py

    def bound(self) -> float:
        """Largest displacement ``|D_t(p) - p|`` over all frames."""
        return float(np.abs(self.amp_x).max() + np.abs(self.amp_y).max())


@dataclass
class Layer:
    """One surface: the background (``object_id`` 0, no shape) or an object.

    Attributes:
        object_id: id written in the masks (0 = background).
        texture: ``(h, w, 3)`` float32 colours in canonical coordinates.
        texture_origin: texture pixel ``(x, y)`` of the canonical origin.
        affine: ``(T, 2, 3)`` float64, deformed canonical coordinates -> frame coordinates.
        start: first frame in which the layer exists (objects that pop in or enter late).
        shape: the object's outline (``None``: the layer covers everything).
        deformation: non-rigid part (``None``: rigid).
        category: category name (shape kind; ``"background"`` for layer 0).
    """

    object_id: int
    texture: np.ndarray
    texture_origin: tuple[float, float]
    affine: np.ndarray
    start: int = 0
    shape: Shape | None = None
    deformation: Deformation | None = None
    category: str = "background"

    def exists(self, t: int) -> bool:
        return t >= self.start

    def to_canonical(self, t: int, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse map ``M_t^-1``: frame coordinates -> canonical coordinates (float64)."""
        (a, b, c), (d, e, f) = self.affine[t]
        det = a * e - b * d
        dx, dy = xs - c, ys - f
        qx = (e * dx - b * dy) / det
        qy = (a * dy - d * dx) / det
        if self.deformation is None:
            return qx, qy
        return self.deformation.inverse(t, qx, qy)

    def to_frame(self, t: int, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward map ``M_t``: canonical coordinates -> frame coordinates of frame ``t``."""
        if self.deformation is not None:
            px, py = self.deformation.forward(t, px, py)
        (a, b, c), (d, e, f) = self.affine[t]
        return a * px + b * py + c, d * px + e * py + f

    def displacement(self, t: int, target: int, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flow ``M_target(M_t^-1(x)) - x`` of this layer's surface at frame points ``(xs, ys)``."""
        if self.deformation is None:  # rigid: one composite affine map
            composite = _compose(self.affine[target], _invert(self.affine[t]))
            (a, b, c), (d, e, f) = composite
            return (a - 1.0) * xs + b * ys + c, d * xs + (e - 1.0) * ys + f
        px, py = self.to_canonical(t, xs, ys)
        tx, ty = self.to_frame(target, px, py)
        return tx - xs, ty - ys

    def frame_box(self, t: int, height: int, width: int) -> tuple[slice, slice] | None:
        """Rows and columns of frame ``t`` that the layer can cover (``None``: off-screen)."""
        if self.shape is None:
            return slice(0, height), slice(0, width)
        reach = self.shape.bound() + (self.deformation.bound() if self.deformation is not None else 0.0)
        linear = self.affine[t][:, :2]
        radius = float(np.linalg.norm(linear, 2)) * reach + 1.0
        cx, cy = self.affine[t][:, 2]
        x0, x1 = max(0, int(np.floor(cx - radius))), min(width, int(np.ceil(cx + radius)) + 1)
        y0, y1 = max(0, int(np.floor(cy - radius))), min(height, int(np.ceil(cy + radius)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        return slice(y0, y1), slice(x0, x1)


@dataclass
class Scene:
    """Layers back to front (background first) and the global brightness gain per frame ``(T,)``."""

    layers: list[Layer]
    gain: np.ndarray


def _invert(affine: np.ndarray) -> np.ndarray:
    full = np.vstack([affine, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine ``outer o inner``."""
    full_outer = np.vstack([outer, [0.0, 0.0, 1.0]])
    full_inner = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (full_outer @ full_inner)[:2]


def _similarity(scale: np.ndarray, angle: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """``(T, 2, 3)`` maps ``p -> scale R(angle) p + (tx, ty)``."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.stack([np.stack([c, -s, tx], -1), np.stack([s, c, ty], -1)], axis=1)


def _sample_shape(rng: np.random.Generator, radius: float) -> Shape:
    kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    if kind == "superellipse":
        params: tuple[float, ...] = (rng.uniform(0.6, 1.0), rng.uniform(1.6, 4.0))
    elif kind == "star":
        params = (float(rng.integers(3, 7)), rng.uniform(0.12, 0.28))
    elif kind == "polygon":
        params = (float(rng.integers(3, 8)),)
    else:
        params = ()
    orders = np.arange(2, 6)
    strength = 0.22 if kind == "blob" else 0.06
    amplitudes = rng.uniform(0, strength, len(orders)) / orders
    harmonics = np.stack([orders, amplitudes, rng.uniform(0, 2 * np.pi, len(orders))], axis=1)
    return Shape(kind, radius, params, harmonics)


def _sample_deformation(rng: np.random.Generator, cfg: SynthConfig, radius: float, times: np.ndarray) -> Deformation | None:
    if cfg.deformation <= 0:
        return None

    def wave() -> tuple[np.ndarray, float, np.ndarray]:
        amplitude = rng.uniform(0.4, 1.0) * cfg.deformation * radius
        period = rng.uniform(12.0, 40.0)
        amp = amplitude * np.sin(2 * np.pi * times / period + rng.uniform(0, 2 * np.pi))
        freq = 2 * np.pi / (rng.uniform(1.0, 2.0) * radius)
        phase = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.3, 0.3) * times
        return amp, freq, phase

    amp_x, freq_x, phase_x = wave()
    amp_y, freq_y, phase_y = wave()
    return Deformation(amp_x, amp_y, freq_x, freq_y, phase_x, phase_y)


def _object_texture(rng: np.random.Generator, reach: float, hue: float) -> tuple[np.ndarray, tuple[float, float]]:
    side = int(np.ceil(2 * reach)) + 8
    kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    colours = random_colours(rng, hue, int(rng.integers(2, 4)))
    texture = make_texture(rng, kind, side, side, colours, detail=rng.uniform(10.0, 18.0))
    return texture, (side / 2.0, side / 2.0)


def _camera(rng: np.random.Generator, cfg: SynthConfig, times: np.ndarray) -> np.ndarray:
    """``(T, 2, 3)`` world -> frame maps; the identity at frame 0 (world = frame-0 pixels)."""
    short = cfg.short_side
    centre = np.array([(cfg.width - 1) / 2.0, (cfg.height - 1) / 2.0])
    direction = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.3, 1.0) * cfg.camera_speed * short
    shake = rng.uniform(0.0, 0.5) * cfg.camera_speed * short * 3
    shake_period = rng.uniform(10.0, 30.0)
    shake_phase = rng.uniform(0, 2 * np.pi, 2)
    offset = np.stack([
        speed * np.cos(direction) * times + shake * (np.sin(2 * np.pi * times / shake_period + shake_phase[0]) - np.sin(shake_phase[0])),
        speed * np.sin(direction) * times + shake * (np.sin(2 * np.pi * times / shake_period + shake_phase[1]) - np.sin(shake_phase[1])),
    ], axis=1)
    zoom = np.exp(rng.uniform(-1.0, 1.0) * cfg.camera_zoom * times)
    roll = np.deg2rad(rng.uniform(-1.0, 1.0) * cfg.camera_rotation) * times
    # frame = zoom R(roll) (world - centre - offset) + centre
    linear = _similarity(zoom, roll, np.zeros_like(times), np.zeros_like(times))[:, :, :2]
    shift = centre[None, :] - np.einsum("tij,tj->ti", linear, centre[None, :] + offset)
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def _background(rng: np.random.Generator, cfg: SynthConfig, camera: np.ndarray, hue: float) -> Layer:
    corners = np.array([[0, 0], [cfg.width - 1, 0], [0, cfg.height - 1], [cfg.width - 1, cfg.height - 1]], float)
    seen = []
    for t in range(camera.shape[0]):
        inverse = _invert(camera[t])
        seen.append(corners @ inverse[:, :2].T + inverse[:, 2])
    seen = np.concatenate(seen)
    margin = 6.0
    low = np.floor(seen.min(axis=0)) - margin
    high = np.ceil(seen.max(axis=0)) + margin
    width, height = (high - low).astype(int) + 1
    kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    colours = random_colours(rng, hue, 3, hue_spread=0.04)
    texture = make_texture(rng, kind, int(height), int(width), colours, detail=rng.uniform(10.0, 16.0))
    return Layer(0, texture, (float(-low[0]), float(-low[1])), camera)


def sample_scene(cfg: SynthConfig, rng: np.random.Generator) -> Scene:
    """Draw a whole scene (layers back to front and the gain per frame) from ``rng``."""
    frames = cfg.frames
    times = np.arange(frames, dtype=np.float64)
    short = cfg.short_side
    low, high = cfg.object_range
    count = int(rng.integers(low, high + 1))
    late = min(cfg.late_objects, count - 1) if cfg.frames > 1 else 0  # a 1-frame clip has no "later"

    scene_hue = rng.uniform(0, 1)
    camera = _camera(rng, cfg, times)
    background = _background(rng, cfg, camera, scene_hue)

    objects: list[Layer] = []
    for index in range(count):
        object_id = index + 1
        is_late = index >= count - late
        radius = rng.uniform(*cfg.object_size) * short
        shape = _sample_shape(rng, radius)
        deformation = _sample_deformation(rng, cfg, radius, times)
        reach = shape.bound() + (deformation.bound() if deformation is not None else 0.0)
        hue = scene_hue + rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.12)
        texture, origin = _object_texture(rng, reach, hue)

        scale = rng.uniform(0.9, 1.1) * np.exp(
            rng.uniform(0, cfg.scale_change) * np.sin(2 * np.pi * times / rng.uniform(15.0, 45.0) + rng.uniform(0, 2 * np.pi)))
        angle = rng.uniform(0, 2 * np.pi) + np.deg2rad(rng.uniform(-1.0, 1.0) * cfg.max_rotation) * times
        start = 0
        heading = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.2, 1.0) * cfg.max_speed * short
        mode = "present"
        if is_late:
            mode = "enter" if rng.uniform() < 0.5 else "appear"
            latest = (frames - 1) // (3 if mode == "enter" else 2)
            start = int(rng.integers(1, max(1, latest) + 1))
        if mode == "enter":
            # Start just outside a random border, heading inwards, fast enough to get well in.
            side = int(rng.integers(4))
            along = rng.uniform(0.25, 0.75)
            inward = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], float)[side]
            entry = np.array([[0, along * cfg.height], [cfg.width - 1, along * cfg.height],
                              [along * cfg.width, 0], [along * cfg.width, cfg.height - 1]])[side]
            heading = np.arctan2(inward[1], inward[0]) + rng.uniform(-0.5, 0.5)
            outside = reach * scale[start] + 1.0
            # By the last frame the centre is half a radius inside the border.
            speed = max(speed, (1.5 * outside) / max(1, frames - 1 - start))
            origin_at_start = entry - inward * outside
            velocity = speed * np.array([np.cos(heading), np.sin(heading)])
            centre = origin_at_start[None, :] + velocity[None, :] * (times - start)[:, None]
        else:
            anchor = np.array([rng.uniform(0.2, 0.8) * cfg.width, rng.uniform(0.2, 0.8) * cfg.height])
            velocity = speed * np.array([np.cos(heading), np.sin(heading)])
            sway = rng.uniform(0, 0.08, 2) * short
            sway_period = rng.uniform(16.0, 48.0, 2)
            sway_phase = rng.uniform(0, 2 * np.pi, 2)
            wobble = sway[None, :] * (np.sin(2 * np.pi * times[:, None] / sway_period + sway_phase)
                                      - np.sin(2 * np.pi * start / sway_period + sway_phase))
            centre = anchor[None, :] + velocity[None, :] * (times - start)[:, None] + wobble
        affine = _similarity(scale, angle, centre[:, 0], centre[:, 1])
        objects.append(Layer(object_id, texture, origin, affine, start, shape, deformation, shape.kind))

    order = rng.permutation(len(objects))
    layers = [background] + [objects[i] for i in order]

    amplitude = rng.uniform(0.5, 1.0) * cfg.brightness_change
    period = rng.uniform(1.0, 3.0) * max(frames, 8)
    gain = 1.0 + amplitude * np.sin(2 * np.pi * times / period + rng.uniform(0, 2 * np.pi))
    return Scene(layers, gain.astype(np.float32))
