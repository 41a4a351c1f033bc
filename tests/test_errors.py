"""Bad input gets a clear, typed error naming what is wrong."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx_direct import onnx_to_tf
from pytpu.errors import InvalidModelError, TpuFrameworkError, UnsupportedDataTypeError, UnsupportedOperatorError
from tests.helpers import conv_net


def test_errors_share_one_base_class():
    for error in (InvalidModelError, UnsupportedOperatorError, UnsupportedDataTypeError):
        assert issubclass(error, TpuFrameworkError)


def test_truncated_file(tmp_path):
    data = conv_net().SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match=r"truncated\.onnx"):
        onnx_to_tf(str(path))


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, b"just some text\n" * 10, b""])
def test_file_that_is_not_onnx(tmp_path, content):
    path = tmp_path / "picture.onnx"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match=r"picture\.onnx"):
        onnx_to_tf(path)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidModelError, match="no such ONNX file"):
        onnx_to_tf(tmp_path / "absent.onnx")


def test_model_failing_the_checker():
    model = conv_net()
    model.graph.node[1].input[0] = "tensor_nobody_produces"
    with pytest.raises(InvalidModelError, match=r"onnx\.checker"):
        onnx_to_tf(model)


def test_wrong_argument_type():
    with pytest.raises(InvalidModelError, match=r"expected an onnx\.ModelProto"):
        onnx_to_tf(42)  # type: ignore[arg-type]


def test_unknown_ops_are_all_listed_with_node_and_opset():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("MyFancyOp", ["a"], ["b"], name="fancy_1", domain="com.example"),
        helper.make_node("Relu", ["b"], ["c"], name="ok2"),
        helper.make_node("StringNormalizer", ["c"], ["y"], name="strings"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", 1, [1, 4])], [helper.make_tensor_value_info("y", 1, [1, 4])]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedOperatorError) as info:
        onnx_to_tf(model)
    message = str(info.value)
    assert "MyFancyOp" in message and "fancy_1" in message and "com.example" in message
    assert "StringNormalizer" in message and "'strings'" in message and "opset 17" in message
    assert "get_sub_model" in message
    assert [n[0] for n in info.value.nodes] == ["MyFancyOp", "StringNormalizer"]


def test_unsupported_attribute_names_the_node():
    w = np.ones((2, 1, 3, 3), np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="weird_conv", auto_pad="SAME_SIDEWAYS")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, [1, 1, 5, 5])],
        [helper.make_tensor_value_info("y", 1, [1, 2, 5, 5])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedOperatorError, match=r"Conv \(node 'weird_conv', opset 13\): auto_pad"):
        onnx_to_tf(model)


def test_float16_input_is_rejected_with_its_name():
    graph = helper.make_graph(
        [helper.make_node("Relu", ["half"], ["y"])],
        "g",
        [helper.make_tensor_value_info("half", 10, [1, 4])],
        [helper.make_tensor_value_info("y", 10, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedDataTypeError, match=r"'half'.*FLOAT16"):
        onnx_to_tf(model)
