"""Element-wise converters inside conv networks (layout kept, no inner Transpose) and their integer semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from pytpu.errors import UnsupportedDataTypeError
from tests.helpers import make_model, ort_run, tf_run, transpose_ops

RNG = np.random.default_rng(7)


def _weights(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.3, shape).astype(np.float32)


def _boundary_transposes_only(model: onnx.ModelProto) -> None:
    graph, _ = onnx_to_tf(model)
    names = transpose_ops(graph.as_graph_def())
    assert all(name.startswith(("x", "y")) for name in names), names


def se_block() -> onnx.ModelProto:
    """Conv -> GlobalAveragePool -> Conv -> Relu -> Conv -> Sigmoid -> Mul with the first conv's output."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["features"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["features"], ["squeezed"]),
        helper.make_node("Conv", ["squeezed", "w_down"], ["down"]),
        helper.make_node("Relu", ["down"], ["down_relu"]),
        helper.make_node("Conv", ["down_relu", "w_up", "b_up"], ["up"]),
        helper.make_node("Sigmoid", ["up"], ["gate"]),
        helper.make_node("Mul", ["features", "gate"], ["y"]),
    ]
    weights = {
        "w": _weights(8, 3, 3, 3),
        "b": _weights(8),
        "w_down": _weights(2, 8, 1, 1),
        "w_up": _weights(8, 2, 1, 1),
        "b_up": _weights(8),
    }
    return make_model(nodes, {"x": [2, 3, 12, 12]}, ["y"], weights)


def test_se_block_matches_onnxruntime() -> None:
    model = se_block()
    x = RNG.normal(size=(2, 3, 12, 12)).astype(np.float32)
    want = ort_run(model, {"x": x})["y"]
    got = tf_run(model, {"x": x})["y"]
    assert got.shape == want.shape == (2, 8, 12, 12)
    assert relative_error(got, want) < 1e-5
    _boundary_transposes_only(model)


@pytest.mark.parametrize("slope_shape", [(8, 1, 1), (1,), (10,)])
def test_prelu_slope_broadcasts_against_channels_last_conv_output(slope_shape: tuple[int, ...]) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["y"]),
    ]
    slope = RNG.uniform(0.05, 0.5, slope_shape).astype(np.float32)
    model = make_model(nodes, {"x": [1, 3, 10, 10]}, ["y"], {"w": _weights(8, 3, 3, 3), "slope": slope})
    x = RNG.normal(size=(1, 3, 10, 10)).astype(np.float32)
    assert relative_error(tf_run(model, {"x": x})["y"], ort_run(model, {"x": x})["y"]) < 1e-5
    _boundary_transposes_only(model)


def test_clip_attributes_before_opset_11_and_inputs_after() -> None:
    x = RNG.normal(size=(2, 4, 5)).astype(np.float32)
    old = make_model([helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)], {"x": [2, 4, 5]}, ["y"], opset=6)
    bounds = {"lo": np.array(-0.5, np.float32), "hi": np.array(0.25, np.float32)}
    new = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], {"x": [2, 4, 5]}, ["y"], bounds, opset=13)
    want = np.clip(x, -0.5, 0.25)
    np.testing.assert_array_equal(tf_run(old, {"x": x})["y"], want)
    np.testing.assert_array_equal(tf_run(new, {"x": x})["y"], want)


def _integer_model(op_type: str, dtype: int, **attrs: Any) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op_type, ["a", "b"], ["y"], **attrs)],
        "int",
        [helper.make_tensor_value_info(n, dtype, [6]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", dtype, [6])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize(
    ("op_type", "attrs", "expected"),
    [
        ("Div", {}, [2, -2, -2, 2, 0, 0]),  # truncates toward zero
        ("Mod", {}, [1, -2, 2, -1, 3, -3]),  # sign of the divisor, like Python's %
        ("Mod", {"fmod": 1}, [1, 1, -1, -1, 3, -3]),  # sign of the dividend, like C's fmod
    ],
)
def test_integer_division_semantics(op_type: str, attrs: dict[str, int], expected: list[int]) -> None:
    a = np.array([7, 7, -7, -7, 3, -3], np.int8)
    b = np.array([3, -3, 3, -3, 5, -5], np.int8)
    got = tf_run(_integer_model(op_type, TensorProto.INT8, **attrs), {"a": a, "b": b})["y"]
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)


def test_cast_to_float16_is_a_typed_rejection() -> None:
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT16)], {"x": [3]}, ["y"])
    with pytest.raises(UnsupportedDataTypeError, match="FLOAT16"):
        onnx_to_tf(model)
