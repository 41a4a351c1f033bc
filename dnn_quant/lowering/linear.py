"""Convolutions, dense layers and per-channel affine ops, with what follows them absorbed into the output stage:
bias, batch norm (Mul/Add by constants), ReLU/ReLU6/clip. A Pad just before a convolution becomes its padding."""

from __future__ import annotations

import math

import numpy as np

from dnn_quant.graph import Node, op_name
from dnn_quant.layers.conv import FloatConv
from dnn_quant.layers.layout import FloatLayout
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.geometry import explicit_pads, pad_folds, spatial_pads

_AFFINE = {"BiasAdd", "AddV2", "Add", "Sub", "Mul", "RealDiv"}


def conv_rule(ctx: Lowering, node: Node) -> bool:
    if node.op not in ("Conv2D", "DepthwiseConv2dNative") or node.inputs[1] not in ctx.graph.constants:
        return False
    if node.attr("data_format") not in (None, "", "NHWC"):
        ctx.unsupported.append((node.op, node.name, f"data_format {node.attr('data_format')}"))
        return True
    x, covers = node.inputs[0], [node.name]
    weights = ctx.graph.constants[node.inputs[1]].astype(np.float64)
    in_channels = ctx.graph.shapes[x][-1]
    groups = in_channels // weights.shape[2]
    if node.op == "DepthwiseConv2dNative":  # [kh, kw, C, mult] -> HWIO with one input channel per group
        groups = weights.shape[2]
        weights = weights.reshape(*weights.shape[:2], 1, -1)
    pads, x, covers = _absorb_pad(ctx, x, covers)
    strides, dilations = _spatial(node.attr("strides")), _spatial(node.attr("dilations")) or [1, 1]
    pads = [
        p + q
        for p, q in zip(
            pads, explicit_pads(node, ctx.graph.shapes[x], weights.shape[:2], strides, dilations), strict=True
        )
    ]
    layer = FloatConv(node.out, [x], covers, weights, np.zeros(weights.shape[-1]), strides, dilations, pads, groups)
    absorb_following(ctx, layer)
    ctx.emit(layer, layer.ops)
    return True


def dense_rule(ctx: Lowering, node: Node) -> bool:
    if node.op != "MatMul" or node.inputs[1] not in ctx.graph.constants or node.inputs[0] in ctx.graph.constants:
        return False
    x = node.inputs[0]
    if node.attr("transpose_a") and not _batch_first(ctx, x):
        transposed = f"{node.name}/transposed_a:0"
        ctx.emit(FloatLayout(transposed, [x], [], "Transpose", {}, {"perm": np.array([1, 0])}), [])
        x = transposed
    weights = ctx.graph.constants[node.inputs[1]].astype(np.float64)
    weights = weights.T if node.attr("transpose_b") else weights
    layer = FloatConv(node.out, [x], [node.name], weights, np.zeros(weights.shape[-1]), dense=True)
    absorb_following(ctx, layer)
    ctx.emit(layer, layer.ops)
    return True


def _batch_first(ctx: Lowering, x: str) -> bool:
    """A flatten to ``[K, 1]`` (the batch of 1 last) read transposed is a flatten to ``[1, K]``: make it that, so
    the layers work at any batch."""
    reshape = next((layer for layer in ctx.layers if layer.name == x), None)
    if not isinstance(reshape, FloatLayout) or reshape.op != "Reshape" or ctx.graph.single_consumer(x) is None:
        return False
    shape = [int(d) for d in reshape.consts["shape"]]
    source = ctx.graph.shapes.get(reshape.inputs[0])
    if len(shape) != 2 or shape[1] != 1 or not source or source[0] != 1:
        return False
    reshape.consts["shape"] = np.array([1, shape[0]], np.int64)
    reshape.attrs["batch_free"] = True
    return True


def affine_rule(ctx: Lowering, node: Node) -> bool:
    """``x * c + d`` with per-channel constants and no linear layer before it: a 1x1 depthwise convolution.

    When the channels are not the last axis (an NCHW input normalisation), the convolution runs on a
    channels-last copy between two transposes.
    """
    if node.op not in _AFFINE or len(ctx.activations(node)) != 1:
        return False
    x = ctx.activations(node)[0]
    shape = ctx.graph.shapes.get(x)
    value = ctx.const(next(t for t in node.inputs if t != x))
    axis = _channel_axis(value, shape)
    if shape is None or len(shape) != 4 or axis is None:
        return False
    channels = shape[axis]
    layer = FloatConv(x, [x], [], np.ones((1, 1, 1, channels)), np.zeros(channels), groups=channels)
    if _absorb(ctx, layer, node, axis) is None:
        return False
    absorb_following(ctx, layer, axis)
    if axis == 3:
        layer.inputs = [x]
        ctx.emit(layer, layer.ops)
        return True
    perm = [i for i in range(4) if i != axis] + [axis]
    channels_last = f"{node.name}/channels_last:0"
    ctx.emit(FloatLayout(channels_last, [x], [], "Transpose", {}, {"perm": np.array(perm)}), [])
    final = layer.name
    layer.name, layer.inputs, layer.range_of = f"{final.split(':')[0]}/channels_last_out:0", [channels_last], final
    ctx.emit(layer, [])
    inverse = np.argsort(perm)
    ctx.emit(FloatLayout(final, [layer.name], layer.ops, "Transpose", {}, {"perm": inverse}), layer.ops)
    return True


