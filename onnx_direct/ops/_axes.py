"""Integer arguments (axes, sizes, repeats) that arrive as attributes, constant inputs or run-time tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Value
from onnx_direct.layout import Perm

Ints: TypeAlias = "list[int] | tf.Tensor"


def int_input(node: Node, i: int) -> Ints | None:
    """Input ``i`` flattened: Python ints when constant, else an int64 tensor; None when absent."""
    if not node.has_input(i):
        return None
    value = node.value(i)
    if value.is_const:
        array: np.ndarray = np.asarray(value.data)
        return [int(v) for v in array.reshape(-1)]
    if value.stored_shape == [0]:  # an empty run-time tensor still says "no values"
        return []
    return tf.reshape(tf.cast(node.tensor(i), tf.int64), [-1])


def scalar_input(node: Node, i: int) -> int | tf.Tensor:
    """A one-element integer input as an int (constant) or a scalar int64 tensor."""
    value = node.value(i)
    if value.is_const:
        return int(np.asarray(value.data).reshape(-1)[0])
    return tf.reshape(tf.cast(node.tensor(i), tf.int64), [])


def axes_arg(node: Node, input_since: int, index: int = 1, name: str = "axes") -> Ints | None:
    """An argument that is attribute ``name`` before opset ``input_since`` and input ``index`` from it on."""
    if node.opset >= input_since:
        return int_input(node, index)
    attr = node.attr(name)
    return None if attr is None else [int(a) for a in attr]


def normalized(axes: Sequence[int], rank: int) -> list[int]:
    return [layout.normalize_axis(int(a), rank) for a in axes]


def stored_axes(perm: Perm | None, axes: Sequence[int]) -> list[int]:
    """Where ONNX axes (non-negative) live in a tensor stored with ``perm``."""
    return [layout.stored_axis(perm, a) for a in axes]


def dynamic_normalized(axes: tf.Tensor, rank: int) -> tf.Tensor:
    return tf.where(axes < 0, axes + rank, axes)


def dynamic_stored_axes(perm: Perm | None, axes: tf.Tensor, rank: int) -> tf.Tensor:
    """Run-time ONNX axes (possibly negative) -> the stored axes of a tensor stored with ``perm``."""
    axes = dynamic_normalized(axes, rank)
    if layout.is_identity(perm):
        return axes
    assert perm is not None
    return tf.gather(tf.constant(layout.inverse(perm), tf.int64), axes)


def onnx_shape_tensor(value: Value) -> tf.Tensor:
    """The ONNX-order shape of a computed value as an int64 tensor (no transpose of the data)."""
    stored = tf.shape(value.data, out_type=tf.int64)
    if layout.is_identity(value.perm):
        return stored
    assert value.perm is not None
    return tf.gather(stored, layout.inverse(value.perm))


def perm_or_identity(value: Value) -> Perm:
    return layout.identity(value.rank) if value.perm is None else value.perm
