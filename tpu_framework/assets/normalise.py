"""Rescale random weights so every layer's output has a set RMS: untrained networks then keep O(1) activations.

Fan-in scaled initialisation alone lets activations drift layer after layer (max pools and residual sums grow
them; Keras's Glorot init of depthwise convolutions shrinks them by ~sqrt(channels) each, down to 1e-12 at a
MobileNet's output). Each Conv/Gemm/MatMul's constant weights (and Conv/Gemm bias) are multiplied by one scalar
so its output has unit RMS (or ``hidden_rms``) on a probe input. All scales come from a single onnxruntime pass
over a probe copy of the graph in which each layer's output is rescaled to its target RMS (what the rescaled
weights will produce), so layer k already sees the rescaled outputs of layers before it.

The probe input is a seeded standard normal one, or the inputs given (a batch of real photos: one RMS over the
whole batch). This is enough for networks that are positively homogeneous (ReLU, pools, bias-free layers): they
scale with their input, so what holds on the probe holds on any input up to a factor that does not grow with
depth. Swish and sigmoid gates (squeeze-and-excitation) are not homogeneous. Their gain depends on the amplitude:
swish passes 50 % of a small input's RMS, 60 % at unit RMS and 71 % of a large one (it becomes ReLU); a gate sits
at 0.5 for small pre-activations and at 0 or 1 for large ones; the global average pool feeding a gate is near
zero on white noise but not on a photo. An input whose activations start larger than another's is therefore
amplified more, block after block: the log-slope of swish's gain is 0.17 at unit RMS, and EfficientNetB0 has
49 of them. Normalised on white noise, EfficientNetB0 took photos to activations of 1e3 and logits of ~3e4,
where every sigmoid switches within an O(1) band of a pre-activation of size ~1e3: float32 round-off then moves
the logits by 5e-3 of their range. Normalised on the photos at unit RMS, the batch holds its RMS but its photos
still drift apart (logits from 1e-4 to 3). At ``hidden_rms=0.1`` the log-slope is 0.008: the nonlinearities
stay ~5 % away from linear, the photos' logits stay within ~2x of each other and round-off at ~1e-6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pytpu.errors import AssetError

LINEAR = {"Conv", "Gemm", "MatMul"}
# Ops a weight may pass through on its way to a layer without changing its values.
PASS_THROUGH = {"Unsqueeze", "Reshape", "Identity", "Squeeze", "Flatten", "Transpose"}

Consumers = dict[str, list[tuple[onnx.NodeProto, int]]]
Feeds = Mapping[str, np.ndarray]


def consumers(model: onnx.ModelProto) -> Consumers:
    uses: Consumers = {}
    for node in model.graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    return uses


def normalise_layer_outputs(
    model: onnx.ModelProto, seed: int = 0, inputs: Feeds | None = None, hidden_rms: float = 1.0
) -> None:
    """Scale each linear layer's weights in place so its output has a set RMS on the probe input.

    The probe is ``inputs`` (graph input name -> a batch; the RMS is over the whole batch, whose size may differ
    from the one the graph declares) or, by default, a standard normal input drawn with ``seed``. Layers whose
    output reaches another linear layer are scaled to ``hidden_rms``; the last ones (the logits) to unit RMS.
    """
    params = layer_parameters(model)
    layers = [n for n in model.graph.node if n.output and n.output[0] in params]
    hidden = _hidden_layers(model, layers) if hidden_rms != 1 else set()
    targets = [hidden_rms if n.output[0] in hidden else 1.0 for n in layers]
    initializers = {t.name: t for t in model.graph.initializer}
    for node, target, rms in zip(layers, targets, _probe_rms(model, layers, targets, seed, inputs), strict=True):
        if not np.isfinite(rms) or rms <= 0:
            raise AssetError(f"layer {node.name or node.output[0]} has output RMS {rms} on the probe input")
        scale = np.float32(target / rms)  # not rounded: rounding errors compound over a hundred layers
        for name in params[node.output[0]]:
            tensor = initializers[name]
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * scale, name))


def _hidden_layers(model: onnx.ModelProto, layers: list[onnx.NodeProto]) -> set[str]:
    """Outputs of the layers from which another layer is reachable."""
    layer_outputs = {n.output[0] for n in layers}
    feeds_layer: set[str] = set()  # tensors some layer reads, directly or through other nodes
    hidden = set()
    for node in reversed(model.graph.node):  # topological order: a node's consumers are visited before it
        downstream = any(o in feeds_layer for o in node.output)
        if node.output and node.output[0] in layer_outputs:
            if downstream:
                hidden.add(node.output[0])
            downstream = True
        if downstream:
            feeds_layer.update(node.input)
    return hidden


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


def _probe_rms(
    model: onnx.ModelProto, layers: list[onnx.NodeProto], targets: list[float], seed: int, inputs: Feeds | None
) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    probe = _rms_probe(model, layers, targets)
    if inputs is not None:
        _free_batch(probe)
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = _seeded_feeds(session.get_inputs(), seed) if inputs is None else _given_feeds(session.get_inputs(), inputs)
    return [float(v) for v in session.run([_rms_name(n) for n in layers], feeds)]


def _seeded_feeds(graph_inputs: Sequence[Any], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for graph_input in graph_inputs:
        if not all(isinstance(d, int) for d in graph_input.shape):
            raise AssetError(f"input {graph_input.name} has dynamic shape {graph_input.shape}; fix it to probe")
        feeds[graph_input.name] = rng.standard_normal(graph_input.shape, dtype=np.float32)
    return feeds


def _given_feeds(graph_inputs: Sequence[Any], inputs: Feeds) -> dict[str, np.ndarray]:
    names = sorted(i.name for i in graph_inputs)
    if sorted(inputs) != names:
        raise AssetError(f"probe inputs {sorted(inputs)} do not match the graph's inputs {names}")
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in inputs.items()}


def _free_batch(probe: onnx.ModelProto) -> None:
    """Let the probe run on a batch of any size: a symbolic leading dimension for its inputs and outputs."""
    initializers = {t.name for t in probe.graph.initializer}
    boundary = [i for i in probe.graph.input if i.name not in initializers] + list(probe.graph.output)
    for info in boundary:
        dims = info.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = "probe_batch"
    del probe.graph.value_info[:]  # shapes inferred for the declared batch


def _rms_name(node: onnx.NodeProto) -> str:
    return f"{node.output[0]}__rms"


def _rms_probe(model: onnx.ModelProto, layers: list[onnx.NodeProto], targets: list[float]) -> onnx.ModelProto:
    """A copy of the model in which each layer's output is rescaled to its target RMS (its RMS before that is
    an output of the probe)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    target_of = {n.output[0]: t for n, t in zip(layers, targets, strict=True)}
    nodes: list[onnx.NodeProto] = []
    for node in probe.graph.node:
        nodes.append(node)
        if node.output and node.output[0] in target_of:
            probe.graph.output.append(onnx.ValueInfoProto(name=_rms_name(node)))
            nodes += _rescale_to(node, target_of[node.output[0]])
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)
    return probe


def _rescale_to(node: onnx.NodeProto, target: float) -> list[onnx.NodeProto]:
    out = node.output[0]
    raw, square, mean, rms = f"{out}__raw", f"{out}__sq", f"{out}__ms", _rms_name(node)
    node.output[0] = raw
    nodes = [
        helper.make_node("Mul", [raw, raw], [square]),
        helper.make_node("ReduceMean", [square], [mean], keepdims=0),  # no axes (attribute or input): all axes
        helper.make_node("Sqrt", [mean], [rms]),
    ]
    if target == 1:
        return [*nodes, helper.make_node("Div", [raw, rms], [out])]
    value, divisor = f"{out}__target", f"{out}__divisor"
    return [
        *nodes,
        helper.make_node("Constant", [], [value], value=numpy_helper.from_array(np.array(target, np.float32))),
        helper.make_node("Div", [rms, value], [divisor]),
        helper.make_node("Div", [raw, divisor], [out]),
    ]
