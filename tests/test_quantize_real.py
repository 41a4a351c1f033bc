"""The quantized-model part of the manual's end-to-end flow (chapter 5), on the real MobileNetV2 and real photos."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from dnn_quant import QuantizedModel
from tests.quant_helpers import mobilenet_v2_quantized
from tpu_framework.assets import photos

pytestmark = pytest.mark.slow
CALIBRATION = ("astronaut", "coffee", "china")  # photos never used for evaluation
EVALUATION = ("chelsea", "rocket", "motorcycle_left", "flower")
INPUT, OUTPUT = "input", "logits"


def _views(names: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([photos.imagenet_views(photos.photo(n)) for n in names])


def _tensorflow_inference(graph_def: tf.compat.v1.GraphDef, *args: Any, **kwargs: Any) -> Any:
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(*args, **kwargs)


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    flow = mobilenet_v2_quantized(CALIBRATION)
    onnx_model = flow["onnx"]
    assert onnx_model.graph.input[0].name == INPUT and onnx_model.graph.output[0].name == OUTPUT
    return flow


def _quantized_logits(model: QuantizedModel, mapping: dict[str, str], batch: np.ndarray) -> np.ndarray:
    """As the manual's _test_quantized_model: names through the mapping, rescale in, golden graph, rescale out."""
    graph_def = model.as_graph(batch_size=len(batch), cache_word_length=128).as_graph_def()
    input_dict = model.rescale({mapping[INPUT]: batch})
    output = _tensorflow_inference(graph_def, feed_dict=input_dict, fetches=mapping[OUTPUT])
    return model.rescale({mapping[OUTPUT]: output})[mapping[OUTPUT]]


def test_quantized_mobilenet_v2_agrees_with_float(flow: dict[str, Any]) -> None:
    evaluation = _views(EVALUATION)
    session = ort.InferenceSession(flow["onnx"].SerializeToString(), providers=["CPUExecutionProvider"])
    float_logits = np.concatenate([session.run([OUTPUT], {INPUT: x[None]})[0] for x in evaluation])
    quantized = _quantized_logits(flow["model"], flow["mapping"], evaluation)
    probabilities = np.exp(float_logits - float_logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    confident = probabilities.max(1) >= 0.5
    assert confident.sum() >= 5
    agree = quantized.argmax(1) == float_logits.argmax(1)
    assert agree[confident].mean() >= 0.95, (agree, confident)
    noise = np.sum((quantized - float_logits) ** 2)
    assert 10 * np.log10(np.sum(float_logits**2) / noise) > 12.0


def test_save_load_and_batch(flow: dict[str, Any], tmp_path: Any) -> None:
    model, mapping = flow["model"], flow["mapping"]
    model.save(str(tmp_path))
    loaded = QuantizedModel.load(str(tmp_path))
    batch = _views(("chelsea",))
    together = _quantized_logits(loaded, mapping, batch)
    alone = np.concatenate([_quantized_logits(model, mapping, x[None]) for x in batch])
    assert np.array_equal(together, alone)
