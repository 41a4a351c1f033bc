"""RegularModel.fine_tune: trained ranges in the calibrate format, a better integer model, logs and checkpoints,
bad input; and the manual's four ways to quantize (chapter 5) on the Fashion-MNIST CNN."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from dnn_quant import QuantizedModel, RegularModel
from dnn_quant.layers.base import FloatLayer
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


def test_thresholds_have_the_calibrate_format(outliers: dict[str, Any]) -> None:
    tuned, calibrated = outliers["tuned"], outliers["calibrated"]
    assert set(tuned) == set(calibrated)
    for entry in tuned.values():
        assert set(entry) == {"min", "max", "method"} and entry["method"] == "fine_tune"
        assert isinstance(entry["min"], float) and entry["min"] <= 0.0 <= entry["max"]
    assert isinstance(outliers["regular"].quantize(tuned), QuantizedModel)


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
    assert checkpoints == ["best.json"] + [f"epoch_{i:03d}.json" for i in range(6)]
    assert RegularModel.load_thresholds(str(directory / "checkpoints" / "best.json")) == outliers["tuned"]
    best = json.loads((directory / "history.json").read_text())["best_epoch"]
    assert RegularModel.load_thresholds(str(directory / "checkpoints" / f"epoch_{best:03d}.json")) == outliers["tuned"]
    tags: dict[str, int] = {}
    for events in (directory / "logs").glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(events)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags[value.tag] = tags.get(value.tag, 0) + 1
    assert tags["loss"] == 8 * 5  # 32 training samples in batches of 4, five epochs
    assert tags["epoch/eval_sqnr_db"] == 6 and tags["epoch/train_loss"] == 5


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
