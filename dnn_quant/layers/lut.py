"""Any function of one activation (sigmoid, swish, hard-swish, GELU, ...) as a 256-entry int8 table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.qparams import QMAX, QMIN


@dataclass
class Lut(Layer):
    """``table[a + 128]``."""

    KIND: ClassVar[str] = "lut"
    table: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int8))

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        index = tf.cast(inputs[0], tf.int32) + 128
        return tf.gather(tf.constant(self.table), index)


@dataclass
class FloatLut(FloatLayer):
    # Evaluates the float function on a 1-D float32 array (the dequantized codes).
    function: Callable[[np.ndarray], np.ndarray] = field(default=lambda v: v, repr=False)
    description: str = ""

    def quantize(self, qparams: QParamsOf) -> Lut:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        codes = np.arange(QMIN, QMAX + 1)
        values = self.function(x.dequantize(codes))
        return Lut(self.name, list(self.inputs), out, out.quantize(values))
