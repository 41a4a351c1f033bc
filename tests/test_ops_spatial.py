"""Spatial and normalization converters against onnxruntime, and their layout discipline."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from tests.helpers import make_model, ort_run, tf_run, transpose_ops

RNG = np.random.default_rng(7)


def _normal(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def _op_types(model: object, **kwargs: object) -> set[str]:
    graph, _ = onnx_to_tf(model, **kwargs)  # type: ignore[arg-type]
    return {n.op for n in graph.as_graph_def().node}


@pytest.fixture(scope="module")
def chain() -> object:
    """Conv -> MaxPool -> BatchNormalization -> Resize (bilinear) -> DepthToSpace -> LayerNormalization."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["p", "s", "b", "m", "v"], ["n"]),
        helper.make_node("Resize", ["n", "", "scales"], ["r"], mode="linear"),
        helper.make_node("DepthToSpace", ["r"], ["d"], blocksize=2, mode="CRD"),
        helper.make_node("LayerNormalization", ["d", "g"], ["y"], axis=-1),
    ]
    initializers = {
        "w": _normal(8, 3, 3, 3, scale=0.3),
        "s": _normal(8),
        "b": _normal(8),
        "m": _normal(8, scale=0.1),
        "v": RNG.uniform(0.5, 2.0, 8).astype(np.float32),
        "scales": np.array([1, 1, 2, 2], np.float32),
        "g": _normal(32),
    }
    return make_model(nodes, {"x": [1, 3, 16, 16]}, ["y"], initializers, opset=18)


def test_chain_matches_onnxruntime(chain):
    x = _normal(1, 3, 16, 16)
    want = ort_run(chain, {"x": x})["y"]
    got = tf_run(chain, {"x": x})["y"]
    assert got.shape == want.shape == (1, 2, 32, 32)
    assert relative_error(got, want) < 1e-5


def test_chain_stays_channels_last(chain):
    graph, mapping = onnx_to_tf(chain)
    names = transpose_ops(graph.as_graph_def())
    assert all(name.startswith(("x_relayout", "y_relayout")) for name in names), names
    assert len(names) == 2
    assert mapping.layout("r") == (0, 2, 3, 1)
    assert "ResizeBilinear" in {n.op for n in graph.as_graph_def().node}


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_with_negative_pads_on_channels_last_input(mode):
    pads = np.array([0, 2, -1, 1, 0, -1, 2, 0], np.int64)  # crops H at the start and W at the end
    if mode == "reflect":
        pads = np.array([0, 2, -1, 1, 0, 1, 2, 0], np.int64)
    model = make_model(
        [helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode=mode)],
        {"x": [2, 3, 5, 6]},
        ["y"],
        {"pads": pads, "value": np.array(0.5, np.float32)},
        opset=19,
    )
    x = _normal(2, 3, 5, 6)
    want = ort_run(model, {"x": x})["y"]
    got = tf_run(model, {"x": np.transpose(x, (0, 2, 3, 1))}, keep_arrangement={"x": (0, 2, 3, 1)})["y"]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices(storage_order):
    node = helper.make_node(
        "MaxPool",
        ["x"],
        ["y", "i"],
        kernel_shape=[3, 2],
        strides=[2, 1],
        pads=[1, 0, 1, 1],
        ceil_mode=1,
        storage_order=storage_order,
    )
    model = make_model([node], {"x": [2, 3, 7, 6]}, ["y", "i"], opset=12)
    x = RNG.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(np.float32)  # no ties
    want = ort_run(model, {"x": x})
    got = tf_run(model, {"x": x})
    np.testing.assert_array_equal(got["y"], want["y"])
    np.testing.assert_array_equal(got["i"], want["i"])
    assert got["i"].dtype == np.int64


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_pads_and_ceil_mode(count_include_pad):
    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 0, 1, 1],
        ceil_mode=1,
        count_include_pad=count_include_pad,
    )
    model = make_model([node], {"x": [1, 4, 8, 7]}, ["y"], opset=19)
    x = _normal(1, 4, 8, 7)
    assert relative_error(tf_run(model, {"x": x})["y"], ort_run(model, {"x": x})["y"]) < 1e-6


def test_conv_transpose_groups_dilations_output_padding():
    node = helper.make_node(
        "ConvTranspose",
        ["x", "w", "b"],
        ["y"],
        group=2,
        strides=[2, 3],
        dilations=[2, 1],
        pads=[1, 0, 0, 2],
        output_padding=[1, 2],
    )
    initializers = {"w": _normal(4, 3, 3, 2), "b": _normal(6)}
    model = make_model([node], {"x": [2, 4, 5, 4]}, ["y"], initializers, opset=11)
    x = _normal(2, 4, 5, 4)
    want = ort_run(model, {"x": x})["y"]
    got = tf_run(model, {"x": x})["y"]
    assert got.shape == want.shape
    assert relative_error(got, want) < 1e-5


def test_resize_cubic_downscale_and_nearest_upscale():
    nodes = [
        helper.make_node("Resize", ["x", "", "", "sizes"], ["c"], mode="cubic", cubic_coeff_a=-0.5),
        helper.make_node(
            "Resize",
            ["c", "", "scales"],
            ["y"],
            mode="nearest",
            nearest_mode="floor",
            coordinate_transformation_mode="asymmetric",
        ),
    ]
    initializers = {"sizes": np.array([1, 3, 5, 7], np.int64), "scales": np.array([1, 1, 3, 2], np.float32)}
    model = make_model(nodes, {"x": [1, 3, 9, 10]}, ["y"], initializers, opset=13)
    x = _normal(1, 3, 9, 10)
    got = tf_run(model, {"x": x})["y"]
    assert relative_error(got, ort_run(model, {"x": x})["y"]) < 1e-5
    assert "ResizeNearestNeighbor" in _op_types(model, keep_arrangement={"x": (0, 2, 3, 1)})
