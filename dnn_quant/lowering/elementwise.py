"""Element-wise ops: functions of one activation are tracked (and become lookup tables where consumed);
add, subtract and multiply of two different activations are layers of their own."""

from __future__ import annotations

import math

from dnn_quant.graph import Node
from dnn_quant.layers.eltwise import FloatAdd, FloatMul
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.functions import ELEMENTWISE

_CLAMPS = {"Relu": (0.0, math.inf), "Relu6": (0.0, 6.0)}


def function_rule(ctx: Lowering, node: Node) -> bool:
    """An element-wise op whose activation inputs all come from one tensor: remember it, emit nothing yet."""
    if node.op not in ELEMENTWISE:
        return False
    sources = set()
    for tensor in node.inputs:
        value = ctx.const(tensor)
        if value is not None:
            if value.size != 1:
                return False
            continue
        sources.add(tensor if tensor in ctx.produced else ctx.function_of.get(tensor, tensor))
    if len(sources) != 1:
        return False
    ctx.function_of[node.out] = sources.pop()
    ctx.covered.add(node.name)
    if _split_sigmoid(ctx, node):
        ctx.materialize(node.out)
    return True


def _split_sigmoid(ctx: Lowering, node: Node) -> bool:
    # swish_layer_mode "sigmoid_mul": a sigmoid is its own table and x * sigmoid(x) an element-wise multiply
    return ctx.swish_layer_mode == "sigmoid_mul" and node.op == "Sigmoid"


def binary_rule(ctx: Lowering, node: Node) -> bool:
    if node.op not in ("AddV2", "Add", "Sub", "Mul") or len(ctx.activations(node)) != 2:
        return False
    inputs = list(node.inputs)
    layer: FloatAdd | FloatMul
    if node.op == "Mul":
        layer = FloatMul(node.out, inputs, [node.name])
    else:
        layer = FloatAdd(node.out, inputs, [node.name], subtract=node.op == "Sub")
    while (consumer := ctx.single_consumer(layer.name)) is not None and (bounds := _clamp(ctx, consumer)):
        layer.low, layer.high = max(layer.low, bounds[0]), min(layer.high, bounds[1])
        layer.ops.append(consumer.name)
        layer.name = consumer.out
    ctx.emit(layer, layer.ops)
    return True


def _clamp(ctx: Lowering, node: Node) -> tuple[float, float] | None:
    if node.op in _CLAMPS:
        return _CLAMPS[node.op]
    consts = [ctx.const(t) for t in node.inputs]
    value = next((c for c in consts if c is not None), None)
    if node.op not in ("Maximum", "Minimum") or value is None or value.size != 1:
        return None
    bound = float(value.reshape(-1)[0])
    return (bound, math.inf) if node.op == "Maximum" else (-math.inf, bound)
