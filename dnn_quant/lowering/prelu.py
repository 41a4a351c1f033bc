"""PReLU as converters emit it: ``where(x < 0, x * slope, x)`` with a per-channel (or single) slope."""

from __future__ import annotations

import numpy as np

from dnn_quant.graph import Node
from dnn_quant.layers.prelu import FloatPRelu
from dnn_quant.lowering.context import Lowering


def prelu_rule(ctx: Lowering, node: Node) -> bool:
    if node.op != "Less" or ctx.const(node.inputs[1]) is None or np.any(ctx.const(node.inputs[1])):
        return False
    x = node.inputs[0]
    select = ctx.single_consumer(node.out)
    if (
        select is None
        or select.op not in ("SelectV2", "Select")
        or select.inputs[0] != node.out
        or select.inputs[2] != x
    ):
        return False
    scaled = ctx.graph.producer(select.inputs[1])
    if scaled.op != "Mul" or ctx.graph.single_consumer(scaled.out) != select.name or x not in scaled.inputs:
        return False
    slope = ctx.const(next((t for t in scaled.inputs if t != x), x))
    channels = ctx.graph.shapes.get(x, (0,))[-1]
    if slope is None or (slope.size != 1 and (slope.size != channels or slope.shape[-1] != channels)):
        return False
    vector = np.broadcast_to(slope.reshape(-1).astype(np.float64), (channels,)).copy()
    ops = [node.name, scaled.name, select.name]
    ctx.emit(FloatPRelu(select.out, [x], ops, slope=vector), ops)
    return True
