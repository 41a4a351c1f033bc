"""Conv: N-d convolution, grouped and depthwise, dilated, every auto_pad mode."""

from __future__ import annotations

import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.ops import converter
from onnx_direct.ops._padding import per_axis, spatial_padding


@converter("Conv", since=1)
def conv(node: Node) -> Value:
    rank = node.rank(0)
    spatial = rank - 2
    if not 1 <= spatial <= 3:
        raise Unsupported(f"{spatial}-d convolution")
    w_shape = node.static_shape(1)
    kernel = [int(k) for k in node.attr("kernel_shape", w_shape[2:])]
    strides = per_axis(node, "strides", spatial)
    dilations = per_axis(node, "dilations", spatial)
    group = int(node.attr("group", 1))
    x = node.channels_last(0)
    # filters in TF order: spatial..., in/group, out
    w = node.tensor(1, (*range(2, rank), 1, 0))
    x, padding = spatial_padding(node, x, kernel, strides, dilations)
    in_channels = node.shape(0)[1]
    if group == 1:
        y = tf.nn.convolution(x, w, strides=strides, padding=padding, dilations=dilations)
    elif spatial == 2 and group == in_channels and w_shape[0] % group == 0 and _depthwise_ok(strides, dilations):
        y = _depthwise(x, w, w_shape, group, strides, dilations, padding)
    else:
        y = _grouped(x, w, group, strides, dilations, padding)
    if node.has_input(2):
        y = tf.nn.bias_add(y, node.tensor(2))
    return Value(y, layout.channels_last(rank))


def _depthwise_ok(strides: list[int], dilations: list[int]) -> bool:
    # TF's depthwise kernel takes dilation only with unit strides.
    return all(d == 1 for d in dilations) or all(s == 1 for s in strides)


def _depthwise(
    x: tf.Tensor, w: tf.Tensor, w_shape: list[int], group: int, strides: list[int], dilations: list[int], padding: str
) -> tf.Tensor:
    multiplier = w_shape[0] // group
    # [kh, kw, 1, C*mult] -> [kh, kw, C, mult]: output channel c*mult+k is filter [.., c, k]
    w = tf.reshape(w, [w_shape[2], w_shape[3], group, multiplier])
    return tf.nn.depthwise_conv2d(x, w, strides=[1, *strides, 1], padding=padding, dilations=dilations)


def _grouped(
    x: tf.Tensor, w: tf.Tensor, group: int, strides: list[int], dilations: list[int], padding: str
) -> tf.Tensor:
    xs = tf.split(x, group, axis=-1)
    ws = tf.split(w, group, axis=-1)
    ys = [
        tf.nn.convolution(xi, wi, strides=strides, padding=padding, dilations=dilations)
        for xi, wi in zip(xs, ws, strict=True)
    ]
    return tf.concat(ys, axis=-1)
