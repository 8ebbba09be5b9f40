"""Region similarity J, boundary measure F and the per-object Mean / Recall / Decay.

Every definition follows evaluation.md section 2 (the official davis2017-evaluation
semantics) so that values are bit-identical to the official tool, but the work is organised
for speed:

* a mask's boundary map is computed once, on the mask's bounding box only;
* the dilation by the exact disk is done once per boundary, on the boundary's bounding box
  grown by the radius, as a union of a few centred rectangles (the disk is a staircase of
  rectangles, and a rectangle dilation is separable), which equals OpenCV's dilation with
  the disk pixel for pixel;
* matching counts are taken on the overlap of the two boxes only.

Masks are ``(H, W)`` boolean arrays unless stated otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

BOUND_TH = 0.008
"""Official boundary tolerance: a fraction of the frame diagonal (or pixels if >= 1)."""


# ----------------------------------------------------------------------------- tolerance
def boundary_radius(height: int, width: int, bound_th: float = BOUND_TH) -> float:
    """Tolerance radius in pixels for an ``height x width`` frame.

    ``ceil(bound_th * sqrt(H^2 + W^2))`` when ``bound_th < 1`` (8 for 854 x 480, 9 for
    910 x 480, 10 for 1152 x 480), else ``bound_th`` itself, as the official code does. A
    non-integer pixel radius is refused: the official disk for it is even-sized and off-centre.
    """
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(
                f"a boundary tolerance in pixels must be a whole number, got {bound_th}"
            )
        return float(bound_th)
    return float(math.ceil(bound_th * math.sqrt(height * height + width * width)))


def disk(radius: float) -> np.ndarray:
    """The structuring element: offsets with ``dx^2 + dy^2 <= radius^2``, ``(2R+1, 2R+1)`` uint8.

    ``R = floor(radius)``; 197 ones for radius 8, 253 for 9, 317 for 10.
    """
    half = int(math.floor(radius))
    offsets = np.arange(-half, half + 1)
    return (offsets[None, :] ** 2 + offsets[:, None] ** 2 <= radius * radius).astype(np.uint8)


def disk_rectangles(radius: float) -> list[tuple[int, int]]:
    """The disk as a union of centred rectangles ``(half_width, half_height)``.

    Row ``dy`` of the disk spans ``|dx| <= w(dy)`` with ``w`` non-increasing in ``|dy|``, so
    the disk is the union of the rectangles ``[-w(b), w(b)] x [-b, b]`` taken at each ``b``
    where ``w`` steps down (6 rectangles for radius 8).
    """
    half = int(math.floor(radius))
    limit = radius * radius
    widths = []
    for dy in range(half + 1):
        width = int(math.floor(math.sqrt(max(limit - dy * dy, 0.0))))
        while width * width + dy * dy > limit:  # guard against sqrt rounding up
            width -= 1
        while (width + 1) ** 2 + dy * dy <= limit:
            width += 1
        widths.append(width)
    return [(widths[b], b) for b in range(half + 1) if b == half or widths[b] > widths[b + 1]]


# --------------------------------------------------------------------------- boundaries
def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary map of ``mask`` ``(H, W)``, equivalent to the official ``seg2bmap``.

    A pixel is on the boundary when it differs from its east, south or south-east
    neighbour; on the last row only the east neighbour is compared, on the last column only
    the south one, and the bottom-right pixel is never a boundary. So boundaries sit half a
    pixel towards the top-left, holes get inner boundaries, and nothing is drawn where an
    object touches the image border.
    """
    seg = np.asarray(mask, dtype=bool)
    out = np.zeros_like(seg)
    core = seg[:-1, :-1]
    out[:-1, :-1] = (core != seg[:-1, 1:]) | (core != seg[1:, :-1]) | (core != seg[1:, 1:])
    out[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]
    out[:-1, -1] = seg[:-1, -1] != seg[1:, -1]
    out[-1, -1] = False
    return out


def dilate(bmap: np.ndarray, radius: float) -> np.ndarray:
    """Binary dilation of ``bmap`` ``(H, W)`` by :func:`disk`; pixels outside add nothing."""
    source = np.ascontiguousarray(bmap, dtype=bool).view(np.uint8)
    return _dilate_u8(source, _rect_kernels(radius)).view(bool)


