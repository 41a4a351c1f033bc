"""The per-layer error report: every named layer measured against the float graph, streamed in batches."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from dnn_quant import RegularModel, layer_report
from dnn_quant.graph import op_name
from dnn_quant.report import LayerError, format_report, to_json, worst
from tests.quant_helpers import graph_def, quantize, run_float, run_golden, seeded, sqnr_db
from tests.test_quantize_layers import GRAPHS

CALIBRATION, EVALUATION = seeded((16, 10, 12, 8), 0), seeded((6, 10, 12, 8), 1)


@pytest.mark.parametrize("name", ["conv_bn_relu6", "grouped", "residual_add", "squeeze_excite", "pools", "dense_head"])
def test_rows_cover_every_named_layer_in_graph_order(name: str) -> None:
    regular, model, gd = quantize(GRAPHS[name], CALIBRATION)
    rows = layer_report(regular, model, {"x:0": EVALUATION})
    named = [layer.name for layer in model.layers if op_name(layer.name) in regular.graph.nodes]
    assert [r.name for r in rows] == ["x:0", *named]
    assert [r.index for r in rows] == list(range(len(rows)))
    assert rows[0].kind == "input" and rows[0].drop_db is None
    kinds = {layer.name: layer.KIND for layer in model.layers}
    assert all(r.kind == kinds[r.name] for r in rows[1:])
    # the output row is exactly the end-to-end SQNR of the golden graph against the float graph
    codes = model.rescale({"x:0": EVALUATION})["x:0"]
    (out,) = run_golden(model, {"x:0": codes}, ["y:0"])
    expected = sqnr_db(run_float(gd, EVALUATION), model.rescale({"y:0": out})["y:0"])
    output = next(r for r in rows if r.name == "y:0")
    assert output.sqnr_db == pytest.approx(expected, abs=1e-6)
    assert output.sqnr_db > 20.0
    for r in rows:
        assert r.scale == model.qparams(r.name).scale and r.zero_point == model.qparams(r.name).zero_point
        assert 0.0 <= r.clipped <= 1.0
        assert r.max_abs_error <= r.float_abs_max + 128 * r.scale


def test_input_error_is_rounding_only() -> None:
    regular, model, _ = quantize(GRAPHS["conv_bn_relu6"], CALIBRATION)
    (row,) = [r for r in layer_report(regular, model, {"x:0": EVALUATION}) if r.kind == "input"]
    inside = np.abs(EVALUATION).max() <= np.abs(CALIBRATION).max()
    if inside:
        assert row.max_abs_error <= 0.5 * row.scale * (1 + 1e-6)


def test_batching_does_not_change_the_numbers() -> None:
    regular, model, _ = quantize(GRAPHS["squeeze_excite"], CALIBRATION)
    data = {"x:0": EVALUATION}
    one, many = layer_report(regular, model, data, batch_size=1), layer_report(regular, model, data, batch_size=4)
    for a, b in zip(one, many, strict=True):
        assert a.name == b.name and a.max_abs_error == pytest.approx(b.max_abs_error, rel=1e-6, abs=1e-9)
        assert a.sqnr_db == pytest.approx(b.sqnr_db, rel=1e-6)
        assert a.clipped == b.clipped


def test_fixed_batch_graph() -> None:
    gd = graph_def(GRAPHS["conv_bn_relu6"], CALIBRATION.shape)
    fixed = _with_fixed_batch(gd, 2)
    regular = RegularModel(fixed, {"x:0": (2, *CALIBRATION.shape[1:])}, ["y:0"])
    model = regular.quantize(regular.calibrate({"x:0": CALIBRATION}))
    rows = layer_report(regular, model, {"x:0": EVALUATION}, batch_size=5)  # the graph's batch wins
    assert rows[-1].sqnr_db > 20.0


def _with_fixed_batch(gd: tf.compat.v1.GraphDef, batch: int) -> tf.compat.v1.GraphDef:
    fixed = tf.compat.v1.GraphDef()
    fixed.CopyFrom(gd)
    for node in fixed.node:
        if node.op == "Placeholder":
            node.attr["shape"].shape.dim[0].size = batch
    return fixed


def test_clipping_is_reported() -> None:
    # calibrate on small values, evaluate on large ones: the input range clips
    regular, model, _ = quantize(GRAPHS["conv_bn_relu6"], CALIBRATION * 0.1)
    rows = layer_report(regular, model, {"x:0": EVALUATION})
    assert rows[0].clipped > 0.5
    assert rows[0].sqnr_db < 10.0


def test_exact_layer_and_drop() -> None:
    regular, model, _ = quantize(GRAPHS["layout_ops"], CALIBRATION)
    rows = {r.name: r for r in layer_report(regular, model, {"x:0": EVALUATION})}
    # a layout layer that permutes codes loses nothing relative to its input (a slice or resize changes the
    # signal it measures, a permutation does not)
    for name in ("DepthToSpace:0", "transpose:0", "y:0"):
        assert rows[name].kind == "layout" and rows[name].drop_db == pytest.approx(0.0, abs=1e-9)
    assert rows["Conv2D:0"].drop_db is not None and rows["Conv2D:0"].drop_db > 0.0


def test_format_and_json() -> None:
    regular, model, _ = quantize(GRAPHS["squeeze_excite"], CALIBRATION)
    rows = layer_report(regular, model, {"x:0": EVALUATION})
    text = format_report(rows, mark=2)
    lines = text.splitlines()
    assert "SQNR dB" in lines[0] and len(lines) == len(rows) + 3
    body = lines[2:-1]
    assert [line.split()[1] for line in body] == [r.name for r in rows]  # graph order
    lowest = {r.name for r in worst(rows, 2)}
    assert {line.split()[1] for line in body if line.rstrip().endswith(("*", "* ^", "*^"))} <= lowest
    assert sum("*" in line.split()[-1] for line in body) == 2
    short = format_report(rows, limit=2).splitlines()
    assert len(short) == 2 + 3 and f"2 of {len(rows)}" in short[-1]
    data = json.loads(json.dumps(to_json(rows), allow_nan=False))
    assert [d["name"] for d in data] == [r.name for r in rows]
    assert set(data[0]) >= {"name", "kind", "sqnr_db", "max_abs_error", "scale"}


def test_exact_tensor_is_infinite_in_report_and_null_in_json() -> None:
    row = LayerError(0, "t:0", "layout", math.inf, 0.0, 0.0, 1.0, 0.1, 0, 0.0)
    assert row.to_json()["sqnr_db"] is None
    assert "inf" in format_report([row])


def test_wrong_data_is_rejected() -> None:
    from pytpu.errors import QuantizationError

    regular, model, _ = quantize(GRAPHS["conv_bn_relu6"], CALIBRATION)
    with pytest.raises(QuantizationError, match="evaluation data"):
        layer_report(regular, model, {"z:0": EVALUATION})


def test_second_output_of_a_split() -> None:
    regular, model, _ = quantize(GRAPHS["grouped"], CALIBRATION)
    rows = {r.name: r for r in layer_report(regular, model, {"x:0": EVALUATION})}
    assert "split:1" in rows and rows["split:1"].kind == "layout"
    assert rows["split:1"].sqnr_db == pytest.approx(rows["x:0"].sqnr_db, abs=3.0)


def test_tensor_the_float_graph_keeps_transposed() -> None:
    # as the converter flattens before a Gemm: [C, 1] read by MatMul(transpose_a) where the layer makes [1, C]
    weights = np.random.default_rng(3).standard_normal((8, 10)).astype(np.float32)

    def head(x: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(tf.reduce_mean(x, axis=[1, 2]), [8, 1], name="flat")
        return tf.matmul(flat, weights, transpose_a=True)

    gd = _with_fixed_batch(graph_def(head, (1, 10, 12, 8)), 1)
    regular = RegularModel(gd, {"x:0": (1, 10, 12, 8)}, ["y:0"])
    model = regular.quantize(regular.calibrate({"x:0": CALIBRATION}))
    rows = {r.name: r for r in layer_report(regular, model, {"x:0": EVALUATION})}
    assert rows["flat:0"].sqnr_db == pytest.approx(rows["Mean:0"].sqnr_db, abs=1e-6)
