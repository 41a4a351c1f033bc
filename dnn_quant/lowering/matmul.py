"""MatMul of two activations (``MatMul``, ``BatchMatMul*``), with a constant scale and a clamp after it absorbed."""

from __future__ import annotations

import math

from dnn_quant.graph import Node
from dnn_quant.layers.matmul import MAX_DEPTH, FloatMatMul
from dnn_quant.lowering.context import Lowering

# The op types and their transpose attributes.
_OPS = {
    "MatMul": ("transpose_a", "transpose_b"),
    "BatchMatMul": ("adj_x", "adj_y"),
    "BatchMatMulV2": ("adj_x", "adj_y"),
    "BatchMatMulV3": ("adj_x", "adj_y"),
}
_CLAMPS = {"Relu": (0.0, math.inf), "Relu6": (0.0, 6.0)}


def matmul_rule(ctx: Lowering, node: Node) -> bool:
    if node.op not in _OPS or len(ctx.activations(node)) != 2:
        return False
    flag_a, flag_b = _OPS[node.op]
    transpose_a, transpose_b = bool(node.attr(flag_a)), bool(node.attr(flag_b))
    a_shape = ctx.graph.shapes.get(node.inputs[0])
    depth = a_shape[-2 if transpose_a else -1] if a_shape else 0
    if depth > MAX_DEPTH:
        ctx.unsupported.append((node.op, node.name, f"a sum over {depth} products overflows the int32 accumulator"))
        return True
    layer = FloatMatMul(node.out, list(node.inputs), [node.name], transpose_a=transpose_a, transpose_b=transpose_b)
    while (consumer := ctx.single_consumer(layer.name)) is not None and _absorb(ctx, layer, consumer):
        layer.ops.append(consumer.name)
        layer.name = consumer.out
    ctx.emit(layer, layer.ops)
    return True


def _absorb(ctx: Lowering, layer: FloatMatMul, node: Node) -> bool:
    """A clamp narrows the output range; a scale by a scalar constant (before any clamp) joins the multiplier."""
    other = [t for t in node.inputs if t != layer.name]
    value = ctx.const(other[0]) if len(other) == 1 else None
    scalar = None if value is None or value.size != 1 else float(value.reshape(-1)[0])
    bounds = _CLAMPS.get(node.op)
    if scalar is not None and node.op in ("Maximum", "Minimum"):
        bounds = (scalar, math.inf) if node.op == "Maximum" else (-math.inf, scalar)
    if bounds is not None:
        layer.low, layer.high = max(layer.low, bounds[0]), min(layer.high, bounds[1])
        return True
    unclamped = math.isinf(layer.low) and math.isinf(layer.high)
    if not unclamped or scalar is None or scalar == 0.0 or not math.isfinite(scalar):
        return False
    if node.op == "Mul":
        layer.factor *= scalar
    elif node.op == "RealDiv" and node.inputs[0] == layer.name:
        layer.factor /= scalar
    else:
        return False
    return True
