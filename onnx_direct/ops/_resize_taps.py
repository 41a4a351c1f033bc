"""Where ONNX Resize samples along one axis, and with which weights.

One formula serves both cases: numpy (:class:`NumpyMath`) when sizes and scales are known at
conversion time, so the graph gets constant index and weight tables, and TF (:class:`TfMath`)
when they only arrive at run time.  All coordinates are float64, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from onnx_direct.context import Unsupported


class NumpyMath:
    """The few array functions the formulas need, on numpy float64."""

    @staticmethod
    def const(v: Any) -> Any:
        return np.asarray(v, np.float64)

    @staticmethod
    def arange(n: Any) -> Any:
        return np.arange(int(n), dtype=np.float64)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)

    @staticmethod
    def equal(a: Any, b: Any) -> Any:
        return np.equal(a, b)

    floor, ceil, abs, minimum, maximum = np.floor, np.ceil, np.abs, np.minimum, np.maximum

    @staticmethod
    def reduce(values: list[Any], smallest: bool) -> Any:
        return min(values) if smallest else max(values)

    @staticmethod
    def sum_last(v: Any) -> Any:
        return v.sum(axis=-1, keepdims=True)

    @staticmethod
    def div(a: Any, b: Any) -> Any:
        return np.divide(a, b)

    @staticmethod
    def to_index(v: Any, size: Any) -> Any:
        return np.clip(v, 0, size - 1).astype(np.int64)


class TfMath:
    """:class:`NumpyMath` on float64 TF tensors."""

    @staticmethod
    def const(v: Any) -> Any:
        return tf.cast(v, tf.float64)

    @staticmethod
    def arange(n: Any) -> Any:
        return tf.range(tf.cast(n, tf.float64))

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return tf.where(cond, tf.cast(a, tf.float64), tf.cast(b, tf.float64))

    @staticmethod
    def equal(a: Any, b: Any) -> Any:
        return tf.equal(tf.cast(a, tf.float64), tf.cast(b, tf.float64))

    floor, ceil, abs = tf.math.floor, tf.math.ceil, tf.math.abs

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return tf.minimum(tf.cast(a, tf.float64), tf.cast(b, tf.float64))

    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return tf.maximum(tf.cast(a, tf.float64), tf.cast(b, tf.float64))

    @staticmethod
    def reduce(values: list[Any], smallest: bool) -> Any:
        stacked = tf.stack([tf.cast(v, tf.float64) for v in values])
        return tf.reduce_min(stacked) if smallest else tf.reduce_max(stacked)

    @staticmethod
    def sum_last(v: Any) -> Any:
        return tf.reduce_sum(v, axis=-1, keepdims=True)

    @staticmethod
    def div(a: Any, b: Any) -> Any:
        # Not RealDiv: grappler turns a division by a constant into a multiplication by its
        # reciprocal, which moves coordinates by an ulp and flips nearest-rounding at ties.
        return tf.math.divide_no_nan(tf.cast(a, tf.float64), tf.cast(b, tf.float64))

    @staticmethod
    def to_index(v: Any, size: Any) -> Any:
        return tf.cast(tf.clip_by_value(v, 0.0, tf.cast(size, tf.float64) - 1.0), tf.int64)


Math = type[NumpyMath] | type[TfMath]


@dataclass(frozen=True)
class AxisPlan:
    """One resized axis: sizes and scale (Python/numpy numbers or TF scalars) and its roi (start, end)."""

    axis: int
    in_size: Any
    out_size: Any
    scale: Any
    roi: tuple[Any, Any] | None


def source_coordinates(xp: Math, mode: str, plan: AxisPlan) -> tuple[Any, Any | None]:
    """Input coordinate of every output position, and which of them extrapolate (tf_crop_and_resize)."""
    y = xp.arange(plan.out_size)
    size, scale = xp.const(plan.in_size), xp.const(plan.scale)
    width = scale * size  # the output size before rounding, as the reference uses it
    single = xp.equal(width, 1.0)
    below = xp.where(single, 1.0, width - 1.0)  # no division by zero in the branch not taken
    if mode == "align_corners":
        return xp.where(single, 0.0, xp.div(y * (size - 1.0), below)), None
    if mode == "asymmetric":
        return xp.div(y, scale), None
    if mode == "half_pixel":
        return xp.div(y + 0.5, scale) - 0.5, None
    if mode == "pytorch_half_pixel":
        return xp.where(single, -0.5, xp.div(y + 0.5, scale) - 0.5), None
    if mode == "half_pixel_symmetric":
        offset = size * 0.5 * (1.0 - xp.div(plan.out_size, width))
        return offset + xp.div(y + 0.5, scale) - 0.5, None
    if mode == "tf_half_pixel_for_nn":
        return xp.div(y + 0.5, scale), None
    if mode == "tf_crop_and_resize":
        roi = (0.0, 1.0) if plan.roi is None else plan.roi
        start, end = xp.const(roi[0]), xp.const(roi[1])
        x = xp.where(single, (end - start) * (size - 1.0) * 0.5, xp.div(y * (end - start) * (size - 1.0), below))
        x = x + start * (size - 1.0)
        return x, (x < 0.0) | (x > size - 1.0)
    raise Unsupported(f"coordinate_transformation_mode={mode!r}")


def nearest_index(xp: Math, x: Any, mode: str, scale: Any) -> Any:
    """The input element nearest to each coordinate (before clamping to the axis)."""
    if mode == "round_prefer_floor":
        return xp.ceil(x - 0.5)
    if mode == "round_prefer_ceil":
        return xp.floor(x + 0.5)
    if mode == "floor":
        return xp.floor(x)
    if mode == "ceil":
        return xp.ceil(x)
    if mode == "simple":  # Resize-10 and Upsample: round up when shrinking, down when growing
        return xp.where(xp.const(scale) < 1.0, xp.ceil(x), xp.floor(x))
    raise Unsupported(f"nearest_mode={mode!r}")


def _cubic(d: Any, a: float, xp: Math) -> Any:
    """Keys' cubic convolution kernel at distance ``d`` >= 0."""
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    far = ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
    return xp.where(d <= 1.0, near, xp.where(d < 2.0, far, 0.0))


