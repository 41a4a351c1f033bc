"""Export one ``keras.applications`` model with seeded random weights to ONNX; run as a script, not imported.

Keras picks its backend once per process, and ONNX export needs the torch backend (the TensorFlow backend
needs tf2onnx), so :mod:`tpu_framework.assets.keras_models` runs this file in a fresh interpreter with
``KERAS_BACKEND=torch``. Usage: ``python _keras_export.py '<json spec>' <out.onnx>``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


def build(spec: dict[str, Any]) -> Any:
    import keras

    keras.config.set_image_data_format(spec["data_format"])
    keras.utils.set_random_seed(spec["seed"])
    size = spec["size"]
    shape = (3, size, size) if spec["data_format"] == "channels_first" else (size, size, 3)
    head = {"classifier_activation": None} if spec["include_top"] else {"pooling": "avg"}
    application = getattr(keras.applications, spec["application"])
    return application(weights=None, input_shape=shape, include_top=spec["include_top"], **head)


def export(spec: dict[str, Any], out: str) -> None:
    """Trace the model with torch's TorchScript exporter and check onnxruntime reproduces keras's output."""
    import onnxruntime as ort
    import torch

    model = build(spec)
    model.eval()
    shape = (1, *model.input_shape[1:])
    x = np.random.default_rng(spec["seed"]).standard_normal(shape, dtype=np.float32)
    torch.onnx.export(model, (torch.from_numpy(x),), out, input_names=["input"], output_names=[spec["output"]],
                      opset_version=spec["opset"], do_constant_folding=True, dynamo=False)  # fmt: skip
    with torch.no_grad():
        expected = np.asarray(model(torch.from_numpy(x)).detach().cpu())
    (actual,) = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    error = float(np.abs(actual - expected).max())
    if not np.allclose(actual, expected, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(expected).max()))):
        raise SystemExit(f"onnxruntime differs from keras by {error:.3g} on {spec['application']}")


if __name__ == "__main__":
    export(json.loads(sys.argv[1]), sys.argv[2])
