"""Real architectures from the onnx wheel's ``backend/test/data/light`` models, with seeded random weights.

The wheel stores every weight as ``ConstantOfShape(0.02)``. Here each float weight becomes an initializer drawn
from a generator seeded by ``(seed, tensor name)``: He-normal for convolution and dense weights (std
``sqrt(2 / fan_in)``), scales near 1 and positive variances for batch norm, small biases. He scaling alone still
lets activations drift (to ~1e4 at ShuffleNet's logits: max pools and residual sums grow them), so each layer
is then rescaled to unit output RMS (:func:`~tpu_framework.assets.normalise.normalise_layer_outputs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pytpu.errors import AssetError
from tpu_framework.assets.cache import atomic_path, cache_path, settings_key, sha256_file
from tpu_framework.assets.normalise import PASS_THROUGH, Consumers, consumers, normalise_layer_outputs

LIGHT_MODELS = {
    "alexnet": "light_bvlc_alexnet.onnx",
    "densenet121": "light_densenet121.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "inception_v2": "light_inception_v2.onnx",
    "resnet50": "light_resnet50.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "vgg19": "light_vgg19.onnx",
    "zfnet512": "light_zfnet512.onnx",
}
_RECIPE = 2  # bump when the randomisation or normalisation changes, so cached models are rebuilt

Arrays = dict[str, np.ndarray]
Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
Use = tuple[str, int, onnx.NodeProto]


def light_model_source(name: str) -> Path:
    if name not in LIGHT_MODELS:
        raise AssetError(f"unknown light model {name!r}; known: {sorted(LIGHT_MODELS)}")
    path = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / LIGHT_MODELS[name]
    if not path.is_file():
        raise AssetError(f"{path} is missing from the installed onnx wheel")
    return path


def light_model_path(name: str, seed: int = 0) -> Path:
    """The randomised model, cached by the source file's sha256, the seed and the recipe."""
    source = light_model_source(name)
    key = settings_key({"source": sha256_file(source), "seed": seed, "recipe": _RECIPE})
    path = cache_path("onnx", f"light_{name}-{key}.onnx")
    if not path.is_file():
        model = randomised_light_model(name, seed)
        with atomic_path(path) as tmp:
            onnx.save(model, str(tmp))
    return path


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    return onnx.load(light_model_path(name, seed))


def randomised_light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """The light model with every float weight re-drawn (deterministic in ``seed``); not cached."""
    model = onnx.load(light_model_source(name))
    shapes = _materialise_weights(model)
    uses = consumers(model)
    arrays = {n: _sample(_rng(seed, n), shape, _use(n, uses)) for n, shape in shapes.items()}
    _set_initializers(model, arrays)
    normalise_layer_outputs(model, seed)
    onnx.checker.check_model(model)
    return model


def _rng(seed: int, name: str) -> np.random.Generator:
    # Seeded per tensor, so a weight's values do not depend on the order tensors are visited in.
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")])


def _materialise_weights(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Drop the ``ConstantOfShape`` weight nodes; return the shape of every float weight (old and new)."""
    inits = {t.name: t for t in model.graph.initializer}
    shapes = {t.name: tuple(t.dims) for t in inits.values() if t.data_type == onnx.TensorProto.FLOAT}
    fills = [n for n in model.graph.node if n.op_type == "ConstantOfShape" and n.input[0] in inits]
    for node in fills:
        shapes[node.output[0]] = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
        model.graph.node.remove(node)
    still_used = {i for n in model.graph.node for i in n.input}
    dropped = {n.input[0] for n in fills} - still_used
    _keep_initializers(model, lambda t: t.name not in dropped and t.name not in shapes)
    return shapes


def _keep_initializers(model: onnx.ModelProto, keep: Callable[[onnx.TensorProto], bool]) -> None:
    removed = {t.name for t in model.graph.initializer if not keep(t)}
    kept_inits = [t for t in model.graph.initializer if t.name not in removed]
    kept_inputs = [i for i in model.graph.input if i.name not in removed]
    del model.graph.initializer[:], model.graph.input[:]
    model.graph.initializer.extend(kept_inits)
    model.graph.input.extend(kept_inputs)


def _use(name: str, consumers: Consumers) -> Use:
    """(op type, input index, node) of the first real consumer, looking through reshapes and unsqueezes."""
    while consumers.get(name):
        node, index = consumers[name][0]
        if node.op_type not in PASS_THROUGH or index != 0:
            return node.op_type, index, node
        name = node.output[0]
    return "", 0, onnx.NodeProto()


def _he(fan_in: int) -> Sampler:
    return _normal(float(np.sqrt(2 / fan_in)))


def _uniform(low: float, high: float) -> Sampler:
    return lambda rng, shape: rng.uniform(low, high, shape).astype(np.float32)


def _normal(std: float) -> Sampler:
    def sample(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(std)  # in place: the dense layers of VGG and AlexNet are hundreds of MB
        return values

    return sample


def _sampler(use: Use, shape: tuple[int, ...]) -> Sampler:
    op_type, index, node = use
    if op_type == "Conv" and index == 1:
        return _he(int(np.prod(shape[1:])))
    if op_type == "Gemm" and index == 1:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return _he(shape[1] if trans_b else shape[0])
    if op_type == "MatMul" and index == 1:
        return _he(shape[-2])
    if op_type == "BatchNormalization":  # scale and variance near 1 (the variance must stay positive)
        return _uniform(0.8, 1.2) if index in (1, 4) else _normal(0.1)
    return _uniform(0.8, 1.2) if op_type == "Mul" else _normal(0.1)


def _sample(rng: np.random.Generator, shape: tuple[int, ...], use: Use) -> np.ndarray:
    return _sampler(use, shape)(rng, shape)


def _set_initializers(model: onnx.ModelProto, arrays: Arrays) -> None:
    """Replace the float weights; IR < 4 models must also list every initializer as a graph input."""
    _keep_initializers(model, lambda t: t.name not in arrays)
    model.graph.initializer.extend(numpy_helper.from_array(a, n) for n, a in arrays.items())
    if model.ir_version < 4:
        model.graph.input.extend(
            helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, a.shape) for n, a in arrays.items()
        )
