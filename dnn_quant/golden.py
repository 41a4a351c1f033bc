"""TensorFlow building blocks of the integer reference, one per primitive of docs/integer_arithmetic.md.

Sums of int8 products are formed in float64 (exact below 2^53) or int64; everything after the
accumulator is int64. Only stock TF ops: the graph must run anywhere TF does, after serialisation.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dnn_quant.qparams import QMAX, QMIN


def to_int64(codes: tf.Tensor) -> tf.Tensor:
    return tf.cast(codes, tf.int64)


def to_float64(codes: tf.Tensor) -> tf.Tensor:
    return tf.cast(codes, tf.float64)


def round_shift(values: tf.Tensor, shift: np.ndarray | int) -> tf.Tensor:
    """``(x + 2^(s-1)) >> s`` for ``s > 0``, ``x`` for ``s == 0``; ``shift`` broadcasts along the last axis."""
    shift = np.asarray(shift, np.int64)
    rounding = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0).astype(np.int64)
    return tf.bitwise.right_shift(values + tf.constant(rounding), tf.constant(shift))


def round_shift_by(values: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
    """``round_shift`` by a computed int64 shift (broadcast against ``values``), every shift at least 1."""
    return tf.bitwise.right_shift(values + tf.bitwise.left_shift(tf.ones_like(shift), shift - 1), shift)


def requantize(
    values: tf.Tensor, mult: np.ndarray | int, shift: np.ndarray | int, zero_point: int, lo: int = QMIN, hi: int = QMAX
) -> tf.Tensor:
    """``clamp(round_shift(v * mult, shift) + zo, lo, hi)`` as int8; ``values`` int64."""
    scaled = round_shift(values * tf.constant(np.asarray(mult, np.int64)), shift)
    return clamp(scaled + zero_point, lo, hi)


def clamp(values: tf.Tensor, lo: int, hi: int) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(values, tf.constant(lo, values.dtype), tf.constant(hi, values.dtype)), tf.int8)
