"""QuantizedModel and RegularModel around the layers: saving, loading, thresholds files, reports and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from dnn_quant import QuantizedModel, RegularModel, TpuDtype
from pytpu.errors import QuantizationError
from tests.quant_helpers import graph_def, quantize, run_golden, seeded
from tests.test_quantize_layers import GRAPHS

DATA = seeded((12, 10, 12, 8), 0)


@pytest.fixture(scope="module")
def quantized() -> tuple[RegularModel, QuantizedModel]:
    regular, model, _ = quantize(GRAPHS["squeeze_excite"], DATA)
    return regular, model


def test_save_then_load_gives_the_same_golden_output(
    quantized: tuple[RegularModel, QuantizedModel], tmp_path: Path
) -> None:
    _, model = quantized
    model.save(str(tmp_path), "model.json")
    loaded = QuantizedModel.load(str(tmp_path / "model.json"))
    codes = model.rescale({"x:0": seeded((3, 10, 12, 8), 5)})["x:0"]
    assert np.array_equal(run_golden(model, {"x:0": codes}, ["y:0"])[0], run_golden(loaded, {"x:0": codes}, ["y:0"])[0])
    assert isinstance(loaded.layers[0].arrays()[next(iter(loaded.layers[0].arrays()))], np.memmap | np.ndarray)
    scales = json.loads((tmp_path / "scales.json").read_text())
    assert set(scales["tensors"]) == {"x:0", "y:0"}


def test_golden_graph_runs_in_a_fresh_process(quantized: tuple[RegularModel, QuantizedModel], tmp_path: Path) -> None:
    _, model = quantized
    codes = model.rescale({"x:0": seeded((2, 10, 12, 8), 6)})["x:0"]
    expected = run_golden(model, {"x:0": codes}, ["y:0"])[0]
    (tmp_path / "golden.pb").write_bytes(model.as_graph().as_graph_def().SerializeToString())
    np.save(tmp_path / "codes.npy", codes)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "gd = tf.compat.v1.GraphDef(); gd.ParseFromString(open(sys.argv[1] + '/golden.pb', 'rb').read())\n"
        "g = tf.Graph()\n"
        "with g.as_default(): tf.graph_util.import_graph_def(gd, name='')\n"
        "assert not any(op.type in ('PyFunc', 'EagerPyFunc') for op in g.get_operations())\n"
        "out = tf.compat.v1.Session(graph=g).run('y:0', {'x:0': np.load(sys.argv[1] + '/codes.npy')})\n"
        "np.save(sys.argv[1] + '/out.npy', out)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, capture_output=True)
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)


def test_rescale_directions(quantized: tuple[RegularModel, QuantizedModel]) -> None:
    _, model = quantized
    codes = model.rescale({"x:0": DATA[:2]})["x:0"]
    assert codes.dtype == np.int8
    back = model.rescale({"x:0": codes})["x:0"]
    assert back.dtype == np.float32
    assert np.abs(back - np.clip(DATA[:2], back.min(), back.max())).max() <= model.qparams("x:0").scale / 2 + 1e-6
    assert model.rescale({"x:0": codes}, TpuDtype.INT8)["x:0"].dtype == np.int8


def test_thresholds_file_round_trip_and_validation(
    quantized: tuple[RegularModel, QuantizedModel], tmp_path: Path
) -> None:
    regular, _ = quantized
    thresholds = regular.calibrate({"x:0": DATA})
    RegularModel.dump_thresholds(str(tmp_path / "t.json"), thresholds)
    assert RegularModel.load_thresholds(str(tmp_path / "t.json")) == thresholds
    document = json.loads((tmp_path / "t.json").read_text())
    document["version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(document))
    with pytest.raises(QuantizationError, match="version"):
        RegularModel.load_thresholds(str(tmp_path / "future.json"))
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(QuantizationError, match="not a thresholds file"):
        RegularModel.load_thresholds(str(tmp_path / "other.json"))


def test_thresholds_of_another_model_are_rejected(quantized: tuple[RegularModel, QuantizedModel]) -> None:
    regular, _ = quantized
    other, _, _ = quantize(GRAPHS["pools"], DATA)
    with pytest.raises(QuantizationError, match="do not belong to this model"):
        regular.quantize(other.calibrate({"x:0": DATA}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"z:0": DATA}, "missing inputs"),
        ({"x:0": DATA[:, :5]}, "shape"),
        ({"x:0": DATA.astype(np.int32)}, "dtype"),
        ({"x:0": np.where(DATA > 2, np.nan, DATA)}, "NaN"),
        ({"x:0": np.where(DATA > 2, np.inf, DATA)}, "NaN or Inf"),
        ({"x:0": DATA[:0]}, "no samples"),
    ],
)
def test_bad_calibration_data(quantized: tuple[RegularModel, QuantizedModel], data: dict, message: str) -> None:
    regular, _ = quantized
    with pytest.raises(QuantizationError, match=message):
        regular.calibrate(data)


def test_unsupported_layer_is_named() -> None:
    gd = graph_def(
        lambda x: tf.nn.conv2d(x, np.ones((1, 1, 8, 8), np.float32), 1, "VALID") * tf.reduce_max(x), (1, 4, 4, 8)
    )
    with pytest.raises(QuantizationError, match="Max \\(node 'Max'\\)"):
        RegularModel(gd, {"x:0": (None, 4, 4, 8)}, ["y:0"])


def test_unknown_names_are_errors() -> None:
    gd = graph_def(tf.nn.relu, (1, 4))
    with pytest.raises(QuantizationError, match="unknown output"):
        RegularModel(gd, {"x:0": (None, 4)}, ["nope:0"])
    with pytest.raises(QuantizationError, match="operation_cfg"):
        RegularModel(gd, {"x:0": (None, 4)}, ["y:0"], operation_cfg={"nope:0": "mse"})
    with pytest.raises(QuantizationError, match="unknown calibration method"):
        RegularModel(gd, {"x:0": (None, 4)}, ["y:0"], operation_cfg={"default": "magic"})


def test_methods_per_layer_histograms_and_statistics(tmp_path: Path) -> None:
    gd = graph_def(GRAPHS["conv_bn_relu6"], DATA.shape)
    conv_out = "clip_by_value:0"
    regular = RegularModel(gd, {"x:0": (None, 10, 12, 8)}, ["y:0"], percentile=99.0, operation_cfg={conv_out: "mse"})
    assert regular.methods == {"x:0": "percentile", conv_out: "mse"}
    thresholds = regular.calibrate(
        {"x:0": DATA},
        save_output_histograms=True,
        save_dir=str(tmp_path),
        original_model_statistic_filename="stats.json",
    )
    assert thresholds["x:0"]["max"] < DATA.max()  # the percentile drops the tail
    assert (tmp_path / "histograms" / "x_0.png").exists() and (tmp_path / "histograms" / "x_0.json").exists()
    assert set(json.loads((tmp_path / "stats.json").read_text())) == {"x:0", conv_out}
    assert RegularModel.load_thresholds(str(tmp_path / "thresholds.json")) == thresholds
