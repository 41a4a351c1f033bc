"""One simulator per float layer kind: the layer's float arithmetic on TF tensors, as its integer layer does it.

A simulator gets its inputs already on their int8 grids and returns the float result, fused clamp included;
the network puts it on the output's grid (layers that keep their input's quantization need nothing more).
Kinds without a simulator are refused by name: training a network that computes something else than the
integer model would tune the ranges to the wrong function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from dnn_quant.fine_tuning.fake_quant import LinearWeights
from dnn_quant.fine_tuning.functions import lut_function
from dnn_quant.graph import FloatGraph
from dnn_quant.layers.base import FloatLayer, QParamsOf
from dnn_quant.layers.concat import FloatConcat
from dnn_quant.layers.conv import FloatConv
from dnn_quant.layers.eltwise import FloatAdd, FloatMul
from dnn_quant.layers.layout import BUILDERS, FloatLayout
from dnn_quant.layers.lut import FloatLut
from dnn_quant.layers.pool import FloatAvgPool, FloatMaxPool, window_counts
from dnn_quant.layers.prelu import FloatPRelu
from dnn_quant.layers.softmax import FloatSoftmax
from pytpu.errors import QuantizationError


class Quantizer(Protocol):
    """Puts real values on a tensor's int8 grid; ``active`` False: the float model (values unchanged).

    ``soft``: weights with their soft rounding (training), else the hard rounding the integer model has."""

    active: bool
    soft: bool

    def __call__(self, name: str, values: tf.Tensor) -> tf.Tensor: ...


Simulator = Callable[[list[tf.Tensor], Quantizer], tf.Tensor]


@dataclass
class Setup:
    """What simulators are built from: the float graph, the initial quantization, every linear layer's weights
    (by layer name)."""

    graph: FloatGraph
    qparams: QParamsOf
    linear: Mapping[str, LinearWeights]


def _clamp(y: tf.Tensor, low: float, high: float) -> tf.Tensor:
    if not math.isinf(low):
        y = tf.maximum(y, low)
    if not math.isinf(high):
        y = tf.minimum(y, high)
    return y


def conv(layer: FloatConv, setup: Setup) -> Simulator:
    weights = setup.linear[layer.name]

    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        if not quantize.active:
            w, bias = tf.constant(weights.float_weights), tf.constant(weights.bias.astype(np.float32))
        else:
            w, bias = (weights.soft() if quantize.soft else weights.hard()), weights.bias_values()
        y = tf.matmul(inputs[0], w[0, 0]) if layer.dense else _conv2d(layer, inputs[0], w)
        return _clamp(y + bias, layer.low, layer.high)

    return simulate


def _conv2d(layer: FloatConv, x: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    top, bottom, left, right = layer.pads
    if any(layer.pads):
        x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])  # real 0: the zero point's code
    strides, dilations, groups = [1, *layer.strides, 1], layer.dilations, layer.groups
    height, width, group_channels, _ = weights.shape
    in_channels = group_channels * groups
    if groups == 1:
        return tf.nn.conv2d(x, weights, strides, "VALID", dilations=dilations)
    if groups == in_channels and group_channels == 1:
        depthwise = tf.reshape(weights, [height, width, in_channels, -1])
        return tf.nn.depthwise_conv2d(x, depthwise, strides, "VALID", dilations=dilations)
    parts, kernels = tf.split(x, groups, axis=3), tf.split(weights, groups, axis=3)
    return tf.concat(
        [tf.nn.conv2d(p, k, strides, "VALID", dilations=dilations) for p, k in zip(parts, kernels, strict=True)],
        axis=3,
    )


def add(layer: FloatAdd, setup: Setup) -> Simulator:
    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        a, b = inputs
        return _clamp(a - b if layer.subtract else a + b, layer.low, layer.high)

    return simulate


def mul(layer: FloatMul, setup: Setup) -> Simulator:
    return lambda inputs, quantize: _clamp(inputs[0] * inputs[1], layer.low, layer.high)


def lut(layer: FloatLut, setup: Setup) -> Simulator:
    function = lut_function(setup.graph, layer)
    return lambda inputs, quantize: function(inputs[0])


def prelu(layer: FloatPRelu, setup: Setup) -> Simulator:
    slope = tf.constant(layer.slope.astype(np.float32))
    return lambda inputs, quantize: tf.where(inputs[0] < 0, inputs[0] * slope, inputs[0])


def concat(layer: FloatConcat, setup: Setup) -> Simulator:
    return lambda inputs, quantize: tf.concat(inputs, axis=layer.axis)


def max_pool(layer: FloatMaxPool, setup: Setup) -> Simulator:
    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        x, (top, bottom, left, right) = inputs[0], layer.pads
        if any(layer.pads):  # padding never wins the maximum
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=x.dtype.min)
        return tf.nn.max_pool2d(x, layer.kernel, layer.strides, "VALID")

    return simulate


def avg_pool(layer: FloatAvgPool, setup: Setup) -> Simulator:
    area = float(layer.kernel[0] * layer.kernel[1])
    counts = window_counts(layer.input_hw, layer.kernel, layer.strides, layer.pads).astype(np.float64)
    if layer.count_padding:
        counts = np.full_like(counts, area)
    if layer.position_scale is not None:  # a multiply folded into the pool
        counts = counts / layer.position_scale
    divisors = counts.astype(np.float32)[None, :, :, None]

    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        x, (top, bottom, left, right) = inputs[0], layer.pads
        if any(layer.pads):
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        sums = tf.nn.avg_pool2d(x, layer.kernel, layer.strides, "VALID") * area
        y = sums / divisors
        return y if layer.keep_dims else tf.reshape(y, [-1, y.shape[-1]])

    return simulate


def softmax(layer: FloatSoftmax, setup: Setup) -> Simulator:
    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        x = inputs[0]
        e = tf.exp(x - tf.reduce_max(x, axis=layer.axes, keepdims=True))
        return e / tf.reduce_sum(e, axis=layer.axes, keepdims=True)

    return simulate


def layout(layer: FloatLayout, setup: Setup) -> Simulator:
    if layer.op not in BUILDERS:
        raise QuantizationError(f"fine-tuning cannot simulate the layout op {layer.op!r} (layer {layer.name!r})")
    build = BUILDERS[layer.op]

    def simulate(inputs: list[tf.Tensor], quantize: Quantizer) -> tf.Tensor:
        attrs: dict[str, Any] = dict(layer.attrs)
        if layer.op == "Pad" and layer.fill != 0.0:  # the fill is written as a code of the input's grid
            fill = tf.constant(np.float32(np.clip(layer.fill, -3e38, 3e38)))
            attrs["fill"] = tf.stop_gradient(quantize(layer.inputs[0], fill))
        return build(inputs[0], attrs, layer.consts)

    return simulate


SIMULATORS: dict[type[FloatLayer], Callable[[Any, Setup], Simulator]] = {
    FloatConv: conv,
    FloatAdd: add,
    FloatMul: mul,
    FloatLut: lut,
    FloatConcat: concat,
    FloatMaxPool: max_pool,
    FloatAvgPool: avg_pool,
    FloatSoftmax: softmax,
    FloatLayout: layout,
    FloatPRelu: prelu,
}


def simulator(layer: FloatLayer, setup: Setup) -> Simulator:
    """The layer's simulator; layer kinds are matched exactly (a subclass may compute something else)."""
    build = SIMULATORS.get(type(layer))
    if build is None:
        raise QuantizationError(
            f"fine-tuning cannot simulate layers of kind {type(layer).__name__} (layer {layer.name!r}); "
            f"it simulates {', '.join(sorted(t.__name__ for t in SIMULATORS))}. Quantize the calibrated "
            "thresholds instead"
        )
    return build(layer, setup)
