"""MaxPool (with its optional Indices), AveragePool, GlobalAveragePool and GlobalMaxPool."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.ops import converter
from onnx_direct.ops._padding import per_axis
from onnx_direct.ops._pool_geometry import PoolGeometry, pool_geometry

# TF's 3-d pooling kernels only take these; other types pool plane by plane.
_POOL_3D_TYPES = (tf.float32, tf.float16, tf.bfloat16)


def _lowest(dtype: tf.DType) -> float | int:
    """The padding value a max never picks."""
    return float("-inf") if dtype.is_floating else int(dtype.min)


def _pad_spatial(x: tf.Tensor, begins: Sequence[int], ends: Sequence[int], value: float | int) -> tf.Tensor:
    if not any(begins) and not any(ends):
        return x
    paddings = [[0, 0], *([b, e] for b, e in zip(begins, ends, strict=True)), [0, 0]]
    return tf.pad(x, paddings, constant_values=tf.cast(value, x.dtype))


def _dims(x: tf.Tensor) -> list[int | tf.Tensor]:
    """Static sizes where known, run-time sizes elsewhere (keeps reshapes static when possible)."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape.as_list())]


def _pool(
    x: tf.Tensor, kind: str, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: str
) -> tf.Tensor:
    """Channels-last pooling over 1 to 3 spatial axes with any dilation."""
    if len(kernel) == 3 and x.dtype not in _POOL_3D_TYPES:
        return _pool_3d_by_planes(x, kind, kernel, strides, dilations, padding)
    if all(d == 1 for d in dilations) and all(s <= k for s, k in zip(strides, kernel, strict=True)):
        return tf.nn.pool(x, list(kernel), kind, strides=list(strides), padding=padding)
    if padding != "VALID":
        raise Unsupported("auto_pad SAME with dilations or strides above the window needs static spatial sizes")
    # TF dilates windows only at stride 1 and takes no stride above the window: pool densely,
    # then keep every stride-th window.
    y = tf.nn.pool(x, list(kernel), kind, padding="VALID", dilations=list(dilations))
    return y[(slice(None), *(slice(None, None, s) for s in strides), slice(None))]


def _pool_3d_by_planes(
    x: tf.Tensor, kind: str, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: str
) -> tf.Tensor:
    """3-d max / average pooling as 2-d pooling of each depth plane, then along depth (both separable)."""
    n, depth, _, _, channels = _dims(x)
    planes = _pool(tf.reshape(x, [-1, *_dims(x)[2:]]), kind, kernel[1:], strides[1:], dilations[1:], padding)
    _, height, width, _ = _dims(planes)
    rows = tf.reshape(planes, [n, depth, -1, channels])
    rows = _pool(rows, kind, [kernel[0], 1], [strides[0], 1], [dilations[0], 1], padding)
    return tf.reshape(rows, [n, _dims(rows)[1], height, width, channels])


def _pooled(
    x: tf.Tensor, kind: str, geometry: PoolGeometry | None, node: Node, pad_value: float | int, same: bool
) -> tf.Tensor:
    """Pool ``x`` over the windows ONNX defines: with TF's 'SAME' padding when ``same``, else padding
    explicitly with ``pad_value`` (AveragePool rescales after)."""
    spatial = x.shape.rank - 2
    if geometry is None:  # auto_pad SAME_UPPER on dynamic sizes is TF's 'SAME'
        dilations = per_axis(node, "dilations", spatial)
        strides = per_axis(node, "strides", spatial)
        return _pool(x, kind, node.attr("kernel_shape"), strides, dilations, "SAME")
    if same:
        return _pool(x, kind, geometry.kernel, geometry.strides, geometry.dilations, "SAME")
    ends = [end + extra for end, extra in zip(geometry.ends, geometry.extra(), strict=True)]
    padded = _pad_spatial(x, geometry.begins, ends, pad_value)
    return _pool(padded, kind, geometry.kernel, geometry.strides, geometry.dilations, "VALID")


@converter("MaxPool", since=1)
def max_pool(node: Node) -> list[Value]:
    rank = node.rank(0)
    if not 3 <= rank <= 5:
        raise Unsupported(f"{rank - 2}-d pooling")
    x = node.channels_last(0)
    geometry = pool_geometry(node, node.shape(0)[2:])
    same = geometry is not None and geometry.is_tf_same()
    y = _pooled(x, "MAX", geometry, node, _lowest(x.dtype), same)
    outputs = [Value(y, layout.channels_last(rank))]
    if len(node.outputs) > 1 and node.outputs[1]:
        if geometry is None or not geometry.is_static:
            raise Unsupported("MaxPool Indices need static spatial sizes; fix them with input_shape")
        indices = _argmax_indices(x, y, geometry, int(node.attr("storage_order", 0)))
        outputs.append(Value(indices, layout.channels_last(rank)))
    return outputs


