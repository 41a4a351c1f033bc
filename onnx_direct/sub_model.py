"""``get_sub_model``: the part of an ONNX model between named tensors (manual chapter 8)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import onnx
import onnx.utils

from onnx_direct.loading import ModelSource, check_model, load_model
from pytpu.errors import SubModelError


def get_sub_model(
    model: ModelSource, ordered_input_names: Sequence[str], ordered_output_names: Sequence[str]
) -> onnx.ModelProto:
    """The ``onnx.ModelProto`` computing ``ordered_output_names`` from ``ordered_input_names``.

    It keeps every node needed between the two cuts and nothing more, with inputs and outputs in the
    order given, so ``tail(head(x)) == full(x)`` when a model is cut in two.
    """
    inputs, outputs = list(ordered_input_names), list(ordered_output_names)
    full = load_model(model)
    _check_names(full, inputs, outputs)
    typed = _with_value_infos(full, inputs + outputs)
    nodes = _needed_nodes(typed, set(inputs), outputs)
    _check_closed(typed, nodes, set(inputs))
    extracted = onnx.utils.Extractor(typed).extract_model(inputs, outputs)
    check_model(extracted, "the extracted sub-model")
    return extracted


def _tensor_names(model: onnx.ModelProto) -> set[str]:
    names = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        names.update(o for o in node.output if o)
    return names


def _check_names(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> None:
    if not inputs or not outputs:
        raise SubModelError("get_sub_model needs at least one input name and one output name")
    for kind, names in (("input", inputs), ("output", outputs)):
        if len(set(names)) != len(names):
            raise SubModelError(f"ordered_{kind}_names repeats a name: {names}")
    known = _tensor_names(model)
    unknown = [n for n in inputs + outputs if n not in known]
    if unknown:
        hints = {n: difflib.get_close_matches(n, known, n=3, cutoff=0.5) for n in unknown}
        detail = "; ".join(f"{n!r} (did you mean {h}?)" if h else repr(n) for n, h in hints.items())
        raise SubModelError(f"the model has no tensor named {detail}")
    initializers = {t.name for t in model.graph.initializer}
    constant_inputs = [n for n in inputs if n in initializers]
    if constant_inputs:
        raise SubModelError(f"{constant_inputs} are initializers (weights), not tensors a cut can start at")


def _with_value_infos(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """The model with types and shapes inferred, so every cut tensor can become a graph input or output."""
    try:
        typed = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except onnx.shape_inference.InferenceError as err:
        raise SubModelError(f"shape inference failed, so the cut tensors have no types: {err}") from None
    described = {v.name for v in [*typed.graph.value_info, *typed.graph.input, *typed.graph.output]}
    missing = [n for n in names if n not in described]
    if missing:
        raise SubModelError(
            f"the types of {missing} cannot be inferred; run onnx_to_tf(try_simplify=True) "
            "or onnxsim on the model first so its shapes are static"
        )
    return typed


def _needed_nodes(model: onnx.ModelProto, inputs: set[str], outputs: list[str]) -> list[onnx.NodeProto]:
    producer = {o: node for node in model.graph.node for o in node.output if o}
    seen: dict[int, onnx.NodeProto] = {}
    stack = list(outputs)
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if name in inputs or node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(i for i in node.input if i)
    return list(seen.values())


def _check_closed(model: onnx.ModelProto, nodes: list[onnx.NodeProto], inputs: set[str]) -> None:
    """Every tensor the kept nodes read must come from a kept node, a weight, or a given input."""
    produced = {o for node in nodes for o in node.output}
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = {i.name for i in model.graph.input} - initializers
    leaking = sorted({i for node in nodes for i in node.input if i in graph_inputs and i not in inputs | produced})
    if leaking:
        raise SubModelError(
            f"the cut is not closed: nodes between the given inputs and outputs also read the model inputs {leaking}; "
            "add them to ordered_input_names"
        )
