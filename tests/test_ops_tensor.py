"""Shape, reduction, softmax and matmul converters inside networks: layouts carried through, no inner Transpose."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from tests.helpers import make_model, ort_run, tf_run, transpose_ops

RNG = np.random.default_rng(11)
NHWC = (0, 2, 3, 1)


def _weights(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.3, shape).astype(np.float32)


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tolerance: float = 1e-5) -> None:
    want = ort_run(model, feeds)
    got = tf_run(model, feeds)
    for name, expected in want.items():
        assert got[name].shape == expected.shape, name
        assert relative_error(got[name], expected) < tolerance, name


def _transposes_with_nhwc_input(model: onnx.ModelProto) -> list[str]:
    graph, _ = onnx_to_tf(model, keep_arrangement={"x": NHWC})
    return transpose_ops(graph.as_graph_def())


def resnet_head() -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm (transB), as a ResNet ends."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["features"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["features"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    weights = {"w": _weights(8, 3, 3, 3), "b": _weights(8), "fc_w": _weights(5, 8), "fc_b": _weights(5)}
    return make_model(nodes, {"x": [2, 3, 10, 10]}, ["y"], weights)


def test_resnet_head_has_no_transpose() -> None:
    model = resnet_head()
    _check(model, {"x": RNG.normal(size=(2, 3, 10, 10)).astype(np.float32)})
    assert _transposes_with_nhwc_input(model) == []


def test_patch_embedding_reshape_keeps_channels_last() -> None:
    """Conv -> Reshape [N, C, H*W] -> Transpose [0, 2, 1] is a plain reshape of the NHWC conv output."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["patches"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["patches", "shape"], ["tokens_t"]),
        helper.make_node("Transpose", ["tokens_t"], ["y"], perm=[0, 2, 1]),
    ]
    weights = {"w": _weights(6, 3, 2, 2), "shape": np.array([0, 6, -1], np.int64)}
    model = make_model(nodes, {"x": [2, 3, 8, 8]}, ["y"], weights)
    _check(model, {"x": RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)})
    assert _transposes_with_nhwc_input(model) == []


def test_concat_and_reduce_translate_axes() -> None:
    """Concat on ONNX axis 1 of channels-last inputs stays channels-last; ReduceMean over H, W gives [N, C]."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "w2"], ["b"]),
        helper.make_node("Concat", ["a", "b"], ["cat"], axis=1),
        helper.make_node("Softmax", ["cat"], ["probs"], axis=1),
        helper.make_node("ReduceMean", ["probs"], ["y"], axes=[2, 3], keepdims=0),
        helper.make_node("ArgMax", ["probs"], ["best"], axis=1, keepdims=0),
    ]
    model = make_model(
        nodes, {"x": [2, 3, 6, 6]}, ["y", "best"], {"w1": _weights(4, 3, 3, 3), "w2": _weights(5, 3, 1, 1)}
    )
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    _check(model, {"x": x})
    graph, mapping = onnx_to_tf(model, keep_arrangement={"x": NHWC})
    assert transpose_ops(graph.as_graph_def()) == []
    assert mapping.layout("cat") == NHWC and mapping.layout("probs") == NHWC
    assert mapping.layout("best") is None  # [N, H, W] stored as is: ONNX order


def self_attention(batch: int, length: int, heads: int, head_dim: int) -> onnx.ModelProto:
    """Q/K/V projections, per-head split, softmax(Q K^T / sqrt(d)) V, heads merged and projected."""
    width = heads * head_dim
    split = np.array([batch, length, heads, head_dim], np.int64)
    nodes = [
        *(helper.make_node("MatMul", ["x", f"w_{p}"], [f"{p}_flat"]) for p in "qkv"),
        *(helper.make_node("Reshape", [f"{p}_flat", "split"], [f"{p}_heads"]) for p in "qkv"),
        helper.make_node("Transpose", ["q_heads"], ["q"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k_heads"], ["k_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["v_heads"], ["v"], perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["q", "k_t"], ["scores_raw"]),
        helper.make_node("Mul", ["scores_raw", "scale"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["attention"], axis=-1),
        helper.make_node("MatMul", ["attention", "v"], ["context"]),
        helper.make_node("Transpose", ["context"], ["context_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["context_t", "merge"], ["merged"]),
        helper.make_node("MatMul", ["merged", "w_o"], ["y"]),
    ]
    weights = {f"w_{p}": _weights(width, width) for p in "qkvo"}
    weights |= {"split": split, "merge": np.array([0, 0, -1], np.int64)}
    weights["scale"] = np.array(1.0 / np.sqrt(head_dim), np.float32)
    return make_model(nodes, {"x": [batch, length, width]}, ["y"], weights)


def test_self_attention_matches_onnxruntime() -> None:
    model = self_attention(batch=2, length=7, heads=3, head_dim=4)
    x = RNG.normal(size=(2, 7, 12)).astype(np.float32)
    _check(model, {"x": x})
    # Fed with its last two axes swapped, x reaches the projections through matmul's transpose flag.
    got = tf_run(model, {"x": np.transpose(x, (0, 2, 1))}, keep_arrangement={"x": (0, 2, 1)})["y"]
    assert relative_error(got, ort_run(model, {"x": x})["y"]) < 1e-5
