"""Concat and Split along an ONNX axis, done on the stored axis so the layout is kept."""

from __future__ import annotations

import math

import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.ops import converter
from onnx_direct.ops._axes import int_input
from onnx_direct.ops._broadcast import common_perm


@converter("Concat", since=1)
def concat(node: Node) -> Value:
    present = [i for i in range(len(node.inputs)) if node.has_input(i)]
    perm = common_perm(node, present)
    axis = layout.normalize_axis(int(node.attr("axis", 1)), node.rank(present[0]))
    tensors = [node.tensor(i, perm) for i in present]
    return Value(tf.concat(tensors, axis=layout.stored_axis(perm, axis)), perm)


@converter("Split", since=1)
def split(node: Node) -> list[Value]:
    value = node.value(0)
    axis = layout.normalize_axis(int(node.attr("axis", 0)), value.rank)
    count = len(node.outputs)
    x = node.tensor(0, value.perm)
    parts = tf.split(x, _sizes(node, axis, count), axis=layout.stored_axis(value.perm, axis), num=count)
    return [Value(part, value.perm) for part in parts]


def _sizes(node: Node, axis: int, count: int) -> int | list[int] | tf.Tensor:
    """The split sizes: input 1 (opset 1, 13+), attribute ``split`` (2-12), ``num_outputs`` (18+) or equal parts."""
    sizes = int_input(node, 1) if node.has_input(1) else node.attr("split")
    if isinstance(sizes, tf.Tensor):
        return sizes
    if sizes:
        return [int(s) for s in sizes]
    num_outputs = node.attr("num_outputs")
    if num_outputs is None:
        return count
    dim = node.shape(0)[axis]
    if dim is None:
        raise Unsupported("Split with num_outputs needs a static size of the split axis")
    # Opset 18: ceil(dim / n) per output, the last one takes what is left.
    chunk = math.ceil(dim / int(num_outputs))
    return [chunk] * (int(num_outputs) - 1) + [dim - chunk * (int(num_outputs) - 1)]
