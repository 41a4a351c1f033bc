"""The real models the tests and benchmarks run, each with the input size to convert it at and real photos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx
from PIL import Image

from tpu_framework.assets import photos
from tpu_framework.assets.keras_models import KERAS_MODELS, keras_model
from tpu_framework.assets.light_models import LIGHT_MODELS, light_model
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2
from tpu_framework.assets.yolov8n import yolov8n


@dataclass(frozen=True)
class ZooModel:
    """How to load a model, the image size to run it at, and what its output means."""

    name: str
    load: Callable[[], onnx.ModelProto]
    size: int
    kind: str = "classifier"  # "classifier": ImageNet logits; "detector"; "random": re-randomised weights
    imagenet_preprocessing: bool = True  # mean/std normalisation; False: pixels / 255

    def input_name(self, model: onnx.ModelProto) -> str:
        initializers = {t.name for t in model.graph.initializer}
        return next(i.name for i in model.graph.input if i.name not in initializers)

    def channels_first(self, model: onnx.ModelProto) -> bool:
        info = next(i for i in model.graph.input if i.name == self.input_name(model))
        dims = info.type.tensor_type.shape.dim
        return len(dims) == 4 and dims[1].dim_value == 3

    def input_shape(self, model: onnx.ModelProto, batch: int = 1) -> dict[str, list[int]]:
        """The fixed input shape to convert at (``input_shape`` of ``onnx_to_tf``)."""
        shape = [batch, 3, self.size, self.size] if self.channels_first(model) else [batch, self.size, self.size, 3]
        return {self.input_name(model): shape}

    def sample(self, model: onnx.ModelProto, names: tuple[str, ...] = photos.IMAGENET_LIKE) -> dict[str, np.ndarray]:
        """Real photos, one per name, as a batch in the model's input layout."""
        batch = np.stack([self._preprocess(photos.photo(n)) for n in names])
        if not self.channels_first(model):
            batch = batch.transpose(0, 2, 3, 1)
        return {self.input_name(model): np.ascontiguousarray(batch, dtype=np.float32)}

    def _preprocess(self, image: Image.Image) -> np.ndarray:
        if self.imagenet_preprocessing:
            return photos.imagenet_preprocess(image, size=self.size, resize=round(self.size * 256 / 224))[0]
        resized = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        return (np.asarray(resized, np.float32) / 255.0).transpose(2, 0, 1)


def _zoo() -> dict[str, ZooModel]:
    models = [
        ZooModel("mobilenet_v2", mobilenet_v2, 224),
        ZooModel("yolov8n", yolov8n, 320, kind="detector", imagenet_preprocessing=False),
    ]
    models += [ZooModel(f"light_{n}", partial(light_model, n), 224, kind="random") for n in LIGHT_MODELS]
    models += [ZooModel(f"keras_{n}", partial(keras_model, n), s.size, kind="random") for n, s in KERAS_MODELS.items()]
    return {m.name: m for m in models}


ZOO = _zoo()