_KERNELS: dict[float, list[np.ndarray]] = {}


def _rect_kernels(radius: float) -> list[np.ndarray]:
    kernels = _KERNELS.get(radius)
    if kernels is None:
        kernels = [np.ones((2 * h + 1, 2 * w + 1), np.uint8) for w, h in disk_rectangles(radius)]
        _KERNELS[radius] = kernels
    return kernels


def _dilate_u8(source: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """OR of the rectangle dilations of a 0/1 uint8 image (borders contribute nothing)."""
    out = cv2.dilate(source, kernels[0])
    for kernel in kernels[1:]:
        cv2.bitwise_or(out, cv2.dilate(source, kernel), dst=out)
    return out


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Box ``(top, left, bottom, right)`` (exclusive ends) of a bool mask, None if empty."""
    left, top, width, height = cv2.boundingRect(mask.view(np.uint8))
    if width == 0:
        return None
    return top, left, top + height, left + width


@dataclass
class MaskBoundary:
    """The boundary map of one mask, kept only on the box where it can be non-zero.

    ``pixels`` is the boundary map restricted to rows ``top..top+h-1`` and columns
    ``left..left+w-1`` of the frame; ``count`` its number of boundary pixels. The dilated
    boundary (``dilated``, same convention with ``dilated_top/left``) is computed on first use.
    """

    top: int
    left: int
    pixels: np.ndarray
    count: int
    frame_shape: tuple[int, int]
    radius: float
    _dilated: tuple[int, int, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        mask: np.ndarray,
        radius: float,
        box: tuple[int, int, int, int] | None = None,
        known_empty: bool = False,
    ) -> MaskBoundary:
        """Boundary of ``mask`` ``(H, W)`` bool; ``box`` is its bounding box if already known."""
        height, width = mask.shape
        if not known_empty and box is None:
            box = mask_box(mask)
        if known_empty or box is None:
            return cls(0, 0, np.zeros((0, 0), bool), 0, (height, width), radius)
        top, left, bottom, right = box
        # Boundary pixels lie in rows top-1 .. bottom-1 (and likewise columns); one more row
        # and column below / right supply the neighbours. Where that extra row or column
        # does not exist the crop ends at the image border, and the special last-row /
        # last-column rule then applies exactly as on the full frame.
        top, left = max(top - 1, 0), max(left - 1, 0)
        crop = mask[top : min(bottom + 1, height), left : min(right + 1, width)]
        pixels = boundary_map(crop)
        return cls(top, left, pixels, int(np.count_nonzero(pixels)), (height, width), radius)

    def dilated(self) -> tuple[int, int, np.ndarray]:
        """``(top, left, bool array)``: the dilated boundary on its box grown by the radius."""
        if self._dilated is None:
            grow = int(math.floor(self.radius))
            height, width = self.frame_shape
            rows, cols = self.pixels.shape
            top, left = max(self.top - grow, 0), max(self.left - grow, 0)
            bottom = min(self.top + rows + grow, height)
            right = min(self.left + cols + grow, width)
            canvas = np.zeros((bottom - top, right - left), np.uint8)
            canvas[
                self.top - top : self.top - top + rows, self.left - left : self.left - left + cols
            ] = self.pixels
            self._dilated = (top, left, _dilate_u8(canvas, _rect_kernels(self.radius)).view(bool))
        return self._dilated


def overlap_count(
    a_top: int, a_left: int, a: np.ndarray, b_top: int, b_left: int, b: np.ndarray
) -> int:
    """Number of pixels set in both of two boxed bool arrays placed in the same frame."""
    top, left = max(a_top, b_top), max(a_left, b_left)
    bottom = min(a_top + a.shape[0], b_top + b.shape[0])
    right = min(a_left + a.shape[1], b_left + b.shape[1])
    if top >= bottom or left >= right:
        return 0
    return int(
        np.count_nonzero(
            a[top - a_top : bottom - a_top, left - a_left : right - a_left]
            & b[top - b_top : bottom - b_top, left - b_left : right - b_left]
        )
    )


def f_from_counts(n_pred: int, n_gt: int, pred_matched: int, gt_matched: int) -> float:
    """F from boundary counts, with the official edge cases.

    One side without boundary pixels gives 0, both without gives 1; otherwise precision =
    matched prediction pixels / ``n_pred``, recall = matched GT pixels / ``n_gt``.
    """
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = pred_matched / float(n_pred)
        recall = gt_matched / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def boundary_f(pred: MaskBoundary, gt: MaskBoundary) -> float:
    """F of a prediction boundary against a GT boundary (both of the same frame)."""
    if pred.count == 0 or gt.count == 0:
        return f_from_counts(pred.count, gt.count, 0, 0)
    gt_top, gt_left, gt_dil = gt.dilated()
    pred_top, pred_left, pred_dil = pred.dilated()
    pred_matched = overlap_count(pred.top, pred.left, pred.pixels, gt_top, gt_left, gt_dil)
    gt_matched = overlap_count(gt.top, gt.left, gt.pixels, pred_top, pred_left, pred_dil)
    return f_from_counts(pred.count, gt.count, pred_matched, gt_matched)


def j_from_counts(intersection: int, union: int) -> float:
    """J = intersection / union, and 1 when the union is empty."""
    return 1.0 if union == 0 else intersection / union


# ------------------------------------------------------------------ single-frame helpers
def _void_cleared(mask: np.ndarray, void: np.ndarray | None) -> np.ndarray:
    mask = np.asarray(mask) != 0
    return mask if void is None else mask & ~(np.asarray(void) != 0)


def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J of one frame: ``|P and G| / |P or G|`` outside ``void`` (1 if both are empty).

    Inputs are ``(H, W)`` arrays; any non-zero value is foreground.
    """
    pred, gt = _void_cleared(pred, void), _void_cleared(gt, void)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    return j_from_counts(int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred | gt)))