def _first_max_slot(
    x: tf.Tensor, y: tf.Tensor, geometry: PoolGeometry, taps: np.ndarray, real: np.ndarray
) -> tf.Tensor:
    """[N, out, C]: which element of each window (in ONNX's scan order) is the first real one equal to the max."""
    ends = [end + extra for end, extra in zip(geometry.ends, geometry.extra(), strict=True)]
    padded = _pad_spatial(x, geometry.begins, ends, _lowest(x.dtype))
    n, channels = _dims(x)[0], x.shape[-1]
    windows = tf.gather(tf.reshape(padded, [n, -1, channels]), taps, axis=1)  # [N, out, K, C]
    best = tf.reshape(y, [n, taps.shape[0], 1, channels])
    hit = tf.logical_and(tf.equal(windows, best), real[None, :, :, None])
    size = taps.shape[1]
    slots = tf.constant(np.arange(size).reshape(1, 1, -1, 1), tf.int64)
    return tf.minimum(tf.reduce_min(tf.where(hit, slots, tf.constant(size, tf.int64)), axis=2), size - 1)


def _argmax_indices(x: tf.Tensor, y: tf.Tensor, geometry: PoolGeometry, storage_order: int) -> tf.Tensor:
    """ONNX Indices: the flat NCHW index (row- or column-major spatially) of each window's first maximum."""
    taps, real, source = geometry.window_taps()
    slot = _first_max_slot(x, y, geometry, taps, real)
    in_sizes = [int(s or 0) for s in geometry.in_sizes]
    coordinates = tuple(np.moveaxis(source, -1, 0))
    spatial_index = np.ravel_multi_index(coordinates, in_sizes, mode="clip", order="F" if storage_order else "C")
    rows = np.arange(taps.shape[0], dtype=np.int64)[None, :, None] * taps.shape[1]
    flat = tf.gather(spatial_index.reshape(-1), slot + rows)
    n, channels, plane = _dims(x)[0], x.shape[-1], int(np.prod(in_sizes))
    batch = tf.range(tf.cast(n, tf.int64), dtype=tf.int64)[:, None, None] * channels * plane
    flat = flat + batch + np.arange(channels, dtype=np.int64)[None, None, :] * plane
    return tf.reshape(flat, [n, *geometry.out_sizes(), channels])


@converter("AveragePool", since=1)
def average_pool(node: Node) -> Value:
    rank = node.rank(0)
    if not 3 <= rank <= 5:
        raise Unsupported(f"{rank - 2}-d pooling")
    x = node.channels_last(0)
    geometry = pool_geometry(node, node.shape(0)[2:])
    include_pad = bool(node.attr("count_include_pad", 0))
    if geometry is None and include_pad:
        raise Unsupported("count_include_pad with auto_pad SAME needs static spatial sizes")
    # TF's 'SAME' leaves its padding out of the average, as count_include_pad=0 does.
    same = geometry is not None and geometry.is_tf_same() and not include_pad
    y = _pooled(x, "AVG", geometry, node, 0, same)
    if geometry is not None and geometry.has_padding() and not same:
        y = _rescaled(y, x, geometry, include_pad)
    return Value(y, layout.channels_last(rank))


def _rescaled(y: tf.Tensor, x: tf.Tensor, geometry: PoolGeometry, include_pad: bool) -> tf.Tensor:
    """The VALID pool divided every window by its full size: rescale to the elements that count."""
    if not geometry.is_static:
        if include_pad:
            return y  # without ceil_mode (which needs static sizes) every window counts its whole kernel
        # The share of each window that is real input, pooled from a mask of ones.
        ones = _pad_spatial(tf.ones_like(x[..., :1]), geometry.begins, geometry.ends, 0)
        return y / _pool(ones, "AVG", geometry.kernel, geometry.strides, geometry.dilations, "VALID")
    counts = geometry.window_counts(include_pad)
    full = float(np.prod(geometry.kernel))
    if np.all(counts == full):
        return y
    scale = (full / np.maximum(counts, 1)).reshape(1, *counts.shape, 1)
    return y * tf.constant(scale, y.dtype)


def _global_pool(reduce: Callable[..., tf.Tensor]) -> Callable[[Node], Value]:
    def convert(node: Node) -> Value:
        value = node.value(0)
        axes = [layout.stored_axis(value.perm, a) for a in range(2, value.rank)]
        return Value(reduce(node.tensor(0, value.perm), axis=axes, keepdims=True), value.perm)

    return convert


converter("GlobalAveragePool", since=1)(_global_pool(tf.reduce_mean))
converter("GlobalMaxPool", since=1)(_global_pool(tf.reduce_max))
