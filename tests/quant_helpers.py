"""Small float TF graphs for the quantizer tests, and running a QuantizedModel's golden graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from dnn_quant import QuantizedModel, RegularModel
from dnn_quant.graph import session_config


def graph_def(
    build: Callable[[tf.Tensor], tf.Tensor], shape: tuple[int, ...], batch: int | None = None
) -> tf.compat.v1.GraphDef:
    """A frozen graph ``y = build(x)`` with input ``x:0`` of ``shape`` (batch dimension ``batch``)."""
    with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [batch, *shape[1:]], name="x")
        tf.identity(build(x), name="y")
    return graph.as_graph_def()


def run_float(gd: tf.compat.v1.GraphDef, data: np.ndarray, output: str = "y:0") -> np.ndarray:
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=graph, config=session_config()) as session:  # as the quantizer runs it
        return session.run(output, {"x:0": data})


def run_golden(
    model: QuantizedModel, feeds: dict[str, np.ndarray], fetches: list[str], batch: int | None = None
) -> list[np.ndarray]:
    golden = model.as_graph(batch_size=batch).as_graph_def()
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(golden, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return list(session.run(fetches, feeds))


def quantize(
    build: Callable[[tf.Tensor], tf.Tensor], data: np.ndarray, batch: int | None = None, **options: Any
) -> tuple[RegularModel, QuantizedModel, tf.compat.v1.GraphDef]:
    gd = graph_def(build, data.shape, batch)
    regular = RegularModel(gd, {"x:0": (batch, *data.shape[1:])}, ["y:0"], **options)
    thresholds = regular.calibrate({"x:0": data})
    return regular, regular.quantize(thresholds), gd


def sqnr_db(reference: np.ndarray, approximation: np.ndarray) -> float:
    noise = np.sum(np.square(reference.astype(np.float64) - approximation))
    return float(10 * np.log10(np.sum(np.square(reference.astype(np.float64))) / max(noise, 1e-30)))


def seeded(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def mobilenet_v2_quantized(calibration: tuple[str, ...]) -> dict[str, Any]:
    """The real MobileNetV2 converted and quantized as the manual's chapter 5 does it, calibrated on the five
    views of each ``calibration`` photo: ``onnx``, ``mapping``, ``regular`` and ``model``."""
    from onnx_direct import onnx_to_tf
    from tpu_framework.assets import photos
    from tpu_framework.assets.mobilenet_v2 import mobilenet_v2

    onnx_model = mobilenet_v2()
    source, output = onnx_model.graph.input[0].name, onnx_model.graph.output[0].name
    tf_graph, mapping = onnx_to_tf(onnx_model, None, try_simplify=True)
    regular = RegularModel(
        original_graph_def=tf_graph.as_graph_def(),
        input_shapes={mapping[source]: (1, 3, 224, 224)},
        output_nodes=[mapping[output]],
        anchors_mapping=mapping,
    )
    views = np.concatenate([photos.imagenet_views(photos.photo(n)) for n in calibration])
    model = regular.quantize(regular.calibrate({mapping[source]: views}))
    return {"onnx": onnx_model, "mapping": mapping, "regular": regular, "model": model}
