"""Max pooling, average pooling and global means over the spatial axes of NHWC tensors."""

from __future__ import annotations

import numpy as np

from dnn_quant.graph import Node
from dnn_quant.layers.pool import FloatAvgPool, FloatMaxPool
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.geometry import explicit_pads, pad_folds, spatial_pads


def pool_rule(ctx: Lowering, node: Node) -> bool:
    if node.op not in ("MaxPool", "AvgPool"):
        return False
    x, covers, pads = node.inputs[0], [node.name], [0, 0, 0, 0]
    producer = ctx.graph.producer(x) if x not in ctx.graph.inputs else None
    if node.op == "MaxPool" and producer is not None and pad_folds(ctx, producer):
        pads = spatial_pads(ctx, producer, fill=-float("inf")) or pads
        x, covers = producer.inputs[0], [producer.name, *covers]
    kernel, strides = _hw(node.attr("ksize")), _hw(node.attr("strides"))
    in_shape = ctx.graph.shapes[x]
    pads = [p + q for p, q in zip(pads, explicit_pads(node, in_shape, kernel, strides, [1, 1]), strict=True)]
    if node.op == "MaxPool":
        ctx.emit(FloatMaxPool(node.out, [x], covers, kernel, strides, pads), covers)
    else:
        layer = FloatAvgPool(node.out, [x], covers, kernel, strides, pads, list(in_shape[1:3]))
        _absorb_position_scale(ctx, layer)
        ctx.emit(layer, layer.ops)
    return True


def _absorb_position_scale(ctx: Lowering, layer: FloatAvgPool) -> None:
    """A multiply by a per-position (or scalar) positive constant after the pool, as converters emit to turn
    TF's divisor into ONNX's ``count_include_pad`` one, goes into the pool's multipliers."""
    consumer = ctx.single_consumer(layer.name)
    if consumer is None or consumer.op != "Mul":
        return
    value = next((ctx.const(t) for t in consumer.inputs if t != layer.name), None)
    out_shape = ctx.graph.shapes.get(layer.name)
    if value is None or out_shape is None or value.ndim > 4 or (value <= 0).any():
        return
    aligned = value.reshape((1,) * (4 - value.ndim) + value.shape)
    if aligned.shape[0] != 1 or aligned.shape[3] != 1:
        return
    layer.position_scale = np.broadcast_to(aligned[0, :, :, 0], tuple(out_shape[1:3])).astype(np.float64)
    layer.ops.append(consumer.name)
    layer.name = consumer.out


def mean_rule(ctx: Lowering, node: Node) -> bool:
    """``Mean`` over H and W of an NHWC tensor: a global average pool."""
    axes = ctx.const(node.inputs[1]) if node.op == "Mean" else None
    shape = ctx.graph.shapes.get(node.inputs[0])
    if axes is None or shape is None or len(shape) != 4 or sorted(int(a) % 4 for a in axes.reshape(-1)) != [1, 2]:
        return False
    hw = list(shape[1:3])
    layer = FloatAvgPool(
        node.out, [node.inputs[0]], [node.name], hw, hw, [0, 0, 0, 0], hw, keep_dims=bool(node.attr("keep_dims"))
    )
    ctx.emit(layer, layer.ops)
    return True


def _hw(values: object) -> list[int]:
    listed = [int(v) for v in values] if isinstance(values, list) else [1, 1, 1, 1]
    return listed[1:3]
