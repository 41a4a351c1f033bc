"""Graph rewrites before lowering: ops the TPU has no layer for, re-expressed in ops it has.

Each rule takes a node and the float graph (for shapes) and returns the nodes that replace it; the last one
keeps the original name, so the user's tensor names still resolve. Rules are data: ``REWRITES`` maps an op
type to its rule.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow.core.framework.node_def_pb2 import NodeDef

from dnn_quant.graph import FloatGraph, Node

Rule = Callable[[Node, FloatGraph], list[NodeDef]]


def lrn(node: Node, graph: FloatGraph) -> list[NodeDef]:
    """``x / (bias + alpha * window_sum(x^2))^beta`` as Square -> 1x1 conv with a band of ``alpha`` -> + bias
    -> Pow(-beta) -> Mul: a table, a convolution, a table and an element-wise multiply."""
    x = node.inputs[0]
    channels = graph.shapes[x][-1]
    radius = int(node.attr("depth_radius"))
    index = np.arange(channels)
    band = (np.abs(index[:, None] - index[None, :]) <= radius) * np.float32(node.attr("alpha"))
    name = node.name
    return [
        _node(f"{name}/square", "Square", [x]),
        _const(f"{name}/band", band.reshape(1, 1, channels, channels).astype(np.float32)),
        _conv(f"{name}/window_sum", f"{name}/square", f"{name}/band"),
        _const(f"{name}/bias", np.float32(node.attr("bias"))),
        _node(f"{name}/denominator", "AddV2", [f"{name}/window_sum", f"{name}/bias"]),
        _const(f"{name}/exponent", np.float32(-float(node.attr("beta")))),
        _node(f"{name}/factor", "Pow", [f"{name}/denominator", f"{name}/exponent"]),
        _node(name, "Mul", [x, f"{name}/factor"]),
    ]


REWRITES: dict[str, Rule] = {"LRN": lrn}


def needs_rewrite(graph: FloatGraph) -> bool:
    return any(node.op in REWRITES for node in graph.nodes.values())


def rewrite(graph: FloatGraph) -> tf.compat.v1.GraphDef:
    """The graph's GraphDef with every node that has a rule replaced by the rule's nodes."""
    result = tf.compat.v1.GraphDef()
    result.versions.CopyFrom(graph.graph_def.versions)
    for node_def in graph.graph_def.node:
        node = graph.nodes.get(node_def.name)
        if node is not None and node.op in REWRITES:
            result.node.extend(REWRITES[node.op](node, graph))
        else:
            result.node.add().CopyFrom(node_def)
    return result


def _node(name: str, op: str, inputs: list[str]) -> NodeDef:
    node = NodeDef(name=name, op=op, input=inputs)
    node.attr["T"].type = tf.float32.as_datatype_enum
    return node


def _const(name: str, value: np.ndarray | np.float32) -> NodeDef:
    node = NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.float32.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return node


def _conv(name: str, x: str, kernel: str) -> NodeDef:
    node = _node(name, "Conv2D", [x, kernel])
    node.attr["strides"].list.i.extend([1, 1, 1, 1])
    node.attr["dilations"].list.i.extend([1, 1, 1, 1])
    node.attr["padding"].s = b"VALID"
    node.attr["data_format"].s = b"NHWC"
    return node
