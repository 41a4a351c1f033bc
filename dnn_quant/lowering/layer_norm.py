"""Layer normalisation over the last axis, in whichever form the graph spells it.

Converters and frameworks write it differently: ``tf.nn.moments`` then ``(x - mean) * rsqrt(var + eps) * gamma
+ beta`` (onnx_direct's LayerNormalization), ``(x - mean) / sqrt(mean((x - mean)^2) + eps)`` (exports before
opset 17), ``x * inv + (beta - mean * inv)`` (keras). So the rule does not match one spelling: from a ``Mean`` of
``x`` over its last axis it collects the element-wise ops and last-axis means that compute from ``x`` and that
mean alone, and takes the region up to its last op (in graph order) whose intermediate tensors nothing else
reads and which evaluates to ``gamma * (x - mean) / sqrt(var + eps) + beta``. gamma and beta are fitted to the
region's own outputs on random rows, ``eps`` is the constant added to the variance, and the fit is checked on
the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import tensorflow as tf

from dnn_quant.graph import FloatGraph, Node, op_name
from dnn_quant.layers.layer_norm import MAX_CHANNELS, FloatLayerNorm
from dnn_quant.lowering.context import Lowering

_OPS = {
    "Mean",
    "StopGradient",
    "Identity",
    "SquaredDifference",
    "Sub",
    "AddV2",
    "Add",
    "Mul",
    "RealDiv",
    "Rsqrt",
    "Sqrt",
    "Square",
    "Pow",
    "Reciprocal",
    "Neg",
}
_FIT_ROWS = 256
_FIT_TOLERANCE = 1e-4  # of the output's magnitude: float32 evaluation noise is ~1e-6


def layer_norm_rule(ctx: Lowering, node: Node) -> bool:
    x = node.inputs[0]
    if not _last_axis_mean(ctx, node, x) or ctx.graph.shapes[x][-1] < 2:
        return False
    region = _region(ctx, node, x)
    for sink in reversed(region):
        ops = _closed(ctx, region, sink, node.name)
        if ops is None:
            continue
        fitted = _fit(ctx.graph, x, ctx.graph.nodes[sink].out, ops)
        if fitted is None:
            continue
        gamma, beta, epsilon = fitted
        if len(gamma) > MAX_CHANNELS:
            reason = f"a layer norm over {len(gamma)} values; at most {MAX_CHANNELS} keep its sums inside int32"
            ctx.unsupported.append((node.op, node.name, reason))
            return True
        layer = FloatLayerNorm(ctx.graph.nodes[sink].out, [x], ops, gamma=gamma, beta=beta, epsilon=epsilon)
        ctx.emit(layer, ops)
        return True
    return False


def _last_axis_mean(ctx: Lowering, node: Node, x: str) -> bool:
    if node.op != "Mean" or not node.attr("keep_dims"):
        return False
    axes, shape = ctx.const(node.inputs[1]), ctx.graph.shapes.get(x)
    if axes is None or shape is None or len(shape) < 2:
        return False
    return sorted(int(a) % len(shape) for a in axes.reshape(-1)) == [len(shape) - 1]


def _region(ctx: Lowering, mean: Node, x: str) -> list[str]:
    """The ops computing from ``x``, ``mean`` and each other only, in graph order."""
    graph = ctx.graph
    members, tensors = {mean.name}, {mean.out}
    frontier = [mean.out]
    while frontier:
        tensor = frontier.pop()
        for name in graph.consumers.get(tensor, []):
            node = graph.nodes[name]
            if name in members or name in ctx.covered or node.op not in _OPS:
                continue
            sources = [t for t in node.inputs if t not in graph.constants]
            if not all(t == x or t in tensors for t in sources):
                continue
            if node.op == "Mean" and not _last_axis_mean(ctx, node, node.inputs[0]):
                continue
            members.add(name)
            tensors.add(node.out)
            frontier.append(node.out)
    return [name for name in graph.nodes if name in members]


def _closed(ctx: Lowering, region: list[str], sink: str, mean: str) -> list[str] | None:
    """The ops of ``region`` that ``sink`` depends on, if they include ``mean`` and only ``sink`` is read outside."""
    graph, inside = ctx.graph, set(region)
    needed, stack = set(), [sink]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(op_name(t) for t in graph.nodes[name].inputs if op_name(t) in inside)
    if mean not in needed:
        return None
    for name in needed - {sink}:
        out = graph.nodes[name].out
        if out in graph.outputs or any(c not in needed for c in graph.consumers.get(out, [])):
            return None
    return [name for name in region if name in needed]


def _fit(graph: FloatGraph, x: str, sink: str, ops: list[str]) -> tuple[np.ndarray, np.ndarray, float] | None:
    """gamma, beta and eps such that the region computes a layer norm, or None if it does not."""
    shape = graph.shapes[x]
    channels = shape[-1]
    per_sample = int(np.prod(shape[1:-1], dtype=np.int64))
    samples = -(-_FIT_ROWS // per_sample)
    rng = np.random.default_rng(0)
    # rows of every magnitude (where eps matters and where it does not), each around its own mean
    spread = 10.0 ** rng.uniform(-3, 1, (samples, *shape[1:-1], 1))
    rows = spread * (rng.standard_normal((samples, *shape[1:])) + rng.uniform(-2, 2, (samples, *shape[1:-1], 1)))
    epsilon = _epsilon(graph, ops)
    with _evaluator(graph, x, sink, ops) as evaluate:
        try:
            outputs = evaluate(rows.astype(np.float32))
        except (tf.errors.OpError, ValueError):
            return None
    xs, ys = rows.astype(np.float32).astype(np.float64).reshape(-1, channels), outputs.reshape(-1, channels)
    if ys.shape != xs.shape or not np.isfinite(ys).all():
        return None
    normalised = (xs - xs.mean(axis=1, keepdims=True)) / np.sqrt(xs.var(axis=1, keepdims=True) + epsilon)
    centred_n, centred_y = normalised - normalised.mean(axis=0), ys - ys.mean(axis=0)
    gamma = (centred_n * centred_y).sum(axis=0) / (centred_n**2).sum(axis=0)
    beta = ys.mean(axis=0) - gamma * normalised.mean(axis=0)
    error = np.abs(normalised * gamma + beta - ys).max()
    if not error <= _FIT_TOLERANCE * max(np.abs(ys).max(), 1e-12):  # also NaN
        return None
    return gamma, beta, epsilon


def _epsilon(graph: FloatGraph, ops: list[str]) -> float:
    """The scalar constant added to a mean of something other than ``x`` (the variance), else 0."""
    means = {graph.nodes[n].out for n in ops[1:] if graph.nodes[n].op == "Mean"}
    for name in ops:
        node = graph.nodes[name]
        if node.op in ("Add", "AddV2") and any(t in means for t in node.inputs):
            value = next((graph.constants[t] for t in node.inputs if t in graph.constants), None)
            if value is not None and value.size == 1:
                return float(value.reshape(-1)[0])
    return 0.0


@contextmanager
def _evaluator(graph: FloatGraph, x: str, sink: str, ops: list[str]) -> Iterator[Callable[[np.ndarray], np.ndarray]]:
    """The region as a function of ``x``: a session over a copy of its ops, closed on exit."""
    graph_def = tf.compat.v1.GraphDef()
    placeholder = graph_def.node.add(name="norm_x", op="Placeholder")
    placeholder.attr["dtype"].type = graph.dtypes[x].as_datatype_enum
    for name in ops:
        node = graph_def.node.add()
        node.CopyFrom(graph.nodes[name].node_def)
        del node.input[:]
        for i, tensor in enumerate(graph.nodes[name].inputs):
            node.input.append(_source(graph_def, graph, tensor, x, f"norm_c{i}_{name}"))
    with tf.Graph().as_default() as tf_graph:
        tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=tf_graph)
    try:
        yield lambda values: np.asarray(session.run(sink, {"norm_x:0": values}), np.float64)
    finally:
        session.close()


def _source(graph_def: tf.compat.v1.GraphDef, graph: FloatGraph, tensor: str, x: str, const_name: str) -> str:
    if tensor == x:
        return "norm_x:0"
    value = graph.constants.get(tensor)
    if value is None:
        return tensor
    node = graph_def.node.add(name=const_name, op="Const")
    node.attr["dtype"].type = tf.dtypes.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return f"{const_name}:0"
