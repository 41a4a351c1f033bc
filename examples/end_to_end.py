"""The main job, as far as the pipeline goes today: a real trained MobileNetV2 on real photos.

Fetches MobileNetV2 (ImageNet weights, sha256-verified, cached), converts it to TensorFlow with
``onnx_to_tf``, quantizes it to int8 (calibrated on the corner crops of the photos), and classifies the
photos' centre crops with onnxruntime (the float ONNX model), the converted graph and the integer reference
(``QuantizedModel.as_graph()``, what the TPU computes bit for bit), printing the three top-1 classes.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnxruntime as ort
import tensorflow as tf

from onnx_direct.metrics import relative_error
from onnx_direct.runner import TFRunner
from tpu_framework import QuantizedModel, RegularModel, onnx_to_tf
from tpu_framework.assets import photos
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def main() -> None:
    model = mobilenet_v2()
    input_name, output_name = model.graph.input[0].name, model.graph.output[0].name
    classes = photos.imagenet_classes()

    started = time.perf_counter()
    graph, mapping = onnx_to_tf(model, input_shape={input_name: [1, 3, 224, 224]})
    transposes = sum(node.op == "Transpose" for node in graph.as_graph_def().node)
    print(
        f"converted MobileNetV2 ({len(model.graph.node)} ONNX nodes) in {time.perf_counter() - started:.2f} s, "
        f"{transposes} Transpose ops in the TF graph"
    )

    quantized = quantize(graph, mapping, input_name, output_name)
    golden = quantized.as_graph(batch_size=1).as_graph_def()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    worst, header = 0.0, ("onnxruntime top-1", "converted TF top-1", "int8 top-1")
    print(f"\n{'photo':<16} {header[0]:<30} {header[1]:<30} {header[2]:<30}")
    with TFRunner(graph, mapping) as runner, tf.Graph().as_default() as int8_graph:
        tf.graph_util.import_graph_def(golden, name="")
        int8_session = tf.compat.v1.Session(graph=int8_graph)
        for name in photos.IMAGENET_LIKE:
            x = photos.imagenet_preprocess(photos.photo(name))
            want = session.run([output_name], {input_name: x})[0]
            got = runner({input_name: x}, [output_name])[output_name]
            int8 = run_int8(quantized, int8_session, mapping, input_name, output_name, x)
            worst = max(worst, relative_error(got, want))
            cells = [
                f"{classes[int(np.argmax(v))][:20]} ({softmax(v)[0, int(np.argmax(v))]:.2f})" for v in (want, got, int8)
            ]
            print(f"{name:<16} {cells[0]:<30} {cells[1]:<30} {cells[2]:<30}")
    print(f"\nlargest difference TF vs onnxruntime: {worst:.2e} of the largest logit")


def quantize(graph: tf.Graph, mapping: dict[str, str], input_name: str, output_name: str) -> QuantizedModel:
    started = time.perf_counter()
    corners = np.concatenate([photos.imagenet_views(photos.photo(n))[1:] for n in photos.IMAGENET_LIKE])
    regular = RegularModel(
        graph.as_graph_def(),
        {mapping[input_name]: (1, 3, 224, 224)},
        [mapping[output_name]],
        anchors_mapping=dict(mapping),
        percentile=99.99,
    )
    quantized = regular.quantize(regular.calibrate({mapping[input_name]: corners}))
    print(
        f"quantized to int8 ({len(quantized.layers)} layers, calibrated on {len(corners)} corner crops) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return quantized


def run_int8(
    quantized: QuantizedModel,
    session: tf.compat.v1.Session,
    mapping: dict[str, str],
    input_name: str,
    output_name: str,
    x: np.ndarray,
) -> np.ndarray:
    """As the manual's chapter 5: rescale in, the integer graph, rescale out."""
    codes = session.run(mapping[output_name], quantized.rescale({mapping[input_name]: x}))
    return quantized.rescale({mapping[output_name]: codes})[mapping[output_name]]


if __name__ == "__main__":
    main()
