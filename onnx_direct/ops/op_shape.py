"""Shape and Size: numpy constants when the static shape is known (so shape arithmetic folds), else TF ops."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from onnx_direct.context import Node
from onnx_direct.ops import converter
from onnx_direct.ops._axes import onnx_shape_tensor


@converter("Shape", since=1)
def shape(node: Node) -> np.ndarray | tf.Tensor:
    dims = node.shape(0)
    # Opset 15 start/end: negative values count from the back, then clamp to [0, rank], as Python slices do.
    part = slice(int(node.attr("start", 0)), node.attr("end"))
    wanted = dims[part]
    if None not in wanted:
        return np.array(wanted, dtype=np.int64)
    return onnx_shape_tensor(node.value(0))[part]


@converter("Size", since=1)
def size(node: Node) -> np.ndarray | tf.Tensor:
    dims = node.shape(0)
    if None not in dims:
        return np.array(math.prod(dims), dtype=np.int64)  # type: ignore[arg-type]
    return tf.size(node.value(0).data, out_type=tf.int64)
