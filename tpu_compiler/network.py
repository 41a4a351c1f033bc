"""The Network IR: tensors (per-sample shapes, quantization) and integer layers, in execution order.

A Network is what the compiler lowers.  It is built from a quantized model read duck-typed
(``Network.from_quantized_model``; no quantizer import), from a saved model's layer configs and arrays
(``Network.from_configs``), or layer by layer in code (``add_input``, ``add_layer``, ``add_output``).
Shapes are those of one sample (batch 1); ``set_batch`` says how many samples a program processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytpu.errors import CompilationError
from tpu_compiler.layout_ops import gather_map


@dataclass(frozen=True)
class Tensor:
    """An int8 activation: ``real = scale * (code - zero_point)``; ``shape`` is one sample's."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def channels(self) -> int:
        return self.shape[-1] if self.shape else 1

    @property
    def positions(self) -> int:
        return int(np.prod(self.shape[:-1], dtype=np.int64)) if self.shape else 1


@dataclass
class Layer:
    """One integer layer: ``kind`` as the quantizer names it, its config (JSON values) and arrays."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    config: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)


def _sample_shape(shape: Iterable[int | None]) -> tuple[int, ...]:
    dims = list(shape)
    if not dims:
        return (1,)
    return tuple(1 if (i == 0 and (d is None or d < 0)) else int(d or 1) for i, d in enumerate(dims))


class Network:
    """Layers in execution order over named tensors; ``inputs``/``outputs`` name the network's tensors."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.layers: list[Layer] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.batch = 1
        self.renaming: dict[str, str] = {}
        """Tensor name -> the user's name (ONNX tensor id); unnamed tensors keep their own."""

    def set_batch(self, batch: int) -> None:
        """Programs compiled from now on process ``batch`` samples (each computed as at batch 1)."""
        if batch < 1:
            raise CompilationError(f"the batch must be at least 1, not {batch}")
        self.batch = int(batch)

    def add_input(self, name: str, shape: Iterable[int | None], scale: float, zero_point: int) -> Tensor:
        tensor = Tensor(name, _sample_shape(shape), float(scale), int(zero_point))
        self.tensors[name] = tensor
        self.inputs.append(name)
        return tensor

    def add_output(self, name: str) -> None:
        if name not in self.tensors:
            raise CompilationError(f"output {name!r} is no tensor of the network")
        self.outputs.append(name)

    def add_layer(
        self,
        kind: str,
        name: str,
        inputs: Iterable[str],
        config: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray] | None = None,
    ) -> Tensor:
        """Append a layer (config as ``Layer.config()`` of the quantizer writes it); returns its output tensor."""
        layer = Layer(kind, name, tuple(inputs), dict(config), {k: np.asarray(v) for k, v in (arrays or {}).items()})
        missing = [i for i in layer.inputs if i not in self.tensors]
        if missing:
            raise CompilationError(f"layer {name!r} reads tensors {missing} that no earlier layer or input defines")
        out = layer.config.get("out", {})
        shape = infer_shape(layer, [self.tensors[i].shape for i in layer.inputs])
        tensor = Tensor(name, shape, float(out.get("scale", 1.0)), int(out.get("zero_point", 0)))
        self.layers.append(layer)
        self.tensors[name] = tensor
        return tensor

    @classmethod
    def from_configs(
        cls,
        inputs: Mapping[str, tuple[Iterable[int | None], float, int]],
        layers: Iterable[tuple[Mapping[str, Any], Mapping[str, np.ndarray]]],
        outputs: Iterable[str],
    ) -> Network:
        """A network from layer configs and arrays (a saved quantized model's JSON and binary file)."""
        net = cls()
        for name, (shape, scale, zero_point) in inputs.items():
            net.add_input(name, shape, scale, zero_point)
        for config, arrays in layers:
            net.add_layer(str(config["kind"]), str(config["name"]), config["inputs"], config, arrays)
        for name in outputs:
            net.add_output(name)
        return net

    @classmethod
    def from_quantized_model(cls, quantized_model: Any) -> tuple[Network, dict[str, str]]:
        """The network of a quantized model, and the map from its tensor names to the user's names.

        Reads ``layers`` (``KIND``, ``name``, ``inputs``, ``config()``, ``arrays()``), ``inputs``
        ({name: (shape, qparams)}), ``outputs`` and ``anchors_mapping`` (user name -> tensor name).
        """
        inputs = {
            name: (shape, float(qp.scale), int(qp.zero_point)) for name, (shape, qp) in quantized_model.inputs.items()
        }
        layers = [(_config_of(layer), layer.arrays()) for layer in quantized_model.layers]
        net = cls.from_configs(inputs, layers, quantized_model.outputs)
        # Several user names can denote one tensor (an ONNX input and the no-op Cast after it): an input takes
        # the first (the graph input comes first in the mapping), anything else the last (a graph output comes
        # after the node that computes it).
        anchors = list(dict(quantized_model.anchors_mapping).items())
        last = {tf_name: user for user, tf_name in anchors}
        first = {tf_name: user for user, tf_name in reversed(anchors)}
        renaming = {name: (first if name in inputs else last).get(name, name) for name in net.tensors}
        net.renaming = dict(renaming)
        return net, renaming

    def user_name(self, name: str) -> str:
        return self.renaming.get(name, name)

    def consumers(self, name: str) -> list[Layer]:
        return [layer for layer in self.layers if name in layer.inputs]

    def producer(self, name: str) -> Layer | None:
        """The layer computing tensor ``name`` (None for a network input)."""
        return next((layer for layer in self.layers if layer.name == name), None)


