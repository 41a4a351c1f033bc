"""``keras.applications`` architectures with seeded random weights (``weights=None``), exported to ONNX and cached.

Export runs Keras with its torch backend in a subprocess (see ``_keras_export.py``) and torch's TorchScript
ONNX exporter (opset 13). Keras's initial weights make activations vanish in depthwise networks (1e-12 at
MobileNetV2's output), so each layer's weights are then rescaled to unit output RMS
(:func:`~tpu_framework.assets.normalise.normalise_layer_outputs`) on the real photos the zoo runs the models on
(``photos.IMAGENET_LIKE``, ImageNet preprocessing, the whole batch at once). EfficientNetB0's hidden layers are
rescaled to RMS 0.1 instead: its swish activations and squeeze-and-excitation gates amplify amplitude differences
block after block at unit RMS (normalised on white noise, it took photos to logits of ~3e4 that float32 round-off
moved by 5e-3 of their range).

The input is ``input`` ``[1, 3, S, S]`` for channels-first models (Keras's DenseNet only builds channels-last:
``[1, S, S, 3]``); the output is ``logits`` ``[1, 1000]`` (no softmax), or ``features`` ``[1, C]`` (global
average pool) for headless models.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from pytpu.errors import AssetError
from tpu_framework.assets import photos
from tpu_framework.assets.cache import atomic_path, cache_path, settings_key
from tpu_framework.assets.normalise import normalise_layer_outputs

OPSET = 13
_RECIPE = 3  # bump when the export recipe or normalisation changes, so cached models are rebuilt
CALIBRATION_PHOTOS = photos.IMAGENET_LIKE
_EXPORT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class KerasSpec:
    application: str  # the keras.applications constructor
    size: int  # square input side
    data_format: str = "channels_first"
    include_top: bool = True  # False: global-average-pooled features instead of the classifier
    hidden_rms: float = 1.0  # RMS of the hidden layers' outputs on the photos (the last layer's is 1)

    @property
    def output(self) -> str:
        return "logits" if self.include_top else "features"


KERAS_MODELS = {
    "resnet50": KerasSpec("ResNet50", 224),
    "mobilenet_v2": KerasSpec("MobileNetV2", 224),
    "mobilenet_v3_small": KerasSpec("MobileNetV3Small", 224),
    # Swish and sigmoid gates compound amplitude differences over EfficientNet's 16 blocks unless they run
    # where they are close to linear (see normalise.py): at unit RMS one photo's logits end 1e4 x another's.
    "efficientnet_b0": KerasSpec("EfficientNetB0", 224, hidden_rms=0.1),
    "densenet121": KerasSpec("DenseNet121", 224, data_format="channels_last"),
    "inception_v3": KerasSpec("InceptionV3", 160),
    "xception": KerasSpec("Xception", 160),
    # VGG16's classifier is 120 M parameters at 224x224; its 13 convolutions are what matters here.
    "vgg16": KerasSpec("VGG16", 128, include_top=False),
}


def keras_model_path(name: str, seed: int = 0) -> Path:
    """The cached export; built on first use (tens of seconds)."""
    spec = _spec(name)
    settings = {**asdict(spec), "seed": seed, "opset": OPSET, "recipe": _RECIPE, "keras": _version("keras")}
    path = cache_path("onnx", f"keras_{name}-{settings_key(settings)}.onnx")
    if not path.is_file():
        with atomic_path(path) as tmp:
            _export(spec, seed, tmp)
            model = onnx.load(tmp)
            normalise_layer_outputs(model, seed, {"input": calibration_batch(name)}, spec.hidden_rms)
            onnx.save(model, str(tmp))
    return path


def keras_model(name: str, seed: int = 0) -> onnx.ModelProto:
    return onnx.load(keras_model_path(name, seed))


def calibration_batch(name: str) -> np.ndarray:
    """The photos the weights are normalised on, preprocessed as the zoo feeds them, in the model's layout."""
    spec = _spec(name)
    batch = photos.imagenet_batch(CALIBRATION_PHOTOS, size=spec.size, resize=round(spec.size * 256 / 224))
    return batch if spec.data_format == "channels_first" else np.ascontiguousarray(batch.transpose(0, 2, 3, 1))


def _spec(name: str) -> KerasSpec:
    if name not in KERAS_MODELS:
        raise AssetError(f"unknown keras model {name!r}; known: {sorted(KERAS_MODELS)}")
    return KERAS_MODELS[name]


def _export(spec: KerasSpec, seed: int, out: Path) -> None:
    _version("torch")
    request = json.dumps({**asdict(spec), "output": spec.output, "seed": seed, "opset": OPSET})
    script = Path(__file__).with_name("_keras_export.py")
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run([sys.executable, "-P", str(script), request, str(out)], env=env, capture_output=True,
                              text=True, timeout=_EXPORT_TIMEOUT_S, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssetError(f"exporting keras {spec.application} took more than {_EXPORT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise AssetError(f"exporting keras {spec.application} to ONNX failed (exit {done.returncode}):\n{tail}")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise AssetError(f"exporting keras models needs {package} (pip install '.[models]')") from None
