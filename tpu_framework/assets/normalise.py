"""Rescale random weights so every layer's output has unit RMS: untrained networks then keep O(1) activations.

Fan-in scaled initialisation alone lets activations drift layer after layer (max pools and residual sums grow
them; Keras's Glorot init of depthwise convolutions shrinks them by ~sqrt(channels) each, down to 1e-12 at a
MobileNet's output). Each Conv/Gemm/MatMul's constant weights (and Conv/Gemm bias) are multiplied by one scalar
so its output has unit RMS on a seeded normal input. All scales come from a single onnxruntime pass over a
probe copy of the graph in which each layer's output is divided by its own RMS (what the rescaled weights
will produce), so layer k already sees the rescaled outputs of layers before it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pytpu.errors import AssetError

LINEAR = {"Conv", "Gemm", "MatMul"}
# Ops a weight may pass through on its way to a layer without changing its values.
PASS_THROUGH = {"Unsqueeze", "Reshape", "Identity", "Squeeze", "Flatten", "Transpose"}

Consumers = dict[str, list[tuple[onnx.NodeProto, int]]]


def consumers(model: onnx.ModelProto) -> Consumers:
    uses: Consumers = {}
    for node in model.graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    return uses


def normalise_layer_outputs(model: onnx.ModelProto, seed: int = 0) -> None:
    """Scale each linear layer's weights in place so its output has unit RMS on a seeded normal input."""
    params = layer_parameters(model)
    layers = [n for n in model.graph.node if n.output and n.output[0] in params]
    initializers = {t.name: t for t in model.graph.initializer}
    for node, rms in zip(layers, _probe_rms(model, layers, seed), strict=True):
        if not np.isfinite(rms) or rms <= 0:
            raise AssetError(f"layer {node.name or node.output[0]} has output RMS {rms} on the probe input")
        scale = np.float32(1 / rms)  # not rounded: rounding errors compound over a hundred layers
        for name in params[node.output[0]]:
            tensor = initializers[name]
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * scale, name))


def layer_parameters(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Linear layer's output -> the float initializers it is linear in, each used by that layer only."""
    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    producers = {o: n for n in model.graph.node for o in n.output}
    uses = consumers(model)
    layers: dict[str, list[str]] = {}
    for node in (n for n in model.graph.node if n.op_type in LINEAR and len(n.input) > 1):
        named = node.input[1:2] if node.op_type == "MatMul" else [i for i in node.input[1:] if i]
        sources = [_source(name, producers) for name in named]
        if all(s in floats and len(uses[s]) == 1 for s in sources):
            layers[node.output[0]] = sources
    return layers


def _source(name: str, producers: dict[str, onnx.NodeProto]) -> str:
    """The tensor ``name`` is a reshaped view of (weights reach some layers through a Reshape)."""
    while name in producers and producers[name].op_type in PASS_THROUGH:
        name = producers[name].input[0]
    return name


def _probe_rms(model: onnx.ModelProto, layers: list[onnx.NodeProto], seed: int) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    probe = _rms_probe(model, layers).SerializeToString()
    session = ort.InferenceSession(probe, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {}
    for graph_input in session.get_inputs():
        if not all(isinstance(d, int) for d in graph_input.shape):
            raise AssetError(f"input {graph_input.name} has dynamic shape {graph_input.shape}; fix it to probe")
        feeds[graph_input.name] = rng.standard_normal(graph_input.shape, dtype=np.float32)
    return [float(v) for v in session.run([_rms_name(n) for n in layers], feeds)]


def _rms_name(node: onnx.NodeProto) -> str:
    return f"{node.output[0]}__rms"


def _rms_probe(model: onnx.ModelProto, layers: list[onnx.NodeProto]) -> onnx.ModelProto:
    """A copy of the model in which each layer's output is divided by its own RMS (an output of the probe)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    targets = {n.output[0] for n in layers}
    nodes: list[onnx.NodeProto] = []
    for node in probe.graph.node:
        nodes.append(node)
        if node.output and node.output[0] in targets:
            probe.graph.output.append(onnx.ValueInfoProto(name=_rms_name(node)))
            nodes += _divide_by_rms(node)
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)
    return probe


def _divide_by_rms(node: onnx.NodeProto) -> list[onnx.NodeProto]:
    out = node.output[0]
    raw, square, mean, rms = f"{out}__raw", f"{out}__sq", f"{out}__ms", _rms_name(node)
    node.output[0] = raw
    return [
        helper.make_node("Mul", [raw, raw], [square]),
        helper.make_node("ReduceMean", [square], [mean], keepdims=0),  # no axes (attribute or input): all axes
        helper.make_node("Sqrt", [mean], [rms]),
        helper.make_node("Div", [raw, rms], [out]),
    ]
