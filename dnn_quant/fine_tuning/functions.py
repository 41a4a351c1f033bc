"""A lookup table's float function as TF ops: the graph's own op span, replayed on the simulated tensor.

``FloatLut.function`` evaluates the span on numpy arrays through a session; training needs the same ops
inside the simulated network, where gradients flow through them to the ranges before the table.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from dnn_quant.graph import FloatGraph
from dnn_quant.layers.lut import FloatLut
from pytpu.errors import QuantizationError

_SOURCE = "lut_x"


def lut_function(graph: FloatGraph, layer: FloatLut) -> Callable[[tf.Tensor], tf.Tensor]:
    """``x -> f(x)`` for the ops ``layer`` covers; call it while a ``tf.function`` traces.

    The ops are imported with ``import_graph_def``, so gradients through them need ``tf.gradients``
    (a ``GradientTape`` does not record imported ops).
    """
    graph_def = _span_graph_def(graph, layer)
    dtype = graph.dtypes[layer.inputs[0]]

    def function(x: tf.Tensor) -> tf.Tensor:
        (y,) = tf.graph_util.import_graph_def(
            graph_def, input_map={f"{_SOURCE}:0": tf.cast(x, dtype)}, return_elements=[layer.name], name="lut"
        )
        return tf.cast(y, tf.float32)

    return function


def _span_graph_def(graph: FloatGraph, layer: FloatLut) -> tf.compat.v1.GraphDef:
    source, spanned = layer.inputs[0], set(layer.ops)
    graph_def = tf.compat.v1.GraphDef()
    placeholder = graph_def.node.add(name=_SOURCE, op="Placeholder")
    placeholder.attr["dtype"].type = graph.dtypes[source].as_datatype_enum
    for name in layer.ops:
        node = graph_def.node.add()
        node.CopyFrom(graph.nodes[name].node_def)
        node.device = ""
        del node.input[:]
        for i, tensor in enumerate(graph.nodes[name].inputs):
            node.input.append(_input(graph_def, graph, layer, tensor, spanned, f"lut_c{i}_{name}"))
    return graph_def


def _input(
    graph_def: tf.compat.v1.GraphDef,
    graph: FloatGraph,
    layer: FloatLut,
    tensor: str,
    spanned: set[str],
    const_name: str,
) -> str:
    if tensor == layer.inputs[0]:
        return f"{_SOURCE}:0"
    value = graph.constants.get(tensor)
    if value is not None:  # one number (the lowering allows no other constants), as a scalar: any rank broadcasts
        node = graph_def.node.add(name=const_name, op="Const")
        node.attr["dtype"].type = tf.dtypes.as_dtype(value.dtype).as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.reshape(-1)[:1].reshape([])))
        return f"{const_name}:0"
    if tensor.split(":")[0] not in spanned:
        raise QuantizationError(
            f"fine-tuning: the lookup table {layer.name!r} reads {tensor!r}, neither its input nor one of its ops"
        )
    return tensor
