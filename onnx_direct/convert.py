"""``onnx_to_tf``: an ONNX model -> a plain TF graph computing channels-last inside."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import tensorflow as tf

from onnx_direct import folding, ops
from onnx_direct.context import ConversionContext, Node, Unsupported, UnsupportedDataType, Value
from onnx_direct.inputs import check_data_types, numpy_dtype, resolve_shapes, runtime_inputs
from onnx_direct.layout import Perm
from onnx_direct.loading import ModelSource, domain_opset, load_model
from onnx_direct.mapping import TensorMapping
from onnx_direct.naming import tf_name
from onnx_direct.simplify import try_simplify as simplify_model
from pytpu.errors import ConversionError, UnsupportedDataTypeError, UnsupportedOperatorError

Problem = tuple[str, str, int, str]


def onnx_to_tf(
    onnx_model: ModelSource,
    input_shape: Mapping[str, Sequence[int | None]] | None = None,
    try_simplify: bool = False,
    onnxsim_fixed_point_iters: int | None = 100,
    keep_arrangement: Mapping[str, Sequence[int]] | None = None,
) -> tuple[tf.Graph, TensorMapping]:
    """Convert an ONNX model to a TF graph and map every ONNX tensor id to its TF tensor name.

    ``input_shape`` fixes dynamic input dimensions (``{'input': [1, 3, 224, 224]}``).
    ``keep_arrangement`` maps an input or output id to the permutation its TF tensor is stored in
    (``{'input': (0, 2, 3, 1)}`` feeds NHWC data and saves the Transpose at the input);
    by default inputs and outputs keep the ONNX layout.
    """
    model = load_model(onnx_model)
    shapes = resolve_shapes(model, input_shape)
    check_data_types(model)
    if try_simplify:
        model = simplify_model(_with_input_shapes(model, shapes), onnxsim_fixed_point_iters)
    keep = _check_arrangement(model, keep_arrangement)
    _check_coverage(model)
    return _GraphBuilder(model, shapes, keep).build()


def _with_input_shapes(model: onnx.ModelProto, shapes: Mapping[str, Sequence[int | None]]) -> onnx.ModelProto:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for info in fixed.graph.input:
        if info.name not in shapes:
            continue
        for dim, size in zip(info.type.tensor_type.shape.dim, shapes[info.name], strict=False):
            if size is not None:
                dim.Clear()
                dim.dim_value = size
    return fixed


def _check_arrangement(model: onnx.ModelProto, keep: Mapping[str, Sequence[int]] | None) -> dict[str, Perm]:
    boundary = {i.name for i in runtime_inputs(model)} | {o.name for o in model.graph.output}
    result: dict[str, Perm] = {}
    for name, perm in (keep or {}).items():
        if name not in boundary:
            raise ConversionError(f"keep_arrangement names {name!r}, which is not an input or output of the model")
        as_tuple = tuple(int(p) for p in perm)
        if sorted(as_tuple) != list(range(len(as_tuple))):
            raise ConversionError(f"keep_arrangement[{name!r}] = {perm} is not a permutation of the axes")
        result[name] = as_tuple
    return result


def _check_coverage(model: onnx.ModelProto) -> None:
    """Every node without a converter, listed at once before any conversion work."""
    problems: list[Problem] = []
    for index, node in enumerate(model.graph.node):
        opset = _node_opset(model, node)
        if ops.find(node.op_type, node.domain, opset) is None:
            domain = f" in domain {node.domain!r}" if node.domain not in ("", "ai.onnx") else ""
            problems.append((node.op_type, node.name or f"#{index}", opset, f"operator not supported{domain}"))
    if problems:
        raise UnsupportedOperatorError(problems)


def _node_opset(model: onnx.ModelProto, node: onnx.NodeProto) -> int:
    try:
        return domain_opset(model, node.domain)
    except ConversionError:
        return 0
    except Exception:
        return 0


class _GraphBuilder:
    def __init__(self, model: onnx.ModelProto, shapes: Mapping[str, Sequence[int | None]], keep: dict[str, Perm]):
        self.model = model
        self.shapes = shapes
        self.keep = keep
        self.graph = tf.Graph()
        self.ctx = ConversionContext(self.graph)
        self.mapping = TensorMapping()

    def build(self) -> tuple[tf.Graph, TensorMapping]:
        with self.graph.as_default():
            for info in [*self.model.graph.input, *self.model.graph.output]:
                self.ctx.reserved.add(tf_name(info.name).lower())
            self._add_constants()
            self._add_inputs()
            self._convert_nodes()
            self._add_outputs()
        return self.graph, self.mapping

    def _add_constants(self) -> None:
        for tensor in self.model.graph.initializer:
            self.ctx.values[tensor.name] = Value(np.asarray(onnx.numpy_helper.to_array(tensor)))

    def _add_inputs(self) -> None:
        for info in runtime_inputs(self.model):
            shape = list(self.shapes[info.name])
            perm = self.keep.get(info.name)
            stored = shape if perm is None else [shape[p] for p in perm]
            dtype = tf.as_dtype(numpy_dtype(info.type.tensor_type.elem_type))
            placeholder = tf.compat.v1.placeholder(dtype, stored, name=tf_name(info.name, "input"))
            self.ctx.values[info.name] = Value(placeholder, perm)
            self.mapping.record(info.name, placeholder.name, perm)

    def _convert_nodes(self) -> None:
        problems: list[Problem] = []
        data_types: list[bool] = []  # whether each problem is an unsupported data type
        failed: set[str] = set()
        for index, proto in enumerate(self.model.graph.node):
            if any(name in failed for name in proto.input):
                failed.update(proto.output)
                continue
            node = Node(self.ctx, proto, domain_opset(self.model, proto.domain), index)
            try:
                results = _convert_node(node)
            except Unsupported as err:
                problems.append((node.op_type, node.name, node.opset, str(err)))
                data_types.append(isinstance(err, UnsupportedDataType))
                failed.update(proto.output)
                continue
            except (ValueError, TypeError, tf.errors.OpError) as err:
                message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                problems.append((node.op_type, node.name, node.opset, f"TensorFlow rejected the conversion: {message}"))
                data_types.append(False)
                failed.update(proto.output)
                continue
            self._store(node, results)
        if problems:
            raise (UnsupportedDataTypeError if all(data_types) else UnsupportedOperatorError)(problems)

    def _store(self, node: Node, results: list[Value]) -> None:
        for name, value in zip(node.outputs, results, strict=False):
            if not name:
                continue
            self.ctx.values[name] = value
            if not isinstance(value.data, np.ndarray):
                self.mapping.record(name, value.data.name, value.perm)

    def _add_outputs(self) -> None:
        with self.graph.name_scope(None):
            for info in self.model.graph.output:
                perm = self.keep.get(info.name)
                tensor = self.ctx.tensor(info.name, perm)
                output = tf.identity(tensor, name=tf_name(info.name, "output"))
                self.mapping.record(info.name, output.name, perm)


def _convert_node(node: Node) -> list[Value]:
    if folding.foldable(node):
        try:
            return [Value(array) for array in folding.fold(node)]
        except Exception:  # the reference evaluator lacks some op/dtype pairs: convert it as a TF op instead
            pass
    fn = ops.find(node.op_type, node.domain, node.opset)
    if fn is None:
        raise Unsupported("operator not supported")
    with node.scope():
        result = fn(node)
    return _as_values(result)


def _as_values(result: Any) -> list[Value]:
    items = list(result) if isinstance(result, list | tuple) else [result]
    return [item if isinstance(item, Value) else Value(item) for item in items]
