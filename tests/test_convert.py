"""onnx_to_tf: the API contract (mapping, layouts, input_shape, keep_arrangement, simplification)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from onnx_direct.runner import run_tf
from pytpu.errors import ConversionError, InputShapeError
from tests.helpers import conv_net, make_model, ort_run, tf_run, transpose_ops


@pytest.fixture(scope="module")
def model_and_input() -> tuple[object, np.ndarray]:
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    return conv_net(), x


def test_matches_onnxruntime_in_onnx_layout(model_and_input):
    model, x = model_and_input
    want = ort_run(model, {"input": x})["output"]
    got = tf_run(model, {"input": x})["output"]
    assert got.shape == want.shape == (2, 8, 16, 16)
    assert relative_error(got, want) < 1e-5


def test_transposes_only_at_the_boundaries(model_and_input):
    model, _ = model_and_input
    graph, _ = onnx_to_tf(model)
    names = transpose_ops(graph.as_graph_def())
    assert len(names) == 2, names
    assert all(name.startswith(("input", "output", "add")) for name in names), names


def test_mapping_names_inputs_outputs_and_intermediates(model_and_input):
    model, x = model_and_input
    graph, mapping = onnx_to_tf(model)
    assert mapping["input"] == "input:0"
    assert mapping["output"] == "output:0"
    for name in ("c1", "r1", "c2"):
        graph.get_tensor_by_name(mapping[name])
        assert mapping.layout(name) == (0, 2, 3, 1)
    assert mapping.layout("input") is None
    # an intermediate tensor fetched through the mapping is the ONNX tensor stored channels-last
    got = run_tf(graph, mapping, {"input": x}, ["r1"])["r1"]
    relu = np.maximum(ort_run(_with_output(model, "r1"), {"input": x})["r1"], 0)
    assert relative_error(np.transpose(got, (0, 3, 1, 2)), relu) < 1e-5


def _with_output(model, name):
    extended = type(model)()
    extended.CopyFrom(model)
    info = next(v for v in extended.graph.value_info if v.name == name)
    extended.graph.output.append(info)
    return extended


def test_keep_arrangement_feeds_nhwc_without_transpose(model_and_input):
    model, x = model_and_input
    keep = {"input": (0, 2, 3, 1), "output": (0, 2, 3, 1)}
    graph, mapping = onnx_to_tf(model, keep_arrangement=keep)
    assert transpose_ops(graph.as_graph_def()) == []
    got = run_tf(graph, mapping, {"input": x.transpose(0, 2, 3, 1)}, ["output"])["output"]
    want = ort_run(model, {"input": x})["output"]
    assert relative_error(got, want.transpose(0, 2, 3, 1)) < 1e-5


def test_keep_arrangement_rejects_unknown_names_and_non_permutations(model_and_input):
    model, _ = model_and_input
    with pytest.raises(ConversionError, match="not an input or output"):
        onnx_to_tf(model, keep_arrangement={"c1": (0, 2, 3, 1)})
    with pytest.raises(ConversionError, match="not a permutation"):
        onnx_to_tf(model, keep_arrangement={"input": (0, 2, 2, 1)})


def test_dynamic_batch_stays_dynamic_and_input_shape_fixes_it(model_and_input):
    model, x = model_and_input
    graph, mapping = onnx_to_tf(model)
    assert graph.get_tensor_by_name(mapping["input"]).shape.as_list() == [None, 3, 16, 16]
    graph, mapping = onnx_to_tf(model, input_shape={"input": [2, 3, 16, 16]})
    assert graph.get_tensor_by_name(mapping["input"]).shape.as_list() == [2, 3, 16, 16]
    assert run_tf(graph, mapping, {"input": x}, ["output"])["output"].shape == (2, 8, 16, 16)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"image": [1, 3, 16, 16]}, "not inputs of the model"),
        ({"input": [1, 3, 16]}, "rank 3"),
        ({"input": [1, 4, 16, 16]}, "dimension 1 to 4"),
    ],
)
def test_bad_input_shape_is_a_typed_error(model_and_input, shape, message):
    model, _ = model_and_input
    with pytest.raises(InputShapeError, match=message):
        onnx_to_tf(model, input_shape=shape)


def test_try_simplify_gives_the_same_result(model_and_input):
    model, x = model_and_input
    want = ort_run(model, {"input": x})["output"]
    got = tf_run(model, {"input": x}, try_simplify=True, input_shape={"input": [2, 3, 16, 16]})["output"]
    assert relative_error(got, want) < 1e-5


def test_try_simplify_falls_back_with_a_warning(model_and_input, monkeypatch):
    import onnxsim

    def broken(*args, **kwargs):
        raise RuntimeError("simplifier crashed")

    monkeypatch.setattr(onnxsim, "simplify", broken)
    model, x = model_and_input
    with pytest.warns(UserWarning, match="onnxsim failed"):
        got = tf_run(model, {"input": x}, try_simplify=True)["output"]
    assert relative_error(got, ort_run(model, {"input": x})["output"]) < 1e-5


def test_names_tf_cannot_take_are_sanitised():
    nodes = [helper.make_node("Relu", ["/in:put::0"], ["onnx::Relu_1/out"], name="/model.22/Relu")]
    model = make_model(nodes, {"/in:put::0": [1, 4]}, ["onnx::Relu_1/out"])
    x = np.array([[-1, 2, -3, 4]], np.float32)
    graph, mapping = onnx_to_tf(model)
    assert ":" not in mapping["/in:put::0"].split(":")[0]
    got = run_tf(graph, mapping, {"/in:put::0": x}, ["onnx::Relu_1/out"])["onnx::Relu_1/out"]
    assert np.array_equal(got, np.maximum(x, 0))
