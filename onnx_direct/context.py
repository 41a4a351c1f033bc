"""What a converter sees: the values of its inputs (in the layout it asks for) and its attributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import onnx
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.layout import Perm
from onnx_direct.naming import tf_name

Data: TypeAlias = tf.Tensor | np.ndarray


class Unsupported(Exception):
    """Raised by a converter for an attribute or input combination it cannot express."""


class UnsupportedDataType(Unsupported):
    """Raised by a converter for a data type the graph does not compute in (e.g. a Cast to float16)."""


@dataclass(frozen=True)
class Value:
    """An ONNX tensor as converted: ``data == np.transpose(onnx_value, perm)``.

    ``data`` is a numpy array when the value is known at conversion time (initializers,
    constants, folded shape arithmetic); such values are always kept in ONNX order.
    """

    data: Data
    perm: Perm | None = None

    @property
    def is_const(self) -> bool:
        return isinstance(self.data, np.ndarray)

    @property
    def rank(self) -> int:
        return len(self.data.shape)

    @property
    def stored_shape(self) -> list[int | None]:
        if isinstance(self.data, np.ndarray):
            return list(self.data.shape)
        return list(self.data.shape.as_list())

    @property
    def onnx_shape(self) -> list[int | None]:
        stored = self.stored_shape
        if layout.is_identity(self.perm):
            return stored
        assert self.perm is not None
        return [stored[j] for j in layout.inverse(self.perm)]

    @property
    def tf_dtype(self) -> tf.DType:
        if isinstance(self.data, np.ndarray):
            return tf.as_dtype(self.data.dtype)
        return self.data.dtype


class ConversionContext:
    """The values converted so far and the TF graph they live in."""

    def __init__(self, graph: tf.Graph):
        self.graph = graph
        self.values: dict[str, Value] = {}
        self._converted: dict[tuple[str, Perm], tf.Tensor] = {}
        # TF names of graph inputs and outputs: node name scopes must not take them.
        self.reserved: set[str] = set()

    def tensor(self, name: str, perm: Perm | None = None) -> tf.Tensor:
        """``name`` as a TF tensor stored with ``perm`` (None: ONNX order), transposing at most once."""
        value = self.values[name]
        rank = value.rank
        want = layout.identity(rank) if perm is None else tuple(perm)
        have = layout.identity(rank) if value.perm is None else value.perm
        if isinstance(value.data, np.ndarray):
            key = (name, want)
            if key not in self._converted:
                with self.graph.name_scope(None):
                    self._converted[key] = tf.constant(np.transpose(value.data, want), name=tf_name(name, "const"))
            return self._converted[key]
        if want == have:
            return value.data
        key = (name, want)
        if key not in self._converted:
            with self.graph.name_scope(None):
                self._converted[key] = self.relayout(value.data, layout.transpose_between(have, want, rank), name)
        return self._converted[key]

    def relayout(self, data: tf.Tensor, transpose: Perm, name: str) -> tf.Tensor:
        """``tf.transpose(data, transpose)``, as a Reshape when only unit axes move."""
        shape = data.shape.as_list()
        target = [shape[a] for a in transpose]
        scope = tf_name(name) + "_relayout"
        with tf.compat.v1.name_scope(scope):
            if layout.is_pure_reshape(shape, transpose) and sum(d is None for d in target) <= 1:
                return tf.reshape(data, [-1 if d is None else d for d in target])
            return tf.transpose(data, transpose)


class Node:
    """One ONNX node being converted: attribute access and input values in chosen layouts."""

    def __init__(self, ctx: ConversionContext, proto: onnx.NodeProto, opset: int, index: int):
        self.ctx = ctx
        self.proto = proto
        self.op_type = proto.op_type
        self.domain = proto.domain
        self.opset = opset
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.inputs = list(proto.input)
        self.outputs = list(proto.output)
        self.attrs: dict[str, Any] = {a.name: _attribute_value(a) for a in proto.attribute}

    # attributes -------------------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    # inputs -----------------------------------------------------------------------------------
    def has_input(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] != ""

    def value(self, i: int) -> Value:
        return self.ctx.values[self.inputs[i]]

    def tensor(self, i: int, perm: Perm | None = None) -> tf.Tensor:
        """Input ``i`` as a TF tensor stored with ``perm`` (None: ONNX order)."""
        return self.ctx.tensor(self.inputs[i], perm)

    def channels_last(self, i: int) -> tf.Tensor:
        return self.tensor(i, layout.channels_last(self.rank(i)))

    def is_const(self, i: int) -> bool:
        return self.has_input(i) and self.value(i).is_const

    def const(self, i: int) -> np.ndarray:
        """Input ``i`` as a numpy array; converters call this where TF needs a static value."""
        value = self.value(i)
        if not isinstance(value.data, np.ndarray):
            raise Unsupported(f"input {i} ({self.inputs[i]!r}) must be a constant known at conversion time")
        return value.data

    def const_or_none(self, i: int) -> np.ndarray | None:
        return self.const(i) if self.has_input(i) else None

    def shape(self, i: int) -> list[int | None]:
        """Static ONNX-order shape of input ``i`` (None for dimensions unknown until run time)."""
        return self.value(i).onnx_shape

    def static_shape(self, i: int) -> list[int]:
        shape = self.shape(i)
        if any(d is None for d in shape):
            raise Unsupported(
                f"input {self.inputs[i]!r} has dynamic shape {shape}; fix it with onnx_to_tf(input_shape=...)"
            )
        return [int(d) for d in shape]  # type: ignore[arg-type]

    def rank(self, i: int) -> int:
        return self.value(i).rank

    def dtype(self, i: int) -> tf.DType:
        return self.value(i).tf_dtype

    def scope(self) -> Any:
        name = tf_name(self.name, self.op_type)
        if name.lower() in self.ctx.reserved:
            name += "_node"
        return tf.compat.v1.name_scope(name)


def _attribute_value(attr: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8") for v in value]
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return value


def keep_layout(value: Value, data: Data) -> Value:
    """A result stored like ``value`` (element-wise ops)."""
    return Value(data, value.perm)


def as_tuple(values: Sequence[int] | np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
