"""Cast, CastLike and the pass-through ops Identity and Dropout; all keep their input's layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import tensorflow as tf

from onnx_direct.context import Node, UnsupportedDataType, Value, keep_layout
from onnx_direct.inputs import REJECTED_ELEM_TYPES
from onnx_direct.ops import converter

# Types TF could hold but that the converted graph never computes in (see onnx_direct.inputs).
_REJECTED_TF_TYPES = (tf.float16, tf.bfloat16, tf.string, tf.complex64, tf.complex128)


def _target_type(elem_type: int) -> tf.DType:
    """The TF dtype of ONNX element type ``elem_type``; UnsupportedDataType for the rejected ones."""
    known = elem_type in onnx.TensorProto.DataType.values()
    name = onnx.TensorProto.DataType.Name(elem_type) if known else str(elem_type)
    if not known or elem_type in REJECTED_ELEM_TYPES:
        raise UnsupportedDataType(f"cast to data type {name} is not supported")
    try:
        dtype = tf.as_dtype(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError, ValueError) as err:  # float6 and other types without a TF dtype
        raise UnsupportedDataType(f"cast to data type {name} is not supported") from err
    return _check_type(dtype)


def _check_type(dtype: tf.DType) -> tf.DType:
    if dtype in _REJECTED_TF_TYPES:
        raise UnsupportedDataType(f"cast to data type {dtype.name} is not supported")
    return dtype


def _cast(node: Node, dtype: tf.DType) -> Value:
    x = node.value(0)
    return keep_layout(x, tf.cast(node.tensor(0, x.perm), dtype))


@converter("Cast", since=1)
def cast(node: Node) -> Value:
    # saturate and round_mode only concern float8 targets, which are rejected
    return _cast(node, _target_type(int(node.attr("to"))))


@converter("CastLike", since=15)
def cast_like(node: Node) -> Value:
    return _cast(node, _check_type(node.dtype(1)))


@converter("Identity", since=1)
def identity(node: Node) -> Value:
    x = node.value(0)
    return keep_layout(x, tf.identity(node.tensor(0, x.perm)))


def _with_mask(node: Node, y: tf.Tensor, mask: Callable[[], tf.Tensor]) -> list[Value]:
    """Dropout's outputs in the input's layout; the mask is only built when the model uses it."""
    x = node.value(0)
    wanted = len(node.outputs) > 1 and node.outputs[1] != ""
    return [keep_layout(x, y), keep_layout(x, mask())] if wanted else [keep_layout(x, y)]


@converter("Dropout", since=1)
def dropout_inference(node: Node) -> list[Value]:
    """Before opset 12 the runtime picks the mode: converted for inference, the identity with a mask of ones."""
    data = node.tensor(0, node.value(0).perm)
    mask_type = tf.bool if node.opset >= 10 else data.dtype  # the mask was of the input's type before opset 10
    return _with_mask(node, tf.identity(data), lambda: tf.ones_like(data, dtype=mask_type))


@converter("Dropout", since=12)
def dropout(node: Node) -> list[Value]:
    """The identity unless ``training_mode`` may be true and ``ratio`` may be nonzero: then real dropout."""
    data = node.tensor(0, node.value(0).perm)
    training = _optional(node, 2, np.array(False))
    ratio = _optional(node, 1, np.array(0.5))
    inference = isinstance(training, np.ndarray) and not bool(training)
    if inference or (isinstance(ratio, np.ndarray) and float(ratio) == 0.0):
        return _with_mask(node, tf.identity(data), lambda: tf.ones_like(data, dtype=tf.bool))
    ratio = tf.cast(ratio, data.dtype)
    keep = tf.random.uniform(tf.shape(data), dtype=data.dtype, seed=node.attr("seed")) >= ratio
    y = tf.where(keep, data / (1 - ratio), tf.zeros_like(data))
    if isinstance(training, np.ndarray):
        return _with_mask(node, y, lambda: keep)
    # training_mode is only known at run time
    return _with_mask(node, tf.where(training, y, data), lambda: tf.logical_or(keep, tf.logical_not(training)))


def _optional(node: Node, i: int, default: np.ndarray) -> tf.Tensor | np.ndarray:
    """Optional input ``i``: a numpy array when known at conversion time, else a TF tensor."""
    if not node.has_input(i):
        return default
    return node.const(i) if node.is_const(i) else node.tensor(i)
