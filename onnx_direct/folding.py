"""Constant folding of nodes whose inputs are all known, with onnx's own reference evaluator."""

from __future__ import annotations

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from onnx_direct.context import Node

# Nodes that must not be folded: their result is not a function of their inputs.
_NOT_FOLDABLE = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial")
# Folding is for shape arithmetic and small constant tensors, not for whole layers on constant input.
_MAX_FOLD_ELEMENTS = 1 << 24


def foldable(node: Node) -> bool:
    if node.op_type in _NOT_FOLDABLE:
        return False
    present = [i for i in range(len(node.inputs)) if node.has_input(i)]
    if not all(node.value(i).is_const for i in present):
        return False
    return sum(int(node.value(i).data.size) for i in present) <= _MAX_FOLD_ELEMENTS


def fold(node: Node) -> list[np.ndarray]:
    """The node's outputs computed by ``onnx.reference`` from its constant inputs."""
    feeds = {name: node.ctx.values[name].data for name in node.inputs if name}
    inputs = [
        onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)
        for name, arr in feeds.items()
    ]
    outputs = [onnx.helper.make_empty_tensor_value_info(name) for name in node.outputs if name]
    graph = onnx.helper.make_graph([node.proto], "fold", inputs, outputs)
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid(node.domain, node.opset)], ir_version=onnx.IR_VERSION
    )
    results = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(r) for r in results]
