"""Element-wise ops: their inputs brought into one stored layout (numpy broadcasting), and converter builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value, keep_layout
from onnx_direct.layout import Perm

Unary = Callable[[tf.Tensor], tf.Tensor]
Binary = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def common_perm(node: Node, indices: Sequence[int]) -> Perm | None:
    """The layout of the first full-rank computed input that is not in ONNX order, if any."""
    rank = max(node.rank(i) for i in indices)
    for i in indices:
        value = node.value(i)
        if not value.is_const and value.rank == rank and not layout.is_identity(value.perm):
            return value.perm
    return None


def aligned(node: Node, indices: Sequence[int] | None = None) -> tuple[list[tf.Tensor], Perm | None]:
    """Inputs ``indices`` as TF tensors in one layout, and that layout (None: ONNX order)."""
    chosen = [i for i in range(len(node.inputs)) if node.has_input(i)] if indices is None else list(indices)
    perm = common_perm(node, chosen)
    return [_in_layout(node, i, perm) for i in chosen], perm


def _in_layout(node: Node, i: int, perm: Perm | None) -> tf.Tensor:
    value = node.value(i)
    if perm is None or value.rank == len(perm):
        return node.tensor(i, perm)
    if value.rank == 0:
        return node.tensor(i)
    missing = len(perm) - value.rank
    if isinstance(value.data, np.ndarray):
        expanded = value.data.reshape((1,) * missing + value.data.shape)
        return tf.constant(np.transpose(expanded, perm))
    tensor = node.tensor(i)
    for _ in range(missing):
        tensor = tf.expand_dims(tensor, 0)
    return node.ctx.relayout(tensor, perm, node.inputs[i])


def stored(node: Node, i: int = 0) -> tf.Tensor:
    """Input ``i`` in the layout it is stored in (element-wise ops never move axes)."""
    return node.tensor(i, node.value(i).perm)


def unary(fn: Unary) -> Callable[[Node], Value]:
    """A converter applying ``fn`` to input 0 where it lies, keeping its layout."""

    def convert(node: Node) -> Value:
        return keep_layout(node.value(0), fn(stored(node)))

    return convert


def check_legacy_broadcast(node: Node) -> None:
    """Before opset 7, ``broadcast=1, axis=k`` aligned B at axis k of A; numpy aligns it at the end."""
    axis = node.attr("axis")
    if node.attr("broadcast", 0) and axis is not None:
        rank_a, rank_b = node.rank(0), node.rank(1)
        if axis % max(rank_a, 1) != rank_a - rank_b:
            raise Unsupported(f"legacy broadcast of a rank-{rank_b} B at axis {axis} of a rank-{rank_a} A")


def binary(fn: Binary) -> Callable[[Node], Value]:
    """A converter applying ``fn`` to inputs 0 and 1 brought into one layout."""

    def convert(node: Node) -> Value:
        check_legacy_broadcast(node)
        (a, b), perm = aligned(node, [0, 1])
        return Value(fn(a, b), perm)

    return convert