def _config_of(layer: Any) -> dict[str, Any]:
    config = dict(layer.config())
    config.setdefault("kind", layer.KIND)
    config["name"], config["inputs"] = layer.name, list(layer.inputs)
    return config


# Shape inference, one rule per layer kind.


def _conv_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    weights = layer.arrays["weights"]
    if layer.get("dense"):
        return (*shapes[0][:-1], int(weights.shape[-1]))
    _, h, w, _ = shapes[0]
    kh, kw = weights.shape[:2]
    (sy, sx), (dy, dx) = layer.get("strides", [1, 1]), layer.get("dilations", [1, 1])
    top, bottom, left, right = layer.get("pads", [0, 0, 0, 0])
    oh = (h + top + bottom - (kh - 1) * dy - 1) // sy + 1
    ow = (w + left + right - (kw - 1) * dx - 1) // sx + 1
    return (shapes[0][0], oh, ow, int(weights.shape[-1]))


def _conv_transpose_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """A stride-1 convolution over the input with ``upsample - 1`` pixels inserted between neighbours, padded
    by ``pads`` (negative: cropped)."""
    n, h, w, _ = shapes[0]
    kh, kw, _, m = layer.arrays["weights"].shape
    sy, sx = layer.get("upsample", [1, 1])
    top, bottom, left, right = layer.get("pads", [0, 0, 0, 0])
    return (n, (h - 1) * sy + 1 + top + bottom - kh + 1, (w - 1) * sx + 1 + left + right - kw + 1, int(m))


def _zero_insert_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    n, h, w, c = shapes[0]
    sy, sx = layer.get("factors")
    top, bottom, left, right = layer.get("crop")
    return (n, (h - 1) * sy + 1 - top - bottom, (w - 1) * sx + 1 - left - right, c)


def _resize_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    out = list(shapes[0])
    for i, axis in enumerate(layer.get("axes")):
        out[int(axis) % len(out)] = int(layer.arrays[f"indices.{i}"].shape[0])
    return tuple(out)


def _matmul_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    a, b = (list(s) for s in shapes)
    if layer.get("transpose_a"):
        a[-2], a[-1] = a[-1], a[-2]
    if layer.get("transpose_b"):
        b[-2], b[-1] = b[-1], b[-2]
    if a[-1] != b[-2]:
        raise CompilationError(f"layer {layer.name!r}: a matmul of {tuple(a)} by {tuple(b)}")
    return (*np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])), a[-2], b[-1])


def _pool_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    n, h, w, c = shapes[0]
    (kh, kw), (sy, sx) = layer.get("kernel"), layer.get("strides")
    top, bottom, left, right = layer.get("pads", [0, 0, 0, 0])
    oh, ow = (h + top + bottom - kh) // sy + 1, (w + left + right - kw) // sx + 1
    if layer.kind == "avg_pool" and not layer.get("keep_dims", True):
        return (n, c)
    return (n, oh, ow, c)


def _concat_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    axis = int(layer.get("axis", -1)) % len(shapes[0])
    out = list(shapes[0])
    out[axis] = sum(
        s[axis] if lanes is None else int(lanes[1]) for s, lanes in zip(shapes, concat_lanes(layer), strict=True)
    )
    return tuple(out)


def concatenates_channels(layer: Layer, shape: tuple[int, ...]) -> bool:
    """Whether ``layer`` is a concatenation along the channels (the last axis) of its output of ``shape``."""
    return layer.kind == "concat" and bool(shape) and int(layer.get("axis", -1)) % len(shape) == len(shape) - 1


def concat_lanes(layer: Layer) -> list[tuple[int, int] | None]:
    """Per input of a concatenation, the channels it contributes ``(first, count)``, or None for all of them
    (the compiler's rewrites let a concatenation read a channel slice, such as a split half, from its map)."""
    lanes = layer.get("lanes") or [None] * len(layer.inputs)
    return [None if entry is None else (int(entry[0]), int(entry[1])) for entry in lanes]


def _layout_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    consts = {k.removeprefix("consts."): v for k, v in layer.arrays.items()}
    return tuple(gather_map(layer.get("op", "Identity"), layer.get("attrs", {}), consts, shapes[0]).shape)


SHAPE_RULES = {
    "conv": _conv_shape,
    "add": lambda layer, shapes: tuple(np.broadcast_shapes(*shapes)),
    "mul": lambda layer, shapes: tuple(np.broadcast_shapes(*shapes)),
    "lut": lambda layer, shapes: shapes[0],
    "row_lut": lambda layer, shapes: shapes[0],
    "softmax": lambda layer, shapes: shapes[0],
    "concat": _concat_shape,
    "max_pool": _pool_shape,
    "avg_pool": _pool_shape,
    "layout": _layout_shape,
    "prelu": lambda layer, shapes: shapes[0],
    "conv_transpose": _conv_transpose_shape,
    "zero_insert": _zero_insert_shape,
    "resize_bilinear": _resize_shape,
    "matmul": _matmul_shape,
    "layer_norm": lambda layer, shapes: shapes[0],
}


def infer_shape(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    rule = SHAPE_RULES.get(layer.kind)
    if rule is None:
        raise CompilationError(f"layer {layer.name!r}: unknown layer kind {layer.kind!r}")
    return rule(layer, shapes)
