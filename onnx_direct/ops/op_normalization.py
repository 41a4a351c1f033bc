"""BatchNormalization, InstanceNormalization, LayerNormalization and LRN, in whatever layout the input has."""

from __future__ import annotations

import numpy as np
import onnx
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Data, Node, Unsupported, Value
from onnx_direct.layout import Perm
from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import aligned


def _perm(value: Value) -> Perm:
    return layout.identity(value.rank) if value.perm is None else value.perm


def _per_channel(param: Data, rank: int, perm: Perm) -> Data:
    """A [C] (or [C, D1, ...]) parameter shaped to broadcast against data of ``rank`` stored with ``perm``."""
    shape = list(param.shape) if isinstance(param, np.ndarray) else param.shape.as_list()
    full = [1, *shape, *[1] * (rank - 1 - len(shape))]
    if isinstance(param, np.ndarray):
        return np.transpose(param.reshape(full), perm)
    if layout.is_pure_reshape(full, perm):
        return tf.reshape(param, [full[p] for p in perm])
    return tf.transpose(tf.reshape(param, full), perm)


def _param(node: Node, i: int, dtype: tf.DType) -> Data:
    """Input ``i`` in ``dtype``: numpy when constant (folded with the other constants), else a tensor."""
    if node.is_const(i):
        return np.asarray(node.const(i), dtype.as_numpy_dtype)
    return tf.cast(node.tensor(i), dtype)


def _scale_shift(node: Node, epsilon: float, dtype: tf.DType) -> tuple[Data, Data]:
    """Inference BatchNormalization as ``x * mul + add``, folded in numpy when the statistics are constant."""
    scale, bias, mean, var = (_param(node, i, dtype) for i in range(1, 5))
    if all(isinstance(p, np.ndarray) for p in (scale, bias, mean, var)):
        mul = scale / np.sqrt(var + np.asarray(epsilon, var.dtype))
    else:
        mul = scale * tf.math.rsqrt(var + tf.cast(epsilon, dtype))
    return mul, bias - mean * mul


@converter("BatchNormalization", since=1)
def batch_normalization(node: Node) -> Value | list[Value]:
    value = node.value(0)
    x = node.tensor(0, value.perm)
    epsilon = float(node.attr("epsilon", 1e-5))
    if node.opset >= 14 and int(node.attr("training_mode", 0)):
        return _batch_norm_training(node, value, x, epsilon)
    if any(node.outputs[1:]):
        raise Unsupported("BatchNormalization training outputs (mean, var, saved_mean, saved_var)")
    mul, add = _scale_shift(node, epsilon, x.dtype)
    perm = _perm(value)
    return Value(x * _per_channel(mul, value.rank, perm) + _per_channel(add, value.rank, perm), value.perm)


def _batch_norm_training(node: Node, value: Value, x: tf.Tensor, epsilon: float) -> list[Value]:
    """training_mode=1: normalize with the batch statistics and update the running ones."""
    perm = _perm(value)
    channel = layout.stored_axis(value.perm, 1)
    mean, var = tf.nn.moments(x, [a for a in range(value.rank) if a != channel])  # [C], population variance
    scale, bias = (tf.convert_to_tensor(_param(node, i, x.dtype)) for i in (1, 2))
    mul = scale * tf.math.rsqrt(var + tf.cast(epsilon, x.dtype))
    y = x * _per_channel(mul, value.rank, perm) + _per_channel(bias - mean * mul, value.rank, perm)
    momentum = float(node.attr("momentum", 0.9))
    outputs = [Value(y, value.perm)]
    for i, batch in ((3, mean), (4, var)):
        running = tf.convert_to_tensor(_param(node, i, node.dtype(i)))
        outputs.append(Value(running * momentum + tf.cast(batch, running.dtype) * (1 - momentum)))
    return outputs


@converter("InstanceNormalization", since=1)
def instance_normalization(node: Node) -> Value:
    value = node.value(0)
    x = node.tensor(0, value.perm)
    perm = _perm(value)
    axes = [layout.stored_axis(value.perm, a) for a in range(2, value.rank)]
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    epsilon = float(node.attr("epsilon", 1e-5))
    scale = _per_channel(_param(node, 1, x.dtype), value.rank, perm)
    bias = _per_channel(_param(node, 2, x.dtype), value.rank, perm)
    return Value((x - mean) * (tf.math.rsqrt(var + tf.cast(epsilon, x.dtype)) * scale) + bias, value.perm)


@converter("LayerNormalization", since=17)
def layer_normalization(node: Node) -> list[Value]:
    indices = [i for i in range(3) if node.has_input(i)]
    tensors, perm = aligned(node, indices)
    x, scale = tensors[0], tensors[1]
    rank = node.rank(0)
    axis = layout.normalize_axis(int(node.attr("axis", -1)), rank)
    axes = sorted(layout.stored_axis(perm, a) for a in range(axis, rank))
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    inv_std = tf.math.rsqrt(var + tf.cast(float(node.attr("epsilon", 1e-5)), x.dtype))
    y = (x - mean) * inv_std * scale
    if len(tensors) > 2:
        y = y + tensors[2]
    # Mean and InvStdDev are computed in stash_type (float by default).
    stash = tf.as_dtype(onnx.helper.tensor_dtype_to_np_dtype(int(node.attr("stash_type", 1))))
    return [Value(y, perm), Value(tf.cast(mean, stash), perm), Value(tf.cast(inv_std, stash), perm)]


@converter("LRN", since=1)
def lrn(node: Node) -> Value:
    value = node.value(0)
    x = node.tensor(0, value.perm)
    size = int(node.attr("size"))
    alpha, beta, bias = (
        float(node.attr(name, default)) for name, default in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0))
    )
    channel = layout.stored_axis(value.perm, 1)
    if value.rank == 4 and channel == 3 and size % 2 == 1 and x.dtype == tf.float32:
        y = tf.nn.local_response_normalization(x, (size - 1) // 2, bias, alpha / size, beta)
        return Value(y, value.perm)
    return Value(x / tf.pow(bias + alpha / size * _window_sum(tf.square(x), channel, size), beta), value.perm)


def _window_sum(x: tf.Tensor, axis: int, size: int) -> tf.Tensor:
    """Sum over channels [c - floor((size-1)/2), c + ceil((size-1)/2)] (zeros beyond the edges)."""
    channels = x.shape[axis]
    if channels is None:
        raise Unsupported("LRN needs a static channel count")
    before = (size - 1) // 2
    paddings = [[0, 0]] * x.shape.rank
    paddings[axis] = [before, size - 1 - before]
    padded = tf.pad(x, paddings)
    prefix = (slice(None),) * axis
    return tf.add_n([padded[(*prefix, slice(j, j + channels))] for j in range(size)])
