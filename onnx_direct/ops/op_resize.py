"""Resize (opsets 10-19) and Upsample: nearest, n-linear and cubic, every coordinate mode, antialias.

Each resized axis is a gather of the taps :mod:`._resize_taps` computes and a weighted sum, in the
input's stored layout.  When the result is exactly what TF's ResizeNearestNeighbor or ResizeBilinear
computes on channels-last data (checked on the interpolation matrices), that single op is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Data, Node, Unsupported, Value
from onnx_direct.ops import converter
from onnx_direct.ops._resize_taps import (
    AxisPlan,
    Kernel,
    Math,
    NumpyMath,
    TfMath,
    kernel_taps,
    nearest_index,
    source_coordinates,
)


@dataclass(frozen=True)
class _Attrs:
    mode: str
    coordinates: str
    nearest: str
    kernel: Kernel
    extrapolation: float = 0.0
    aspect_policy: str = "stretch"


def _legacy_attrs(node: Node) -> _Attrs:
    """Upsample and Resize-10: asymmetric coordinates, nearest rounds down (up when shrinking)."""
    mode = str(node.attr("mode", "nearest")).lower()
    mode = "linear" if mode == "bilinear" else mode
    if mode not in ("nearest", "linear"):
        raise Unsupported(f"mode={mode!r}")
    return _Attrs(mode, "asymmetric", "simple", Kernel(mode))


def _attrs(node: Node) -> _Attrs:
    mode = str(node.attr("mode", "nearest"))
    if mode not in ("nearest", "linear", "cubic"):
        raise Unsupported(f"mode={mode!r}")
    kernel = Kernel(
        mode,
        float(node.attr("cubic_coeff_a", -0.75)),
        bool(node.attr("antialias", 0)) and mode != "nearest",
        bool(node.attr("exclude_outside", 0)),
    )
    return _Attrs(
        mode,
        str(node.attr("coordinate_transformation_mode", "half_pixel")),
        str(node.attr("nearest_mode", "round_prefer_floor")),
        kernel,
        float(node.attr("extrapolation_value", 0.0)),
        str(node.attr("keep_aspect_ratio_policy", "stretch")),
    )


def _optional(node: Node, i: int) -> Data | None:
    """Input ``i``, or None when absent or empty (how ONNX leaves out roi / scales / sizes)."""
    if not node.has_input(i) or 0 in node.value(i).stored_shape:
        return None
    return node.const(i) if node.is_const(i) else node.tensor(i)


@converter("Upsample", since=7)
def upsample_7(node: Node) -> Value:
    return _resize(node, _legacy_attrs(node), np.asarray(node.attr("scales"), np.float32), None, None)


@converter("Upsample", since=9)
def upsample_9(node: Node) -> Value:
    return _resize(node, _legacy_attrs(node), _optional(node, 1), None, None)


converter("Resize", since=10)(upsample_9)  # Resize-10 is Upsample-9 renamed


@converter("Resize", since=11)
def resize(node: Node) -> Value:
    attrs = _attrs(node)
    roi = _optional(node, 1) if attrs.coordinates == "tf_crop_and_resize" else None
    return _resize(node, attrs, _optional(node, 2), _optional(node, 3), roi)


def _resize(node: Node, attrs: _Attrs, scales: Data | None, sizes: Data | None, roi: Data | None) -> Value:
    data = node.value(0)
    rank = data.rank
    axes = [layout.normalize_axis(int(a), rank) for a in node.attr("axes", range(rank))]
    if scales is None and sizes is None:
        raise Unsupported("Resize needs scales or sizes")
    x = node.tensor(0, data.perm)
    static = all(isinstance(v, np.ndarray) for v in (scales, sizes, roi) if v is not None)
    static = static and all(data.onnx_shape[a] is not None for a in axes)
    xp: Math = NumpyMath if static else TfMath
    in_sizes = [data.onnx_shape[a] if static else _dim(x, layout.stored_axis(data.perm, a)) for a in axes]
    plans = _plans(xp, axes, in_sizes, scales, sizes, roi, attrs.aspect_policy)
    if static:
        plans = [p for p in plans if not _is_identity(p, attrs)]
        fast = _tf_resize(x, data.perm, plans, attrs)
        if fast is not None:
            return Value(fast, data.perm)
    if not plans:
        return Value(tf.identity(x), data.perm)
    y = _compute_type(x, attrs)
    for plan in plans:
        y = _resample(y, layout.stored_axis(data.perm, plan.axis), xp, plan, attrs)
    return Value(_to_type(y, x.dtype), data.perm)


def _dim(x: tf.Tensor, axis: int) -> int | tf.Tensor:
    size = x.shape[axis]
    return tf.shape(x)[axis] if size is None else int(size)


def _plans(
    xp: Math,
    axes: list[int],
    in_sizes: list[Any],
    scales: Data | None,
    sizes: Data | None,
    roi: Data | None,
    policy: str,
) -> list[AxisPlan]:
    """Output size and scale of each resized axis (the reference's rules for sizes vs scales)."""
    count = len(axes)
    ins = [xp.const(s) for s in in_sizes]
    if sizes is not None:
        ratios = [xp.div(xp.const(sizes[i]), ins[i]) for i in range(count)]
        if policy == "stretch":
            outs, factors = [xp.const(sizes[i]) for i in range(count)], ratios
        elif policy in ("not_larger", "not_smaller"):
            factor = xp.reduce(ratios, smallest=policy == "not_larger")
            outs, factors = [xp.floor(factor * size + 0.5) for size in ins], [factor] * count
        else:
            raise Unsupported(f"keep_aspect_ratio_policy={policy!r}")
    else:
        assert scales is not None
        factors = [xp.const(scales[i]) for i in range(count)]
        outs = [xp.floor(factor * size) for factor, size in zip(factors, ins, strict=True)]
    if xp is NumpyMath:
        outs = [int(o) for o in outs]
    rois = [None if roi is None else (roi[i], roi[count + i]) for i in range(count)]
    return [AxisPlan(*args) for args in zip(axes, in_sizes, outs, factors, rois, strict=True)]


def _is_identity(plan: AxisPlan, attrs: _Attrs) -> bool:
    unit_roi = plan.roi is None or attrs.coordinates != "tf_crop_and_resize" or tuple(plan.roi) == (0.0, 1.0)
    return bool(plan.scale == 1.0) and plan.out_size == plan.in_size and unit_roi


def _compute_type(x: tf.Tensor, attrs: _Attrs) -> tf.Tensor:
    """Integers interpolate in float64, as the reference does (nearest just copies)."""
    if attrs.mode == "nearest" or x.dtype.is_floating:
        return x
    return tf.cast(x, tf.float64)


def _to_type(y: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    if y.dtype == dtype:
        return y
    return tf.saturate_cast(tf.round(y), dtype)


def _along(v: Any, axis: int, rank: int) -> Any:
    """``v`` ([out] or [out, taps]) shaped to broadcast at ``axis`` of a rank-``rank`` (+taps) tensor."""
    trailing = rank - axis - 1
    if isinstance(v, np.ndarray):
        return v.reshape((1,) * axis + v.shape + (1,) * trailing)
    shape = tf.concat([tf.ones([axis], tf.int32), tf.shape(v), tf.ones([trailing], tf.int32)], 0)
    return tf.reshape(v, shape)


def _resample(x: tf.Tensor, axis: int, xp: Math, plan: AxisPlan, attrs: _Attrs) -> tf.Tensor:
    """Resize stored axis ``axis`` of ``x`` as ``plan`` says."""
    coords, outside = source_coordinates(xp, attrs.coordinates, plan)
    rank = x.shape.rank
    if attrs.mode == "nearest":
        y = tf.gather(x, xp.to_index(nearest_index(xp, coords, attrs.nearest, plan.scale), plan.in_size), axis=axis)
    else:
        positions, weights = kernel_taps(xp, coords, attrs.kernel, plan)
        taps = tf.gather(x, xp.to_index(positions, plan.in_size), axis=axis)  # [..., out, taps, ...]
        weights = weights.astype(x.dtype.as_numpy_dtype) if xp is NumpyMath else tf.cast(weights, x.dtype)
        y = tf.reduce_sum(taps * _along(weights, axis, rank), axis=axis + 1)
    if outside is not None and (xp is TfMath or outside.any()):
        y = tf.where(_along(outside, axis, rank), tf.cast(attrs.extrapolation, y.dtype), y)
    return y


# -- a single TF resize op where it computes exactly the same -----------------------------------


def _tf_resize(x: tf.Tensor, perm: Any, plans: list[AxisPlan], attrs: _Attrs) -> tf.Tensor | None:
    """ResizeNearestNeighbor / ResizeBilinear on NHWC data when they match ONNX on both spatial axes."""
    if x.shape.rank != 4 or tuple(perm or ()) != layout.channels_last(4) or not plans:
        return None
    if any(p.axis not in (2, 3) for p in plans) or attrs.mode == "cubic":
        return None
    if attrs.mode == "linear" and x.dtype != tf.float32:
        return None
    sizes = [int(s) for s in x.shape.as_list()[1:3]]
    by_axis = {p.axis: p for p in plans}
    wanted = [m for m in (_onnx_matrix(by_axis.get(a), attrs, sizes[a - 2]) for a in (2, 3)) if m is not None]
    if len(wanted) != 2:
        return None
    outs = [m.shape[0] for m in wanted]
    if 0 in outs:
        return None  # TF refuses empty outputs
    for align, half in ((False, True), (False, False), (True, False)):
        made = [_tf_matrix(attrs.mode, size, out, align, half) for size, out in zip(sizes, outs, strict=True)]
        if all(np.allclose(m, w, rtol=0.0, atol=1e-6) for m, w in zip(made, wanted, strict=True)):
            op = tf.raw_ops.ResizeBilinear if attrs.mode == "linear" else tf.raw_ops.ResizeNearestNeighbor
            return op(images=x, size=outs, align_corners=align, half_pixel_centers=half)
    return None


def _onnx_matrix(plan: AxisPlan | None, attrs: _Attrs, size: int) -> np.ndarray | None:
    """The [out, in] matrix ONNX resizes one axis with (None when values are extrapolated)."""
    if plan is None:
        return np.eye(size)
    coords, outside = source_coordinates(NumpyMath, attrs.coordinates, plan)
    if outside is not None and outside.any():
        return None
    if attrs.mode == "nearest":
        positions = nearest_index(NumpyMath, coords, attrs.nearest, plan.scale)[:, None]
        weights = np.ones_like(positions)
    else:
        positions, weights = kernel_taps(NumpyMath, coords, attrs.kernel, plan)
    matrix = np.zeros((len(coords), size))
    rows = np.broadcast_to(np.arange(len(coords))[:, None], positions.shape)
    np.add.at(matrix, (rows, NumpyMath.to_index(positions, size)), weights)
    return matrix


def _tf_matrix(mode: str, size: int, out: int, align: bool, half: bool) -> np.ndarray:
    """The [out, in] matrix of TF's resize kernels, replaying their float32 arithmetic."""
    f32 = np.float32
    scale = f32(size - 1) / f32(out - 1) if align and out > 1 else f32(size) / f32(out)
    y = np.arange(out, dtype=f32)
    matrix = np.zeros((out, size))
    rows = np.arange(out)
    if mode == "nearest":
        source = (y + f32(0.5)) * scale if half else y * scale
        index = np.floor(source + f32(0.5)) if align else np.floor(source)
        matrix[rows, np.clip(index, 0, size - 1).astype(np.int64)] = 1.0
        return matrix
    source = (y + f32(0.5)) * scale - f32(0.5) if half else y * scale
    lower, lerp = np.maximum(np.floor(source), 0).astype(np.int64), source - np.floor(source)
    upper = np.minimum(np.ceil(source), size - 1).astype(np.int64)
    np.add.at(matrix, (rows, lower), 1.0 - lerp)
    np.add.at(matrix, (rows, upper), lerp)
    return matrix
