"""get_sub_model: cutting a model between named tensors (manual chapter 8)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from onnx_direct import get_sub_model
from pytpu.errors import SubModelError
from tests.helpers import conv_net, make_model, ort_run


def test_head_then_tail_equals_full():
    model = conv_net()
    x = np.random.default_rng(0).normal(size=(1, 3, 16, 16)).astype(np.float32)
    head = get_sub_model(model, ["input"], ["r1"])
    tail = get_sub_model(model, ["r1"], ["output"])
    assert [n.name for n in head.graph.node] == ["conv1", "relu1"]
    assert [n.name for n in tail.graph.node] == ["conv2", "add"]
    assert {t.name for t in head.graph.initializer} == {"w1", "b1"}
    assert {t.name for t in tail.graph.initializer} == {"w2"}
    full = ort_run(model, {"input": x}, optimize=False)["output"]
    cut = ort_run(tail, {"r1": ort_run(head, {"input": x}, optimize=False)["r1"]}, optimize=False)["output"]
    assert np.array_equal(cut, full)


def test_inputs_and_outputs_keep_the_order_given():
    nodes = [
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Neg", ["b"], ["nb"]),
        helper.make_node("Add", ["ra", "nb"], ["y"]),
    ]
    model = make_model(nodes, {"a": [2], "b": [2]}, ["y"])
    sub = get_sub_model(model, ["nb", "ra"], ["y", "ra"])
    assert [i.name for i in sub.graph.input] == ["nb", "ra"]
    assert [o.name for o in sub.graph.output] == ["y", "ra"]


def test_unknown_names_are_listed_with_suggestions():
    with pytest.raises(SubModelError, match=r"'r2' \(did you mean \[.*'r1'") as info:
        get_sub_model(conv_net(), ["input"], ["r2"])
    assert "no tensor named" in str(info.value)


def test_a_cut_that_is_not_closed_is_an_error():
    nodes = [helper.make_node("Relu", ["a"], ["ra"]), helper.make_node("Add", ["ra", "a"], ["y"])]
    model = make_model(nodes, {"a": [2]}, ["y"])
    with pytest.raises(SubModelError, match=r"not closed.*\['a'\]"):
        get_sub_model(model, ["ra"], ["y"])


def test_weights_are_not_cut_points():
    with pytest.raises(SubModelError, match="initializers"):
        get_sub_model(conv_net(), ["w1"], ["output"])


def test_empty_name_lists_are_an_error():
    with pytest.raises(SubModelError, match="at least one"):
        get_sub_model(conv_net(), [], ["output"])
