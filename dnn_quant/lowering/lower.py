"""The rule loop: every op of the float graph ends up in exactly one layer, or is reported unsupported."""

from __future__ import annotations

from collections.abc import Callable

from dnn_quant.graph import FloatGraph, Node
from dnn_quant.layers.base import FloatLayer
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.conv_transpose import conv_transpose_rule, output_size_rule
from dnn_quant.lowering.elementwise import binary_rule, function_rule
from dnn_quant.lowering.layer_norm import layer_norm_rule
from dnn_quant.lowering.layout import concat_rule, layout_rule
from dnn_quant.lowering.linear import affine_rule, conv_rule, dense_rule
from dnn_quant.lowering.matmul import matmul_rule
from dnn_quant.lowering.pooling import mean_rule, pool_rule
from dnn_quant.lowering.prelu import prelu_rule
from dnn_quant.lowering.resize import resize_bilinear_rule
from dnn_quant.lowering.softmax import softmax_rule
from pytpu.errors import QuantizationError

Rule = Callable[[Lowering, Node], bool]

# Order matters: a function of one activation (x * sigmoid(x)) is tried before a multiply of two, a layer
# norm before a plain mean, and the gathers of a bilinear resize before gathers that only move codes.
RULES: list[Rule] = [
    conv_rule,
    dense_rule,
    conv_transpose_rule,
    output_size_rule,
    matmul_rule,
    prelu_rule,
    function_rule,
    binary_rule,
    affine_rule,
    pool_rule,
    layer_norm_rule,
    mean_rule,
    softmax_rule,
    resize_bilinear_rule,
    concat_rule,
    layout_rule,
]
SWISH_LAYER_MODES = (None, "lut", "sigmoid_mul")


def lower(graph: FloatGraph, swish_layer_mode: str | None = None) -> list[FloatLayer]:
    """The float layers of ``graph`` in an order where every layer follows its inputs."""
    if swish_layer_mode not in SWISH_LAYER_MODES:
        raise QuantizationError(f"swish_layer_mode must be one of {SWISH_LAYER_MODES}, not {swish_layer_mode!r}")
    ctx = Lowering(graph, swish_layer_mode)
    ctx.produced.update(graph.inputs)
    for node in graph.nodes.values():
        if node.name in ctx.covered or node.out in graph.constants or node.op in ("Placeholder", "Const"):
            continue
        if not any(rule(ctx, node) for rule in RULES):
            ctx.unsupported.append((node.op, node.name, "no quantized layer computes this op"))
    if ctx.unsupported:
        raise QuantizationError(_describe(ctx.unsupported))
    for tensor in graph.outputs:
        ctx.materialize(tensor)
    return ctx.layers


def _describe(unsupported: list[tuple[str, str, str]]) -> str:
    lines = [f"  - {op} (node {name!r}): {reason}" for op, name, reason in unsupported]
    return (
        f"{len(unsupported)} op(s) cannot be quantized:\n"
        + "\n".join(lines)
        + "\nCut the model before them (tpu_framework.get_sub_model) and run the rest on the host."
    )
