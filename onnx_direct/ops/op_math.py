"""Element-wise unary math (exp/log, rounding, sign, trigonometric) that keeps its input's layout."""

from __future__ import annotations

import tensorflow as tf

from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import Unary, unary


def _abs(x: tf.Tensor) -> tf.Tensor:
    # TF has no Abs kernel for unsigned types, where it is the identity anyway
    return tf.identity(x) if x.dtype.is_unsigned else tf.math.abs(x)


def _sign(x: tf.Tensor) -> tf.Tensor:
    if x.dtype.is_unsigned:
        return tf.cast(x > 0, x.dtype)
    return tf.math.sign(x)


_UNARY: dict[str, tuple[int, Unary]] = {
    "Exp": (1, tf.math.exp),
    "Log": (1, tf.math.log),
    "Sqrt": (1, tf.math.sqrt),
    "Reciprocal": (1, tf.math.reciprocal),
    "Neg": (1, tf.math.negative),
    "Abs": (1, _abs),
    "Floor": (1, tf.math.floor),
    "Ceil": (1, tf.math.ceil),
    "Round": (11, tf.math.round),  # rounds half to even, as ONNX does
    "Sign": (9, _sign),
    "Erf": (9, tf.math.erf),
    "Sin": (7, tf.math.sin),
    "Cos": (7, tf.math.cos),
    "Tan": (7, tf.math.tan),
    "Asin": (7, tf.math.asin),
    "Acos": (7, tf.math.acos),
    "Atan": (7, tf.math.atan),
    "Sinh": (9, tf.math.sinh),
    "Cosh": (9, tf.math.cosh),
    "Asinh": (9, tf.math.asinh),
    "Acosh": (9, tf.math.acosh),
    "Atanh": (9, tf.math.atanh),
}

for _op_type, (_since, _fn) in _UNARY.items():
    converter(_op_type, since=_since)(unary(_fn))
