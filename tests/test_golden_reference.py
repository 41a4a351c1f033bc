"""The golden graph against an independent numpy reading of docs/integer_arithmetic.md, on real layer parameters."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dnn_quant.layers import Add, AvgPool, Conv
from tests.quant_helpers import quantize, run_golden, seeded

RNG = np.random.default_rng(7)


def round_shift(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, np.int64)
    half = np.where(s > 0, np.int64(1) << np.maximum(s - 1, 0), 0)
    return (x + half) >> s


def requantize(v: np.ndarray, mult: np.ndarray, shift: np.ndarray, zo: int, lo: int, hi: int) -> np.ndarray:
    return np.clip(round_shift(v * np.asarray(mult, np.int64), shift) + zo, lo, hi).astype(np.int8)


def conv_numpy(layer: Conv, x: np.ndarray) -> np.ndarray:
    top, bottom, left, right = layer.pads
    padded = np.pad(x.astype(np.int64), [(0, 0), (top, bottom), (left, right), (0, 0)], constant_values=layer.pad_code)
    kh, kw, cin_g, cout = layer.weights.shape
    (sh, sw), (dh, dw) = layer.strides, layer.dilations
    out_h = (padded.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_w = (padded.shape[2] - (kw - 1) * dw - 1) // sw + 1
    acc = np.zeros((x.shape[0], out_h, out_w, cout), np.int64)
    per_group = cout // layer.groups
    for g in range(layer.groups):
        xs = padded[..., g * cin_g : (g + 1) * cin_g]
        ws = layer.weights[..., g * per_group : (g + 1) * per_group].astype(np.int64)
        for i in range(kh):
            for j in range(kw):
                window = xs[:, i * dh : i * dh + sh * (out_h - 1) + 1 : sh, j * dw : j * dw + sw * (out_w - 1) + 1 : sw]
                acc[..., g * per_group : (g + 1) * per_group] += window @ ws[i, j]
    return requantize(acc + layer.bias, layer.mult, layer.shift, layer.out.zero_point, layer.lo, layer.hi)


def test_conv_layers_match_numpy() -> None:
    def build(x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.conv2d(x, RNG.standard_normal((3, 3, 6, 8)).astype(np.float32), [1, 2, 1, 1], "SAME")
        y = tf.nn.relu6(y + RNG.standard_normal(8).astype(np.float32))
        return tf.raw_ops.DepthwiseConv2dNative(
            input=y,
            filter=RNG.standard_normal((3, 3, 8, 1)).astype(np.float32),
            strides=[1, 1, 1, 1],
            padding="SAME",
            dilations=[1, 2, 2, 1],
        )

    _, model, _ = quantize(build, seeded((8, 9, 11, 6), 0, 2.0))
    codes = model.rescale({"x:0": seeded((3, 9, 11, 6), 1, 2.0)})["x:0"]
    first, second = (layer for layer in model.layers if isinstance(layer, Conv))
    assert first.out.zero_point != 0 or second.pad_code != 0  # zero points and padding codes are exercised
    got_first, got_second = run_golden(model, {"x:0": codes}, [first.name, second.name])
    assert np.array_equal(got_first, conv_numpy(first, codes))
    assert np.array_equal(got_second, conv_numpy(second, got_first))


def test_add_and_avg_pool_match_numpy() -> None:
    def build(x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.conv2d(x, RNG.standard_normal((1, 1, 4, 4)).astype(np.float32), [1, 1, 1, 1], "VALID")
        return tf.nn.avg_pool2d(tf.nn.relu(x - y), 3, 2, "SAME")

    _, model, _ = quantize(build, seeded((8, 7, 7, 4), 0))
    codes = model.rescale({"x:0": seeded((2, 7, 7, 4), 3)})["x:0"]
    add = next(layer for layer in model.layers if isinstance(layer, Add))
    pool = next(layer for layer in model.layers if isinstance(layer, AvgPool))
    conv_out, add_out, pool_out = run_golden(model, {"x:0": codes}, [add.inputs[1], add.name, pool.name])
    za, zb = add.zero_points
    total = (codes.astype(np.int64) - za) * add.mults[0] + (conv_out.astype(np.int64) - zb) * add.mults[1]
    expected_add = np.clip(round_shift(total, np.int64(add.shift)) + add.out.zero_point, add.lo, add.hi)
    assert add.mults[1] < 0  # a subtraction
    assert np.array_equal(add_out, expected_add)
    padded = np.pad(add_out.astype(np.int64) - pool.in_zero_point, [(0, 0), (1, 1), (1, 1), (0, 0)])
    sums = np.zeros((2, 4, 4, 4), np.int64)
    for i in range(4):
        for j in range(4):
            sums[:, i, j] = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].sum(axis=(1, 2))
    expected_pool = requantize(sums, pool.mult[..., None], pool.shift[..., None], pool.out.zero_point, -128, 127)
    assert np.array_equal(pool_out, expected_pool)
    assert len(np.unique(pool.mult)) > 1  # border windows average fewer elements


def test_softmax_matches_numpy() -> None:
    from dnn_quant.layers import Softmax

    def build(x: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.nn.conv2d(x, RNG.standard_normal((1, 1, 4, 10)).astype(np.float32), 1, "VALID"))

    _, model, _ = quantize(build, seeded((8, 3, 3, 4), 0))
    codes = model.rescale({"x:0": seeded((2, 3, 3, 4), 4)})["x:0"]
    softmax = next(layer for layer in model.layers if isinstance(layer, Softmax))
    logits, probabilities = run_golden(model, {"x:0": codes}, [softmax.inputs[0], softmax.name])
    x = logits.astype(np.int64)
    e = softmax.table.astype(np.int64)[x - x.max(axis=-1, keepdims=True) + 255]
    denominator = e.sum(axis=-1, keepdims=True) << softmax.shift
    expected = np.clip((2 * e * softmax.mult + denominator) // (2 * denominator) + softmax.out.zero_point, -128, 127)
    assert np.array_equal(probabilities, expected)


def test_prelu_matches_numpy() -> None:
    from dnn_quant.layers.prelu import PRelu

    slope = np.array([0.25, -0.5, 0.0, 2.0], np.float32)

    def build(x: tf.Tensor) -> tf.Tensor:
        return tf.where(x < 0, x * slope, x)

    _, model, _ = quantize(build, seeded((8, 3, 3, 4), 0))
    codes = model.rescale({"x:0": seeded((2, 3, 3, 4), 5)})["x:0"]
    prelu = next(layer for layer in model.layers if isinstance(layer, PRelu))
    (out,) = run_golden(model, {"x:0": codes}, [prelu.name])
    centred = codes.astype(np.int64) - prelu.in_zero_point
    mult = np.where(centred >= 0, prelu.positive, prelu.negative)
    expected = np.clip(round_shift(centred * mult, np.int64(prelu.shift)) + prelu.out.zero_point, -128, 127)
    assert np.array_equal(out, expected)
