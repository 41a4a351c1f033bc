"""Bringing the inputs of an element-wise op into one stored layout (numpy broadcasting rules)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node
from onnx_direct.layout import Perm


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
