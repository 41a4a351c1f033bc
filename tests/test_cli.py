"""tpuc convert / tpuc ops."""

from __future__ import annotations

import json

import onnx
from click.testing import CliRunner

from tests.helpers import conv_net
from tpu_framework.cli import main


def test_convert_writes_graph_and_mapping(tmp_path):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(), path)
    result = CliRunner().invoke(
        main, ["convert", str(path), "--input-shape", "input=1,3,16,16", "--keep", "input=0,2,3,1"]
    )
    assert result.exit_code == 0, result.output
    assert "1 Transpose" in result.output
    mapping = json.loads((tmp_path / "net.mapping.json").read_text())
    assert mapping["tensors"]["output"] == "output:0"
    assert mapping["layouts"]["input"] == [0, 2, 3, 1]
    assert (tmp_path / "net.pb").stat().st_size > 0


def test_convert_reports_typed_errors(tmp_path):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(), path)
    result = CliRunner().invoke(main, ["convert", str(path), "--input-shape", "image=1,3,16,16"])
    assert result.exit_code == 1
    assert "InputShapeError" in result.output and "image" in result.output
    result = CliRunner().invoke(main, ["convert", str(path), "--input-shape", "input:1x3"])
    assert result.exit_code == 2 and "NAME=N,N" in result.output


def test_ops_lists_supported_operators():
    result = CliRunner().invoke(main, ["ops"])
    assert result.exit_code == 0
    assert {"Conv", "Relu", "Add"} <= set(result.output.split())
