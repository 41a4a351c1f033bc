"""The main job, as far as the pipeline goes today: a real trained MobileNetV2 on real photos.

Fetches MobileNetV2 (ImageNet weights, sha256-verified, cached), converts it to TensorFlow with
``onnx_to_tf`` and classifies real photos with onnxruntime (the float ONNX model) and with the converted
graph, printing both top-1 classes and the largest difference between the two.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnxruntime as ort

from onnx_direct.metrics import relative_error
from onnx_direct.runner import TFRunner
from tpu_framework import onnx_to_tf
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

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    worst = 0.0
    print(f"\n{'photo':<16} {'onnxruntime top-1':<34} {'converted TF top-1':<34} same")
    with TFRunner(graph, mapping) as runner:
        for name in photos.IMAGENET_LIKE:
            x = photos.imagenet_preprocess(photos.photo(name))
            want = session.run([output_name], {input_name: x})[0]
            got = runner({input_name: x}, [output_name])[output_name]
            worst = max(worst, relative_error(got, want))
            cells = []
            for logits in (want, got):
                top = int(np.argmax(logits))
                cells.append(f"{classes[top][:24]} ({softmax(logits)[0, top]:.2f})")
            print(f"{name:<16} {cells[0]:<34} {cells[1]:<34} {'yes' if cells[0] == cells[1] else 'NO'}")
    print(f"\nlargest difference TF vs onnxruntime: {worst:.2e} of the largest logit")


if __name__ == "__main__":
    main()