def boundary_measure(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = BOUND_TH
) -> float:
    """F of one frame: boundary F-measure with tolerance :func:`boundary_radius` of its shape.

    Both masks are cleared of ``void`` before their boundaries are taken, as officially.
    """
    pred, gt = _void_cleared(pred, void), _void_cleared(gt, void)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    radius = boundary_radius(*gt.shape, bound_th)
    return boundary_f(MaskBoundary.of(pred, radius), MaskBoundary.of(gt, radius))


# ----------------------------------------------------------------- per-object statistics
def decay_bin_edges(n_frames: int, official_uint8_wrap: bool = False) -> list[int]:
    """The five 0-based bin boundaries ``round(linspace(1, n, 5) + 1e-10) - 1``.

    Bin ``i`` holds values ``b[i] .. b[i+1]`` inclusive. The official code stores the
    boundaries as uint8, which wraps for n >= 257; ``official_uint8_wrap`` reproduces that.
    """
    edges = np.round(np.linspace(1, n_frames, 5) + 1e-10) - 1
    if official_uint8_wrap:
        return [int(e) for e in edges.astype(np.int64).astype(np.uint8)]
    return [int(e) for e in edges]


@dataclass(frozen=True)
class ObjectStatistics:
    """Mean, Recall and Decay of one object's per-frame values."""

    mean: float
    recall: float
    decay: float


def object_statistics(values: np.ndarray, official_uint8_wrap: bool = False) -> ObjectStatistics:
    """Mean (nan-mean), Recall (fraction > 0.5) and Decay (mean of bin 0 - mean of bin 3).

    ``values`` is the ``(n,)`` float64 array of one object's J or F over the evaluated frames;
    n = 0 gives NaN for all three.
    """
    values = np.asarray(values, dtype=np.float64)
    n_frames = values.shape[0]
    if n_frames == 0:
        return ObjectStatistics(math.nan, math.nan, math.nan)
    mean = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
    recall = float(np.mean(values > 0.5))
    edges = decay_bin_edges(n_frames, official_uint8_wrap)
    first, fourth = values[edges[0] : edges[1] + 1], values[edges[3] : edges[4] + 1]
    if first.size == 0 or fourth.size == 0 or np.isnan(first).all() or np.isnan(fourth).all():
        decay = math.nan
    else:
        decay = float(np.nanmean(first) - np.nanmean(fourth))
    return ObjectStatistics(mean, recall, decay)
