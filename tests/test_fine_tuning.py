"""RegularModel.fine_tune: trained ranges in the calibrate format, a better integer model, logs and checkpoints,
bad input; and the manual's four ways to quantize (chapter 5) on the Fashion-MNIST CNN."""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from dnn_quant import QuantizedModel, RegularModel
from dnn_quant.layers.base import FloatLayer
from dnn_quant.layers.conv import Conv, FloatConv
from dnn_quant.thresholds import weights_entry
from onnx_direct import onnx_to_tf
from pytpu.errors import QuantizationError
from tests.quant_helpers import graph_def, run_float, run_golden, seeded, sqnr_db
from tests.test_quantize_layers import GRAPHS
from tpu_framework.assets.fashion_mnist import fashion_mnist_cnn, fashion_mnist_preprocess, load_fashion_mnist

SHAPE = (10, 12, 8)
INPUT, OUTPUT = "input", "logits"
TEST_IMAGES = 1000
CALIBRATION_IMAGES = 32
MIXING = (np.random.default_rng(5).standard_normal((1, 1, 8, 8)) * 0.3).astype(np.float32)


def saturating(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.conv2d(tf.tanh(x), MIXING, [1, 1, 1, 1], "VALID")


def glitchy(count: int, seed: int) -> np.ndarray:
    """Normal samples where one value in a thousand is a +-30 glitch: ``max`` calibration spends the input's
    codes on them, although the tanh after the input hardly depends on how they are clipped."""
    values = seeded((count, *SHAPE), seed)
    glitches = np.random.default_rng(seed + 100).random(values.shape) < 1e-3
    return np.where(glitches, np.sign(values) * 30.0, values).astype(np.float32)


def golden_sqnr(regular: RegularModel, thresholds: dict[str, Any], gd: tf.compat.v1.GraphDef, x: np.ndarray) -> float:
    model = regular.quantize(thresholds)
    (out,) = run_golden(model, model.rescale({"x:0": x}), ["y:0"])
    return sqnr_db(run_float(gd, x), model.rescale({"y:0": out})["y:0"])


@pytest.fixture(scope="module")
def outliers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    gd = graph_def(saturating, (1, *SHAPE))
    regular = RegularModel(gd, {"x:0": (None, *SHAPE)}, ["y:0"])
    calibrated = regular.calibrate({"x:0": glitchy(16, 0)})
    directory = tmp_path_factory.mktemp("fine_tune")
    tuned = regular.fine_tune(calibrated, {"x:0": glitchy(40, 1)}, fine_tuning_epochs=5, working_dir=str(directory))
    return {"gd": gd, "regular": regular, "calibrated": calibrated, "tuned": tuned, "dir": directory}


def test_thresholds_have_the_calibrate_format(outliers: dict[str, Any], tmp_path: Path) -> None:
    """calibrate's entries, plus the documented ``weights`` field on the tensors convolutions are calibrated as."""
    tuned, calibrated, regular = outliers["tuned"], outliers["calibrated"], outliers["regular"]
    assert set(tuned) == set(calibrated)
    linear = {layer.calibrated_as for layer in regular.float_layers if isinstance(layer, FloatConv)}
    for name, entry in tuned.items():
        assert set(entry) - {"weights"} == {"min", "max", "method"} and entry["method"] == "fine_tune"
        assert isinstance(entry["min"], float) and entry["min"] <= 0.0 <= entry["max"]
        if "weights" in entry:
            assert name in linear and set(entry["weights"]) <= {"count", "round_up", "bias_offset"}
    assert any("weights" in entry for entry in tuned.values())  # the rounding phase won here
    RegularModel.dump_thresholds(str(tmp_path / "tuned.json"), tuned)
    assert json.loads((tmp_path / "tuned.json").read_text())["version"] == 2
    assert RegularModel.load_thresholds(str(tmp_path / "tuned.json")) == tuned
    assert isinstance(regular.quantize(tuned), QuantizedModel)


def test_loss_decreases_and_the_glitches_are_clipped(outliers: dict[str, Any]) -> None:
    history = json.loads((outliers["dir"] / "history.json").read_text())
    losses = [epoch["train_loss"] for epoch in history["epochs"][1:]]
    assert losses[-1] < losses[0]
    assert history["epochs"][-1]["eval_loss"] < history["epochs"][0]["eval_loss"]
    assert outliers["tuned"]["x:0"]["max"] < 0.5 * outliers["calibrated"]["x:0"]["max"]


def test_fine_tuned_integer_model_beats_max_calibration(outliers: dict[str, Any]) -> None:
    held_out = glitchy(32, 2)
    before = golden_sqnr(outliers["regular"], outliers["calibrated"], outliers["gd"], held_out)
    after = golden_sqnr(outliers["regular"], outliers["tuned"], outliers["gd"], held_out)
    assert after > before + 3.0, (before, after)


def test_logs_and_checkpoints(outliers: dict[str, Any]) -> None:
    directory = outliers["dir"]
    checkpoints = sorted(p.name for p in (directory / "checkpoints").iterdir())
    # epoch 0, five epochs of ranges, five of bias offsets, five of rounding
    assert checkpoints == ["best.json"] + [f"epoch_{i:03d}.json" for i in range(16)]
    assert RegularModel.load_thresholds(str(directory / "checkpoints" / "best.json")) == outliers["tuned"]
    history = json.loads((directory / "history.json").read_text())
    best = history["best_epoch"]
    assert [e["phase"] for e in history["epochs"]] == ["given"] + ["ranges"] * 5 + ["bias"] * 5 + ["rounding"] * 5
    assert RegularModel.load_thresholds(str(directory / "checkpoints" / f"epoch_{best:03d}.json")) == outliers["tuned"]
    assert history["epochs"][best]["eval_loss"] == min(e["eval_loss"] for e in history["epochs"])
    tags: dict[str, int] = {}
    for events in (directory / "logs").glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(events)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags[value.tag] = tags.get(value.tag, 0) + 1
    assert tags["loss"] == 8 * 15  # 32 training samples in batches of 4, five epochs in each phase
    assert tags["epoch/eval_sqnr_db"] == 16 and tags["epoch/train_loss"] == 15


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_every_layer_kind_trains(name: str, tmp_path: Path) -> None:
    gd = graph_def(GRAPHS[name], (1, *SHAPE))
    regular = RegularModel(gd, {"x:0": (None, *SHAPE)}, ["y:0"])
    calibrated = regular.calibrate({"x:0": seeded((8, *SHAPE), 0)})
    tuned = regular.fine_tune(calibrated, {"x:0": seeded((10, *SHAPE), 1)}, 1, str(tmp_path))
    assert set(tuned) == set(calibrated)
    assert golden_sqnr(regular, tuned, gd, seeded((4, *SHAPE), 2)) > 20.0


def test_default_working_dir_is_a_new_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    regular, _, _ = _small()
    regular.fine_tune(regular.calibrate({"x:0": seeded((4, *SHAPE), 0)}), {"x:0": seeded((4, *SHAPE), 1)}, 1)
    (made,) = tmp_path.glob("dnn_quant_fine_tune_*")
    assert (made / "checkpoints" / "best.json").exists() and any((made / "logs").iterdir())


def _small() -> tuple[RegularModel, dict[str, Any], np.ndarray]:
    regular = RegularModel(graph_def(GRAPHS["residual_add"], (1, *SHAPE)), {"x:0": (None, *SHAPE)}, ["y:0"])
    data = seeded((4, *SHAPE), 0)
    return regular, regular.calibrate({"x:0": data}), data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t, d: (t, {"z:0": d}), "missing inputs"),
        (lambda t, d: (t, {"x:0": d[:, :5]}), "shape"),
        (lambda t, d: (t, {"x:0": d[:0]}), "no samples"),
        (lambda t, d: ({**t, "other:0": {"min": 0.0, "max": 1.0}}, {"x:0": d}), "do not belong to this model"),
        (lambda t, d: ({k: {"min": 1.0, "max": -1.0} for k in t}, {"x:0": d}), "min <= max"),
    ],
    ids=["names", "shape", "empty", "other-model", "inverted-range"],
)
def test_bad_inputs(change: Any, message: str, tmp_path: Path) -> None:
    regular, thresholds, data = _small()
    bad_thresholds, bad_data = change(thresholds, data)
    with pytest.raises(QuantizationError, match=message):
        regular.fine_tune(bad_thresholds, bad_data, 1, str(tmp_path))


