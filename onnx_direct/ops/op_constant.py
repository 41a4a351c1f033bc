"""Constant, ConstantOfShape and Range."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import tensorflow as tf

from onnx_direct.context import Node, Unsupported
from onnx_direct.ops import converter

# value_* attributes of Constant (opset 12+) and the numpy type ONNX gives each.
_SCALAR_ATTRS = {
    "value_float": np.float32,
    "value_floats": np.float32,
    "value_int": np.int64,
    "value_ints": np.int64,
    "value_string": np.object_,
    "value_strings": np.object_,
}


@converter("Constant", since=1)
def constant(node: Node) -> np.ndarray:
    """The attribute's value as a numpy array (normally folded before any converter runs)."""
    if "value" in node.attrs:
        return np.asarray(node.attr("value"))
    if "sparse_value" in node.attrs:
        return _dense(node.attr("sparse_value"))
    for name, dtype in _SCALAR_ATTRS.items():
        if name in node.attrs:
            return np.array(node.attr(name), dtype=dtype)
    raise Unsupported("Constant without a value attribute")


def _dense(sparse: Any) -> np.ndarray:
    """A SparseTensorProto as a dense array (indices are flat or [NNZ, rank] coordinates)."""
    values = onnx.numpy_helper.to_array(sparse.values)
    indices = onnx.numpy_helper.to_array(sparse.indices).astype(np.int64)
    dims = tuple(int(d) for d in sparse.dims)
    dense = np.zeros(dims, dtype=values.dtype)
    if indices.ndim == 2:
        indices = np.ravel_multi_index(tuple(indices.T), dims) if indices.size else indices.reshape(-1)
    dense.reshape(-1)[indices] = values
    return dense


@converter("ConstantOfShape", since=9)
def constant_of_shape(node: Node) -> tf.Tensor:
    value = node.attr("value")
    fill = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(-1)[0]
    dims = tf.cast(node.tensor(0), tf.int64)
    return tf.fill(dims, tf.constant(fill))


@converter("Range", since=11)
def range_(node: Node) -> tf.Tensor:
    start, limit, delta = (tf.reshape(node.tensor(i), []) for i in range(3))
    return tf.range(start, limit, delta)
