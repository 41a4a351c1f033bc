"""The float TF graph the quantizer reads: pruned to what the outputs need, constants folded, shapes known."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from pytpu.errors import QuantizationError

_SOURCE_OPS = {"Placeholder", "PlaceholderWithDefault"}
_NEVER_FOLD = _SOURCE_OPS | {"VarHandleOp", "VariableV2", "ReadVariableOp", "RandomUniform", "RandomStandardNormal"}


def tensor_name(name: str) -> str:
    """``op`` or ``op:i`` -> ``op:i`` (a node name alone means its first output)."""
    name = name.lstrip("^")
    return name if ":" in name else f"{name}:0"


def op_name(name: str) -> str:
    return name.lstrip("^").split(":")[0]


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]  # tensor names of data inputs (control inputs dropped)
    node_def: tf.compat.v1.NodeDef

    @property
    def out(self) -> str:
        """The first output tensor."""
        return f"{self.name}:0"

    def attr(self, key: str) -> Any:
        if key not in self.node_def.attr:  # indexing the proto map would insert an empty attribute
            return None
        value = self.node_def.attr[key]
        kind = value.WhichOneof("value")
        if kind == "list":
            listed = value.list
            return list(listed.i) or list(listed.f) or [s.decode() for s in listed.s]
        if kind == "s":
            return value.s.decode()
        return getattr(value, kind) if kind else None


@dataclass
class FloatGraph:
    """Topologically ordered nodes that compute ``outputs`` from ``inputs``, with constants as numpy values."""

    graph_def: tf.compat.v1.GraphDef
    inputs: dict[str, tuple[int | None, ...]]  # tensor name -> shape (batch may be None)
    outputs: list[str]  # tensor names
    nodes: dict[str, Node] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)  # tensor name -> value
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # tensor name -> shape at batch 1
    dtypes: dict[str, tf.DType] = field(default_factory=dict)
    consumers: dict[str, list[str]] = field(default_factory=dict)  # tensor name -> consuming op names

    def is_constant(self, tensor: str) -> bool:
        return tensor in self.constants

    def producer(self, tensor: str) -> Node:
        return self.nodes[op_name(tensor)]

    def single_consumer(self, tensor: str) -> str | None:
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.outputs else None


def load_float_graph(
    graph_def: tf.compat.v1.GraphDef, input_shapes: Mapping[str, Sequence[int | None]], output_nodes: Sequence[str]
) -> FloatGraph:
    """Validate the names, prune to the outputs, fold constants and infer shapes at batch 1."""
    by_name = {node.name: node for node in graph_def.node}
    inputs = {tensor_name(k): tuple(v) for k, v in input_shapes.items()}
    outputs = [tensor_name(o) for o in output_nodes]
    _check_names(by_name, inputs, outputs)
    graph = FloatGraph(graph_def, inputs, outputs)
    order = _topological(by_name, outputs, {op_name(i) for i in inputs})
    for name in order:
        node_def = by_name[name]
        inputs_ = [tensor_name(i) for i in node_def.input if not i.startswith("^")]
        graph.nodes[name] = Node(name, node_def.op, inputs_, node_def)
        for tensor in inputs_:
            graph.consumers.setdefault(tensor, []).append(name)
    _infer(graph)
    return graph


def _check_names(by_name: Mapping[str, object], inputs: Mapping[str, object], outputs: Sequence[str]) -> None:
    for kind, names in (("input", list(inputs)), ("output", outputs)):
        unknown = [n for n in names if op_name(n) not in by_name]
        if unknown:
            some = ", ".join(sorted(by_name)[:8])
            raise QuantizationError(f"unknown {kind} tensor(s) {unknown} in the graph (it has nodes {some}, ...)")
    for name in inputs:
        if getattr(by_name[op_name(name)], "op", "") not in _SOURCE_OPS:
            raise QuantizationError(f"input {name!r} is not a Placeholder")


def _topological(by_name: Mapping[str, tf.compat.v1.NodeDef], outputs: Sequence[str], sources: set[str]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}
    stack = [(op_name(o), False) for o in reversed(outputs)]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            state[name] = 2
            order.append(name)
            continue
        if state.get(name):
            continue
        state[name] = 1
        stack.append((name, True))
        if name in sources:
            continue
        for inp in reversed(by_name[name].input):
            if not inp.startswith("^") and not state.get(op_name(inp)):
                stack.append((op_name(inp), False))
    missing = [n for n in order if by_name[n].op in _SOURCE_OPS and n not in sources]
    if missing:
        raise QuantizationError(f"the outputs depend on placeholders not given in input_shapes: {missing}")
    return order


def session_config() -> tf.compat.v1.ConfigProto:
    """How the quantizer runs float graphs: as written, without TensorFlow's graph optimiser (Grappler).

    Its remapper fuses x * sigmoid(x) into one op and then cannot fetch the sigmoid on its own; and its
    passes take most of a first run on models with large constants (the light VGG-19: 36 s of a first run
    against 3 s without), while the quantizer runs each graph only a few times.
    """
    config = tf.compat.v1.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    return config


def _infer(graph: FloatGraph) -> None:
    """Import at batch 1 to read every shape, and evaluate every tensor that depends on no input."""
    with tf.Graph().as_default() as tf_graph:
        feeds = {
            name: tf.compat.v1.placeholder(_dtype(graph, name), [1 if d is None else d for d in shape])
            for name, shape in graph.inputs.items()
        }
        tf.graph_util.import_graph_def(graph.graph_def, input_map=feeds, name="f")
    variable: set[str] = set()
    to_fold: list[str] = []
    graph.shapes.update({name: tuple(t.shape.as_list()) for name, t in feeds.items()})
    for node in graph.nodes.values():
        op = tf_graph.get_operation_by_name(f"f/{node.name}")
        depends = node.op in _NEVER_FOLD or any(op_name(i) in variable for i in node.inputs)
        if depends:
            variable.add(node.name)
        for out in op.outputs:
            name = tensor_name(f"{node.name}:{out.value_index}")
            graph.dtypes[name] = out.dtype
            if name not in graph.inputs and out.shape.rank is not None and out.shape.is_fully_defined():
                graph.shapes[name] = tuple(out.shape.as_list())
            if not depends:
                to_fold.append(name)
    needed = [t for t in to_fold if any(op_name(c) in variable for c in graph.consumers.get(t, []))]
    needed += [t for t in to_fold if t in graph.outputs]
    if needed:
        with tf.compat.v1.Session(graph=tf_graph, config=session_config()) as session:
            values = session.run(
                [f"f/{t}" for t in needed], {f: np.zeros(f.shape, f.dtype.as_numpy_dtype) for f in feeds.values()}
            )
        graph.constants.update({t: np.asarray(v) for t, v in zip(needed, values, strict=True)})


def _dtype(graph: FloatGraph, name: str) -> tf.DType:
    node_def = next(n for n in graph.graph_def.node if n.name == op_name(name))
    return tf.dtypes.as_dtype(node_def.attr["dtype"].type)