def _channel_axis(value: np.ndarray | None, shape: tuple[int, ...] | None) -> int | None:
    """The one axis a constant varies along when broadcast against ``shape``."""
    if value is None or shape is None or value.size <= 1 or value.ndim > len(shape):
        return None
    aligned = (1,) * (len(shape) - value.ndim) + value.shape
    varying = [i for i, d in enumerate(aligned) if d != 1]
    if len(varying) != 1 or aligned[varying[0]] != shape[varying[0]]:
        return None
    return varying[0]


def absorb_following(ctx: Lowering, layer: FloatConv, axis: int = -1) -> None:
    """Fold what follows ``layer`` (bias, batch norm, ReLU/clip) into it, for as long as it folds."""
    while (consumer := ctx.single_consumer(layer.name)) is not None:
        if _absorb(ctx, layer, consumer, axis) is None:
            return


def _absorb(ctx: Lowering, layer: FloatConv, node: Node, axis: int = -1) -> FloatConv | None:
    """Fold ``node`` (a consumer of ``layer.name``) into the layer, or return None if it does not fold."""
    clamp = _clamp(ctx, node, layer.name)
    if clamp is not None:
        layer.low, layer.high = max(layer.low, clamp[0]), min(layer.high, clamp[1])
    elif math.isinf(layer.low) and math.isinf(layer.high):  # affine ops fold only before any clamp
        if not _fold_affine(ctx, layer, node, axis):
            return None
    else:
        return None
    layer.ops.append(node.name)
    layer.name = node.out
    return layer


def _clamp(ctx: Lowering, node: Node, x: str) -> tuple[float, float] | None:
    if node.op == "Relu":
        return 0.0, math.inf
    if node.op == "Relu6":
        return 0.0, 6.0
    other = [t for t in node.inputs if t != x]
    value = ctx.const(other[0]) if len(other) == 1 else None
    if value is None or value.size != 1:
        return None
    bound = float(value.reshape(-1)[0])
    return {"Maximum": (bound, math.inf), "Minimum": (-math.inf, bound)}.get(node.op)


def _fold_affine(ctx: Lowering, layer: FloatConv, node: Node, axis: int) -> bool:
    if node.op not in _AFFINE or len(node.inputs) != 2:
        return False
    x_first = node.inputs[0] == layer.name
    value = ctx.const(node.inputs[1] if x_first else node.inputs[0])
    channels = layer.weights.shape[-1]
    shape = ctx.graph.shapes.get(layer.name)
    if value is None or shape is None or (value.size != 1 and _channel_axis(value, shape) != axis % len(shape)):
        return False
    vector = np.broadcast_to(value.reshape(-1).astype(np.float64), (channels,))
    if node.op in ("BiasAdd", "AddV2", "Add"):
        layer.bias = layer.bias + vector
    elif node.op == "Sub" and x_first:
        layer.bias = layer.bias - vector
    elif node.op == "Mul":
        layer.weights, layer.bias = layer.weights * vector, layer.bias * vector
    elif node.op == "RealDiv" and x_first:
        layer.weights, layer.bias = layer.weights / vector, layer.bias / vector
    else:
        return False
    return True


def _absorb_pad(ctx: Lowering, x: str, covers: list[str]) -> tuple[list[int], str, list[str]]:
    producer = ctx.graph.producer(x) if x not in ctx.graph.inputs else None
    if producer is None or not pad_folds(ctx, producer):
        return [0, 0, 0, 0], x, covers
    pads = spatial_pads(ctx, producer, fill=0.0)
    assert pads is not None
    return pads, producer.inputs[0], [producer.name, *covers]


def _spatial(values: object) -> list[int]:
    listed = list(values) if isinstance(values, list) else []
    return [int(v) for v in listed[1:3]] if len(listed) == 4 else []


__all__ = ["absorb_following", "affine_rule", "conv_rule", "dense_rule", "op_name"]
