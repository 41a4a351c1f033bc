"""Small ONNX models built in code, and onnxruntime as the reference to compare against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from onnx_direct import onnx_to_tf
from onnx_direct.runner import run_tf

FLOAT = TensorProto.FLOAT


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, Sequence[int | str | None]],
    outputs: Sequence[str],
    initializers: Mapping[str, np.ndarray] | None = None,
    opset: int = 17,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(name, FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        [
            onnx.numpy_helper.from_array(np.asarray(v), name)
            for v, name in ((v, k) for k, v in (initializers or {}).items())
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    return model


def ort_run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], optimize: bool = True) -> dict[str, np.ndarray]:
    options = ort.SessionOptions()
    if not optimize:  # no fusions: the same arithmetic whichever way the model is cut
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(feeds)), strict=True))


def tf_run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], **kwargs: object) -> dict[str, np.ndarray]:
    graph, mapping = onnx_to_tf(model, **kwargs)  # type: ignore[arg-type]
    return run_tf(graph, mapping, feeds, [o.name for o in model.graph.output])


def transpose_ops(graph_def: object) -> list[str]:
    return [n.name for n in graph_def.node if n.op == "Transpose"]  # type: ignore[attr-defined]


def conv_net(seed: int = 0, channels: int = 8) -> onnx.ModelProto:
    """input [N,3,16,16] -> Conv -> Relu -> Conv -> Add(residual) -> GlobalAveragePool-free head -> output."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (channels,)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (channels, channels, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["output"], name="add"),
    ]
    return make_model(nodes, {"input": ["N", 3, 16, 16]}, ["output"], {"w1": w1, "b1": b1, "w2": w2})
