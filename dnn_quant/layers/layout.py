"""Ops that move, select or repeat codes without changing them: reshape, transpose, pad, slice, resize-nearest..."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf

Builder = Callable[[tf.Tensor, dict[str, Any], dict[str, np.ndarray]], tf.Tensor]


def _pad(x: tf.Tensor, attrs: dict[str, Any], consts: dict[str, np.ndarray]) -> tf.Tensor:
    return tf.pad(x, consts["paddings"], mode=attrs.get("mode", "CONSTANT"), constant_values=attrs.get("fill", 0))


def _split(x: tf.Tensor, attrs: dict[str, Any], consts: dict[str, np.ndarray]) -> tf.Tensor:
    return tf.split(x, [int(s) for s in consts["sizes"]], axis=attrs["axis"])[attrs["index"]]


def _strided_slice(x: tf.Tensor, attrs: dict[str, Any], consts: dict[str, np.ndarray]) -> tf.Tensor:
    masks = {
        k: attrs.get(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    }
    return tf.strided_slice(x, consts["begin"], consts["end"], consts["strides"], **masks)


def _resize_nearest(x: tf.Tensor, attrs: dict[str, Any], consts: dict[str, np.ndarray]) -> tf.Tensor:
    return tf.compat.v1.image.resize_nearest_neighbor(
        x,
        consts["size"],
        align_corners=attrs.get("align_corners", False),
        half_pixel_centers=attrs.get("half_pixel_centers", False),
    )


BUILDERS: dict[str, Builder] = {
    "Identity": lambda x, a, c: tf.identity(x),
    "Reshape": lambda x, a, c: tf.reshape(x, [-1, *c["shape"][1:]] if a.get("batch_free") else c["shape"]),
    "Transpose": lambda x, a, c: tf.transpose(x, c["perm"]),
    "Squeeze": lambda x, a, c: tf.squeeze(x, a["axis"] or None),
    "ExpandDims": lambda x, a, c: tf.expand_dims(x, int(c["axis"])),
    "Pad": _pad,
    "Split": _split,
    "StridedSlice": _strided_slice,
    "Slice": lambda x, a, c: tf.slice(x, c["begin"], c["size"]),
    "Tile": lambda x, a, c: tf.tile(x, c["multiples"]),
    "GatherV2": lambda x, a, c: tf.gather(x, c["indices"], axis=a["axis"], batch_dims=a.get("batch_dims", 0)),
    "DepthToSpace": lambda x, a, c: tf.nn.depth_to_space(x, a["block_size"]),
    "SpaceToDepth": lambda x, a, c: tf.nn.space_to_depth(x, a["block_size"]),
    "ResizeNearestNeighbor": _resize_nearest,
}


@dataclass
class Layout(Layer):
    """One layout op replayed on int8 codes; ``op`` names it, ``attrs`` and ``consts`` parameterise it."""

    KIND: ClassVar[str] = "layout"
    op: str = "Identity"
    attrs: dict[str, Any] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        return BUILDERS[self.op](inputs[0], self.attrs, self.consts)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"consts.{k}": v for k, v in self.consts.items()}

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in super().config().items() if k != "consts"}

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Layout:
        from dnn_quant.qparams import QParams

        consts = {k.removeprefix("consts."): v for k, v in arrays.items()}
        return cls(config["name"], config["inputs"], QParams(**config["out"]), config["op"], config["attrs"], consts)


@dataclass
class FloatLayout(FloatLayer):
    INHERITS: ClassVar[bool] = True
    op: str = "Identity"
    attrs: dict[str, Any] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    fill: float = 0.0  # the real value a Pad writes

    def quantize(self, qparams: QParamsOf) -> Layout:
        x = qparams(self.inputs[0])
        attrs = dict(self.attrs)
        if self.op == "Pad":
            attrs["fill"] = x.code(self.fill)
        return Layout(self.name, list(self.inputs), x, self.op, attrs, dict(self.consts))
