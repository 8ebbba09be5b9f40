"""``SynthConfig``: every knob of the synthetic benchmark, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the synthetic video generator (see ``docs/synth.md`` for a table).

    Lengths that scale with the picture are fractions of the shorter side (``min(H, W)``), so
    a config behaves alike at 96x160 and at 480x854. Every video is a pure function of
    ``(config, seed, index)``.

    Attributes:
        height, width: frame size in pixels.
        frames: number of frames ``T`` per video.
        num_objects: objects per video, an int or an inclusive ``(low, high)`` range.
        seed: base seed; video ``i`` uses the seed sequence ``(seed, i)``.
        late_objects: objects per video that enter the frame or pop in after frame 0 (capped at
            ``K - 1`` so that frame 0 always has an object).
        object_size: ``(low, high)`` object radius, fraction of the shorter side.
        max_speed: largest object drift, fraction of the shorter side per frame.
        max_rotation: largest object rotation speed, degrees per frame.
        scale_change: largest relative object size oscillation (0.1 = +-10 %).
        deformation: non-rigid wave amplitude, fraction of the object radius (0 = rigid).
        camera_speed: largest camera pan, fraction of the shorter side per frame.
        camera_zoom: largest relative zoom change per frame.
        camera_rotation: largest camera roll, degrees per frame.
        brightness_change: amplitude of the global gain ``1 + a sin(...)`` (0 = constant).
        min_visible_fraction: visible area, fraction of the frame, from which an object counts
            as appeared (``first_appearance``, YouTube-VOS first annotations).
        fbms_every: FBMS-style sparse annotation step (frame 1, then every n-th frame).
        jpeg_quality: quality of every JPEG written (frames, OAST flow pictures).
        name_prefix: video names are ``f"{name_prefix}-{index:04d}"``.
    """

    height: int = 96
    width: int = 160
    frames: int = 12
    num_objects: int | tuple[int, int] = (1, 3)
    seed: int = 0
    late_objects: int = 1
    object_size: tuple[float, float] = (0.12, 0.26)
    max_speed: float = 0.03
    max_rotation: float = 3.0
    scale_change: float = 0.1
    deformation: float = 0.08
    camera_speed: float = 0.015
    camera_zoom: float = 0.005
    camera_rotation: float = 0.2
    brightness_change: float = 0.1
    min_visible_fraction: float = 0.001
    fbms_every: int = 4
    jpeg_quality: int = 95
    name_prefix: str = field(default="synth")

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 16:
                raise ValueError(f"{name} must be an integer >= 16, got {value!r}")
        if not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames must be a positive integer, got {self.frames!r}")
        low, high = self.object_range
        if low < 1 or high < low or high > 200:
            raise ValueError(f"num_objects must be 1..200 (a range needs low <= high), got {self.num_objects!r}")
        if self.late_objects < 0:
            raise ValueError(f"late_objects must be >= 0, got {self.late_objects}")
        size_low, size_high = self.object_size
        if not 0 < size_low <= size_high <= 1:
            raise ValueError(f"object_size must satisfy 0 < low <= high <= 1, got {self.object_size}")
        for name in ("max_speed", "max_rotation", "scale_change", "deformation", "camera_speed",
                     "camera_zoom", "camera_rotation", "brightness_change", "min_visible_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.deformation > 0.25:
            raise ValueError(f"deformation above 0.25 folds the texture, got {self.deformation}")
        if self.brightness_change >= 0.5:
            raise ValueError(f"brightness_change must be < 0.5, got {self.brightness_change}")
        if self.fbms_every < 1:
            raise ValueError(f"fbms_every must be >= 1, got {self.fbms_every}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        if not self.name_prefix or "/" in self.name_prefix or " " in self.name_prefix:
            raise ValueError(f"name_prefix must be a non-empty name without '/' or spaces, got {self.name_prefix!r}")

    @property
    def object_range(self) -> tuple[int, int]:
        """``num_objects`` as an inclusive ``(low, high)`` range."""
        if isinstance(self.num_objects, int):
            return self.num_objects, self.num_objects
        low, high = self.num_objects
        return int(low), int(high)

    @property
    def short_side(self) -> int:
        return min(self.height, self.width)

    @property
    def min_visible_pixels(self) -> int:
        """Visible area (pixels) from which an object counts as having appeared (at least 1)."""
        return max(1, int(round(self.min_visible_fraction * self.height * self.width)))
