"""Element-wise functions of one activation, and how to evaluate one on the 256 codes of a lookup table."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from dnn_quant.graph import FloatGraph, op_name

UNARY = {
    "Relu",
    "Relu6",
    "Elu",
    "Selu",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Softsign",
    "Exp",
    "Log",
    "Log1p",
    "Expm1",
    "Erf",
    "Neg",
    "Abs",
    "Sqrt",
    "Rsqrt",
    "Square",
    "Reciprocal",
    "LeakyRelu",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Sin",
    "Cos",
    "Gelu",
}
BINARY = {"AddV2", "Add", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "Pow", "SquaredDifference"}
ELEMENTWISE = UNARY | BINARY


def elementwise_function(
    graph: FloatGraph, source: str, sink: str
) -> tuple[Callable[[np.ndarray], np.ndarray], list[str], str]:
    """The float function ``sink = f(source)`` as a numpy-in numpy-out callable, the ops it spans, a description."""
    ops = _span(graph, source, sink)
    graph_def = tf.compat.v1.GraphDef()
    placeholder = graph_def.node.add(name="lut_x", op="Placeholder")
    placeholder.attr["dtype"].type = graph.dtypes[source].as_datatype_enum
    for name in ops:
        node = graph_def.node.add()
        node.CopyFrom(graph.nodes[name].node_def)
        del node.input[:]
        for i, tensor in enumerate(graph.nodes[name].inputs):
            node.input.append(_input(graph_def, graph, tensor, source, f"lut_c{i}_{name}"))
    with tf.Graph().as_default() as tf_graph:
        tf.graph_util.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=tf_graph)

    def function(values: np.ndarray) -> np.ndarray:
        result = session.run(sink, {"lut_x:0": values.astype(graph.dtypes[source].as_numpy_dtype)})
        return np.asarray(result, np.float64).reshape(-1)

    description = " -> ".join(graph.nodes[n].op for n in ops)
    return function, ops, description


def _input(graph_def: tf.compat.v1.GraphDef, graph: FloatGraph, tensor: str, source: str, const_name: str) -> str:
    if tensor == source:
        return "lut_x:0"
    value = graph.constants.get(tensor)
    if value is None:
        return tensor
    node = graph_def.node.add(name=const_name, op="Const")
    node.attr["dtype"].type = tf.dtypes.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.reshape(-1)[:1].reshape([])))
    return f"{const_name}:0"


def _span(graph: FloatGraph, source: str, sink: str) -> list[str]:
    """The ops between ``source`` and ``sink``, in graph order."""
    found: set[str] = set()
    stack = [op_name(sink)]
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found.add(name)
        for tensor in graph.nodes[name].inputs:
            if tensor != source and tensor not in graph.constants:
                stack.append(op_name(tensor))
    return [n for n in graph.nodes if n in found]
