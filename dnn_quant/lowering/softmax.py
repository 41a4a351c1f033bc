"""Softmax: TF's op, and the ``exp(x - max) / sum`` form converters emit for old opsets."""

from __future__ import annotations

from dnn_quant.graph import Node
from dnn_quant.layers.softmax import FloatSoftmax
from dnn_quant.lowering.context import Lowering


def softmax_rule(ctx: Lowering, node: Node) -> bool:
    if node.op == "Softmax":
        ctx.emit(FloatSoftmax(node.out, [node.inputs[0]], [node.name], axes=[-1]), [node.name])
        return True
    return node.op == "Max" and _decomposed(ctx, node)


def _decomposed(ctx: Lowering, top: Node) -> bool:
    """Max(x) -> Sub(x, max) -> Exp -> Sum, and RealDiv(exp, sum): one softmax over the reduced axis."""
    x, axes = top.inputs
    axis = ctx.const(axes)
    if axis is None or not top.attr("keep_dims"):
        return False
    sub = ctx.single_consumer(top.out)
    if sub is None or sub.op != "Sub" or sub.inputs != [x, top.out]:
        return False
    exp = ctx.single_consumer(sub.out)
    users = [ctx.graph.nodes[n] for n in ctx.graph.consumers.get(exp.out, [])] if exp is not None else []
    if exp is None or exp.op != "Exp" or sorted(u.op for u in users) != ["RealDiv", "Sum"]:
        return False
    total = next(u for u in users if u.op == "Sum")
    divide = next(u for u in users if u.op == "RealDiv")
    if divide.inputs != [exp.out, total.out] or (total.inputs[1] != axes and not _same(ctx, total.inputs[1], axes)):
        return False
    ops = [top.name, sub.name, exp.name, total.name, divide.name]
    ctx.emit(FloatSoftmax(divide.out, [x], ops, axes=[int(a) for a in axis.reshape(-1)]), ops)
    return True


def _same(ctx: Lowering, a: str, b: str) -> bool:
    va, vb = ctx.const(a), ctx.const(b)
    return va is not None and vb is not None and va.tolist() == vb.tolist()