def test_thresholds_of_another_model(tmp_path: Path) -> None:
    regular, _, data = _small()
    other = RegularModel(graph_def(GRAPHS["pools"], (1, *SHAPE)), {"x:0": (None, *SHAPE)}, ["y:0"])
    with pytest.raises(QuantizationError, match="do not belong to this model"):
        regular.fine_tune(other.calibrate({"x:0": data}), {"x:0": data}, 1, str(tmp_path))
    with pytest.raises(QuantizationError, match="non-negative"):
        regular.fine_tune(regular.calibrate({"x:0": data}), {"x:0": data}, -1, str(tmp_path))


def test_no_epochs_gives_back_the_ranges(tmp_path: Path) -> None:
    regular, thresholds, data = _small()
    tuned = regular.fine_tune(thresholds, {"x:0": data}, 0, str(tmp_path))
    assert {k: (v["min"], v["max"]) for k, v in tuned.items()} == {
        k: (min(v["min"], 0.0), max(v["max"], 0.0)) for k, v in thresholds.items()
    }
    assert not any("weights" in entry for entry in tuned.values())


def test_no_epochs_keeps_learned_weights(outliers: dict[str, Any], tmp_path: Path) -> None:
    """Fine-tuning fine-tuned thresholds starts from their rounding and offsets, and gives them back unchanged."""
    regular, tuned = outliers["regular"], outliers["tuned"]
    assert regular.fine_tune(tuned, {"x:0": glitchy(8, 3)}, 0, str(tmp_path)) == tuned


