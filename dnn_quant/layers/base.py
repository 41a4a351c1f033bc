"""What every layer has: a name (its output tensor), input tensors, and the output's quantization."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant.qparams import QParams

QParamsOf = Callable[[str], QParams]


@dataclass
class Layer:
    """An integer layer. Array fields are numpy arrays; everything else is JSON-serialisable."""

    KIND: ClassVar[str] = ""
    name: str  # the TF tensor name of the output in the float graph, and in the golden graph
    inputs: list[str]
    out: QParams

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        """The int8 output, computed from int8 inputs with stock TF ops."""
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if _is_array(getattr(self, f.name))}

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, QParams):
                config[f.name] = dataclasses.asdict(value)
            elif not _is_array(value):
                config[f.name] = value
        return config

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Layer:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in arrays:
                values[f.name] = arrays[f.name]
            elif f.name == "out" or f.type in ("QParams", QParams):
                values[f.name] = QParams(**config[f.name])
            else:
                values[f.name] = config[f.name]
        return cls(**values)


def _is_array(value: object) -> bool:
    return isinstance(value, np.ndarray)


@dataclass
class FloatLayer:
    """A float layer found in the TF graph: the ops it covers and how it becomes an integer layer."""

    name: str
    inputs: list[str]
    ops: list[str]
    # The float graph's tensor whose range this output has, when the output itself is not in the float graph
    # (a channels-last copy the lowering introduced): calibration measures that tensor instead.
    range_of: str | None = field(default=None, kw_only=True)
    # Layers whose output is a rearrangement or selection of input codes keep the input's quantization.
    INHERITS: ClassVar[bool] = False
    # Layers whose inputs must have zero point 0 (a MatMul of two activations): the tensors they read are
    # quantized on a symmetric grid.
    SYMMETRIC_INPUTS: ClassVar[bool] = False

    @property
    def calibrated_as(self) -> str:
        return self.range_of or self.name

    def fixed_qparams(self) -> QParams | None:
        """The output quantization when it does not depend on data (softmax: [0, 1] in 1/256 steps)."""
        return None

    def quantize(self, qparams: QParamsOf) -> Layer:
        raise NotImplementedError
