"""Property: any small network the quantizer accepts compiles at O1 and O5 to a program whose simulated
outputs equal the golden graph's bit for bit.

Hypothesis draws a chain of layers (convolutions with odd kernels, strides and channel counts that are not
multiples of 128, depthwise with a multiplier, dense, pools, residual adds, concatenations, channel splits
concatenated in another order, activations)
on a small input of odd shape; the weights come from a drawn seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytpu import TPU_128x128_PARAMS, model_execute
from tests.quant_helpers import quantize, run_golden, seeded
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import O1, O5

Op = tuple[Any, ...]
ACTIVATIONS = ("none", "relu", "relu6", "sigmoid", "tanh")


@st.composite
def networks(draw: st.DrawFn) -> tuple[tuple[int, int, int], list[Op], int, int]:
    h, w, c = draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 19))
    shape = (h, w, c)
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("conv", "depthwise", "pool", "add", "concat", "split", "act")))
        if kind == "conv":
            k = draw(st.sampled_from((1, 3) if min(h, w) >= 3 else (1,)))
            stride = draw(st.sampled_from((1, 2)))
            padding = draw(st.sampled_from(("SAME", "VALID")))
            out = draw(st.integers(1, 40))
            ops.append(("conv", k, stride, padding, out, draw(st.sampled_from(ACTIVATIONS[:3]))))
            if padding == "VALID":
                h, w = (h - k) // stride + 1, (w - k) // stride + 1
            else:
                h, w = -(-h // stride), -(-w // stride)
            c = out
        elif kind == "depthwise":
            stride, mult = draw(st.sampled_from((1, 2))), draw(st.sampled_from((1, 2)))
            ops.append(("depthwise", stride, mult, draw(st.sampled_from(ACTIVATIONS[:3]))))
            h, w, c = -(-h // stride), -(-w // stride), c * mult
        elif kind == "pool":
            op, k, stride = draw(st.sampled_from((("max", 2, 2), ("avg", 2, 2), ("max", 3, 1), ("avg", 3, 1))))
            ops.append(("pool", op, k, stride))
            h, w = -(-h // stride), -(-w // stride)
        elif kind == "add":
            ops.append(("add",))
        elif kind == "concat":
            extra = draw(st.integers(1, 20))
            ops.append(("concat", extra))
            c += extra
        elif kind == "split" and c >= 2:  # channel slices concatenated at other offsets (YOLOv8's C2f)
            first, extra = draw(st.integers(1, c - 1)), draw(st.integers(1, 20))
            ops.append(("split", first, extra))
            c += extra
        else:
            ops.append(("act", draw(st.sampled_from(ACTIVATIONS[1:]))))
    dense = draw(st.sampled_from((0, 0, 1, 7, 33)))
    return shape, ops, dense, draw(st.integers(0, 2**16))


def _activation(y: tf.Tensor, name: str) -> tf.Tensor:
    return {
        "none": lambda t: t,
        "relu": tf.nn.relu,
        "relu6": tf.nn.relu6,
        "sigmoid": tf.sigmoid,
        "tanh": tf.tanh,
    }[name](y)


def _builder(ops: list[Op], dense: int, seed: int) -> Callable[[tf.Tensor], tf.Tensor]:
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def build(x: tf.Tensor) -> tf.Tensor:
        y = x
        for op in ops:
            c = int(y.shape[-1])
            if op[0] == "conv":
                _, k, stride, padding, out, act = op
                y = tf.nn.conv2d(y, weights(k, k, c, out), [1, stride, stride, 1], padding)
                y = _activation(tf.nn.bias_add(y, weights(out)), act)
            elif op[0] == "depthwise":
                _, stride, mult, act = op
                y = tf.nn.depthwise_conv2d(y, weights(3, 3, c, mult), [1, stride, stride, 1], "SAME")
                y = _activation(y, act)
            elif op[0] == "pool":
                pool = tf.nn.max_pool2d if op[1] == "max" else tf.nn.avg_pool2d
                y = pool(y, op[2], op[3], "SAME")
            elif op[0] == "add":
                y = y + tf.nn.relu(tf.nn.conv2d(y, weights(1, 1, c, c), [1, 1, 1, 1], "VALID"))
            elif op[0] == "concat":
                y = tf.concat([y, tf.nn.conv2d(y, weights(1, 1, c, op[1]), [1, 1, 1, 1], "VALID")], axis=3)
            elif op[0] == "split":
                a, b = tf.split(y, [op[1], c - op[1]], axis=3)
                branch = tf.nn.relu(tf.nn.conv2d(a, weights(1, 1, op[1], op[2]), [1, 1, 1, 1], "VALID"))
                y = tf.concat([b, a, branch], axis=3)
            else:
                y = _activation(y, op[1])
        if dense:
            y = tf.reduce_mean(y, axis=[1, 2])
            y = tf.matmul(y, weights(int(y.shape[-1]), dense))
        return y

    return build


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(networks(), st.sampled_from((1, 2)))
def test_random_networks_are_bit_exact(spec: tuple[tuple[int, int, int], list[Op], int, int], batch: int) -> None:
    (h, w, c), ops, dense, seed = spec
    _, model, _ = quantize(_builder(ops, dense, seed), seeded((4, h, w, c), seed))
    codes = model.rescale({"x:0": seeded((batch, h, w, c), seed + 1)})["x:0"]
    golden = np.concatenate([run_golden(model, {"x:0": codes[i : i + 1]}, ["y:0"], batch=1)[0] for i in range(batch)])
    for parameters in (O1, O5):
        network, renaming = Network.from_quantized_model(model)
        network.set_batch(batch)
        executable, descriptions = compiler.compile_(TPU_128x128_PARAMS, network, parameters)
        result = model_execute(executable, descriptions, {renaming["x:0"]: codes})
        out = result.output_codes[renaming["y:0"]]
        assert out.shape == golden.shape and np.array_equal(out, golden), (ops, dense)
        again = model_execute(executable, descriptions, {renaming["x:0"]: codes})  # replays the recorded run
        assert np.array_equal(again.output_codes[renaming["y:0"]], golden), (ops, dense)