@dataclass(frozen=True)
class Kernel:
    """Interpolation kernel: 'linear' or 'cubic', widened by 1/scale when antialiasing a downscale."""

    mode: str
    cubic_a: float = -0.75
    antialias: bool = False
    exclude_outside: bool = False


def kernel_taps(xp: Math, x: Any, kernel: Kernel, plan: AxisPlan) -> tuple[Any, Any]:
    """Input positions [out, taps] (unclamped) and weights [out, taps] for each output coordinate ``x``."""
    radius = 1.0 if kernel.mode == "linear" else 2.0
    stretch = xp.minimum(xp.const(plan.scale), 1.0) if kernel.antialias else xp.const(1.0)
    taps = 2.0 * xp.ceil(xp.div(radius, stretch))
    # The reference's window: the `taps` positions nearest x, the lower one on ties.
    positions = xp.ceil(x)[:, None] - taps / 2.0 + xp.arange(taps)[None, :]
    distance = xp.abs(positions - x[:, None]) * stretch
    weights = xp.maximum(1.0 - distance, 0.0) if kernel.mode == "linear" else _cubic(distance, kernel.cubic_a, xp)
    if kernel.antialias:
        weights = xp.div(weights, xp.sum_last(weights))
    if kernel.exclude_outside:
        size = xp.const(plan.in_size)
        weights = xp.where((positions < 0.0) | (positions > size - 1.0), 0.0, weights)
        total = xp.sum_last(weights)
        weights = xp.div(weights, xp.where(xp.equal(total, 0.0), 1.0, total))
    return positions, weights