# --- learned weights: the thresholds' "weights" field -----------------------------------------------------------


def _linear(regular: RegularModel) -> FloatConv:
    (layer,) = [layer for layer in regular.float_layers if isinstance(layer, FloatConv)]
    return layer


def _with_weights(thresholds: dict[str, Any], tensor: str, field: Any) -> dict[str, Any]:
    return {**thresholds, tensor: {**thresholds[tensor], "weights": field}}


def test_learned_rounding_round_trips_and_sets_each_code_to_floor_or_ceil(tmp_path: Path) -> None:
    regular, thresholds, _ = _small()  # a 1x1 convolution, 8 -> 8 channels
    layer = _linear(regular)
    rng = np.random.default_rng(3)
    bits = rng.random(layer.weights.shape) < 0.5
    offsets = rng.standard_normal(layer.bias.shape) * 0.05
    learned = _with_weights(thresholds, layer.calibrated_as, weights_entry(bits, offsets))
    path = tmp_path / "learned.json"
    RegularModel.dump_thresholds(str(path), learned)
    assert json.loads(path.read_text())["version"] == 2
    assert RegularModel.load_thresholds(str(path)) == learned
    RegularModel.dump_thresholds(str(tmp_path / "plain.json"), thresholds)
    assert json.loads((tmp_path / "plain.json").read_text())["version"] == 1  # readable by version-1 releases

    def conv(thresholds: dict[str, Any]) -> Conv:
        (found,) = [q for q in regular.quantize(thresholds).layers if q.name == layer.name]
        assert isinstance(found, Conv)
        return found

    plain, rounded = conv(thresholds), conv(RegularModel.load_thresholds(str(path)))
    weights = layer.weights.astype(np.float64)
    scales = np.abs(layer.weights).reshape(-1, weights.shape[-1]).max(axis=0).astype(np.float64) / 127
    ratio = weights / scales
    assert np.array_equal(plain.weights, np.rint(ratio))
    # the extreme weight lands a hair outside the grid in float64: clipped back to -127 / 127 like nearest codes
    assert np.array_equal(rounded.weights, np.clip(np.where(bits, np.ceil(ratio), np.floor(ratio)), -127, 127))
    assert not np.array_equal(rounded.weights, plain.weights)
    x = regular.qparams(thresholds)[layer.inputs[0]]
    sums = rounded.weights.reshape(-1, weights.shape[-1]).astype(np.int64).sum(axis=0)
    bias = np.rint((layer.bias + offsets) / (x.scale * scales)) - x.zero_point * sums
    assert np.array_equal(rounded.bias, bias)
    assert np.array_equal(rounded.mult, plain.mult) and np.array_equal(rounded.shift, plain.shift)


def _packed(count: int) -> str:
    return base64.b64encode(bytes((count + 7) // 8)).decode()


MALFORMED = {
    "not-base64": ({"count": 64, "round_up": "@@not base64@@"}, "not base64"),
    "bytes-for-count": ({"count": 100, "round_up": _packed(64)}, "bytes"),
    "count-of-layer": ({"count": 63, "round_up": _packed(63)}, "rounding for 63 weights"),
    "nan-offset": ({"count": 64, "round_up": _packed(64), "bias_offset": [math.nan] * 8}, "finite"),
    "inf-offset": ({"count": 64, "round_up": _packed(64), "bias_offset": [0.0] * 7 + [math.inf]}, "finite"),
    "offset-count": ({"count": 64, "round_up": _packed(64), "bias_offset": [0.0] * 7}, "7 bias offsets"),
    "negative-count": ({"count": -1, "round_up": ""}, "non-negative integer count"),
    "unknown-key": ({"count": 64, "round_up": _packed(64), "scales": [1.0]}, "must be an object"),
    "not-an-object": ([1, 2, 3], "must be an object"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_weights_are_refused_naming_the_tensor(case: str, tmp_path: Path) -> None:
    regular, thresholds, data = _small()
    tensor = _linear(regular).calibrated_as
    field, message = MALFORMED[case]
    bad = _with_weights(thresholds, tensor, field)
    pattern = f"{re.escape(repr(tensor))}.*{re.escape(message)}"
    with pytest.raises(QuantizationError, match=pattern):
        regular.quantize(bad)
    with pytest.raises(QuantizationError, match=pattern):
        regular.fine_tune(bad, {"x:0": data}, 1, str(tmp_path))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "tpu_framework.thresholds", "version": 2, "thresholds": bad}))
    if case in ("count-of-layer", "offset-count"):  # well-formed: only the model can tell
        with pytest.raises(QuantizationError, match=pattern):
            regular.quantize(RegularModel.load_thresholds(str(path)))
    else:
        with pytest.raises(QuantizationError, match=re.escape(repr(tensor))):
            RegularModel.load_thresholds(str(path))


def test_weights_need_format_version_2_and_a_linear_layer(tmp_path: Path) -> None:
    regular, thresholds, _ = _small()
    tensor = _linear(regular).calibrated_as
    learned = _with_weights(thresholds, tensor, weights_entry(np.zeros(64, bool)))
    path = tmp_path / "v1.json"
    path.write_text(json.dumps({"format": "tpu_framework.thresholds", "version": 1, "thresholds": learned}))
    with pytest.raises(QuantizationError, match=f"{re.escape(repr(tensor))}.*version 2"):
        RegularModel.load_thresholds(str(path))
    with pytest.raises(QuantizationError, match=r"'x:0'.*no convolution or dense layer"):
        regular.quantize(_with_weights(thresholds, "x:0", weights_entry(np.zeros(64, bool))))


def test_a_simulation_that_is_not_the_float_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dnn_quant.fine_tuning import layers
    from dnn_quant.layers.eltwise import FloatAdd

    monkeypatch.setitem(layers.SIMULATORS, FloatAdd, layers.mul)  # residual_add's x + y computed as x * y
    regular, thresholds, data = _small()
    with pytest.raises(QuantizationError, match="differs from the float graph"):
        regular.fine_tune(thresholds, {"x:0": data}, 1, str(tmp_path))


@dataclass
class FloatMystery(FloatLayer):
    """A layer kind fine-tuning has never heard of."""


def test_unknown_layer_kind_is_refused_by_name(tmp_path: Path) -> None:
    regular, thresholds, data = _small()
    layer = regular.float_layers[0]
    regular.float_layers[0] = FloatMystery(layer.name, layer.inputs, layer.ops)
    with pytest.raises(QuantizationError, match="FloatMystery"):
        regular.fine_tune(thresholds, {"x:0": data}, 1, str(tmp_path))


def two_convolutions(x: tf.Tensor) -> tf.Tensor:
    weights = np.random.default_rng(7).standard_normal((2, 3, 3, 8, 8)).astype(np.float32) * 0.3
    y = tf.nn.relu(tf.nn.conv2d(x, weights[0], [1, 1, 1, 1], "SAME"))
    return tf.nn.conv2d(y, weights[1], [1, 1, 1, 1], "SAME")


def test_fine_tuned_golden_graph_is_no_worse_on_the_held_out_samples(tmp_path: Path) -> None:
    """The best checkpoint is judged on the held-out part of the fine-tuning data (the simulation of the integer
    model); the integer model itself must not lose there either, and the rounding phase is what wins here."""
    from dnn_quant.fine_tuning.dataset import split
    from dnn_quant.fine_tuning.train import Settings

    gd = graph_def(two_convolutions, (1, *SHAPE))
    regular = RegularModel(gd, {"x:0": (None, *SHAPE)}, ["y:0"])
    calibrated = regular.calibrate({"x:0": seeded((16, *SHAPE), 0)})
    data = seeded((40, *SHAPE), 1)
    epochs = 6
    tuned = regular.fine_tune(calibrated, {"x:0": data}, epochs, str(tmp_path))
    settings = Settings()
    _, held_out = split(len(data), settings.held_out_fraction, settings.min_held_out, settings.seed)
    before = golden_sqnr(regular, calibrated, gd, data[held_out])
    after = golden_sqnr(regular, tuned, gd, data[held_out])
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["best_epoch"] > epochs and any("weights" in entry for entry in tuned.values())
    assert after >= before, (before, after)


# --- the Fashion-MNIST CNN ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion() -> dict[str, Any]:
    onnx_model = fashion_mnist_cnn()
    tf_graph, mapping = onnx_to_tf(onnx_model, None, try_simplify=True)
    train, _ = load_fashion_mnist("train")
    test, labels = load_fashion_mnist("test")
    evaluation = fashion_mnist_preprocess(test[:TEST_IMAGES])
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return {
        "graph_def": tf_graph.as_graph_def(),
        "mapping": mapping,
        "input_shapes": {mapping[INPUT]: (None, 1, 28, 28)},
        "output_nodes": [mapping[OUTPUT]],
        "train": fashion_mnist_preprocess(train[:400]),
        "evaluation": evaluation,
        "labels": labels[:TEST_IMAGES],
        "float": session.run([OUTPUT], {INPUT: evaluation})[0],
    }


def _logits(model: QuantizedModel, fashion: dict[str, Any], images: np.ndarray) -> np.ndarray:
    mapping = fashion["mapping"]
    (codes,) = run_golden(model, model.rescale({mapping[INPUT]: images}), [mapping[OUTPUT]])
    return model.rescale({mapping[OUTPUT]: codes})[mapping[OUTPUT]]


def test_fine_tuning_the_cnn_recovers_from_a_bad_calibration(fashion: dict[str, Any], tmp_path: Path) -> None:
    calibration = fashion["train"][:64].copy()
    calibration[0] *= 4.0  # one image fed at the wrong scale: every range from the input on is four times too wide
    regular = RegularModel(fashion["graph_def"], fashion["input_shapes"], fashion["output_nodes"])
    name = fashion["mapping"][INPUT]
    calibrated = regular.calibrate({name: calibration})
    tuned = regular.fine_tune(calibrated, {name: fashion["train"][64:256]}, 2, str(tmp_path))
    held_out, reference = fashion["evaluation"][:256], fashion["float"][:256]
    before = sqnr_db(reference, _logits(regular.quantize(calibrated), fashion, held_out))
    after = sqnr_db(reference, _logits(regular.quantize(tuned), fashion, held_out))
    assert after > before + 3.0, (before, after)


# The manual's four ways to quantize (chapter 5): calibration (qc), a thresholds file (qt), a thresholds file
# and fine-tuning (qtf), calibration and fine-tuning (qcf). Names go through the anchors mapping.


def _calibration_dict(fashion: dict[str, Any], count: int) -> dict[str, np.ndarray]:
    return {fashion["mapping"][INPUT]: fashion["train"][:count]}


def _fine_tuning_dict(fashion: dict[str, Any]) -> dict[str, np.ndarray]:
    return {fashion["mapping"][INPUT]: fashion["train"][100:150]}


def _regular(fashion: dict[str, Any]) -> RegularModel:
    return RegularModel(
        original_graph_def=fashion["graph_def"],
        input_shapes=fashion["input_shapes"],
        output_nodes=fashion["output_nodes"],
        anchors_mapping=fashion["mapping"],
    )


def quantization_with_calib(fashion: dict[str, Any], work: Path) -> QuantizedModel:
    regular = _regular(fashion)
    return regular.quantize(regular.calibrate(_calibration_dict(fashion, CALIBRATION_IMAGES)))


def quantization_with_thresholds(fashion: dict[str, Any], work: Path) -> QuantizedModel:
    return _regular(fashion).quantize(RegularModel.load_thresholds(str(work / "thresholds.json")))


def quantization_with_thresholds_and_finetune(fashion: dict[str, Any], work: Path) -> QuantizedModel:
    regular = _regular(fashion)
    thresholds = RegularModel.load_thresholds(str(work / "thresholds.json"))
    tuned = regular.fine_tune(thresholds, _fine_tuning_dict(fashion), 10, str(work / "training_qtf"))
    return regular.quantize(tuned)


def quantization_with_calib_and_finetune(fashion: dict[str, Any], work: Path) -> QuantizedModel:
    regular = _regular(fashion)
    thresholds = regular.calibrate(_calibration_dict(fashion, CALIBRATION_IMAGES))
    tuned = regular.fine_tune(thresholds, _fine_tuning_dict(fashion), 10, str(work / "training_qcf"))
    return regular.quantize(tuned)


@pytest.fixture(scope="module")
def thresholds_dir(fashion: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """THRESHOLDS_PATH of the manual: a calibration run's thresholds, dumped."""
    work = tmp_path_factory.mktemp("four_ways")
    regular = _regular(fashion)
    RegularModel.dump_thresholds(
        str(work / "thresholds.json"), regular.calibrate(_calibration_dict(fashion, CALIBRATION_IMAGES))
    )
    return work


@pytest.mark.slow
@pytest.mark.parametrize(
    "way",
    [
        quantization_with_calib,
        quantization_with_thresholds,
        quantization_with_thresholds_and_finetune,
        quantization_with_calib_and_finetune,
    ],
    ids=["qc", "qt", "qtf", "qcf"],
)
def test_the_four_ways_to_quantize(way: Any, fashion: dict[str, Any], thresholds_dir: Path) -> None:
    model = way(fashion, thresholds_dir)
    logits = _logits(model, fashion, fashion["evaluation"])
    labels, reference = fashion["labels"], fashion["float"]
    assert logits[0].argmax() == labels[0] == reference[0].argmax()
    accuracy, float_accuracy = (logits.argmax(1) == labels).mean(), (reference.argmax(1) == labels).mean()
    assert accuracy >= float_accuracy - 0.01, (accuracy, float_accuracy)
