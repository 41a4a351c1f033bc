"""The quantization-simulating network: the float layers in order, every quantized tensor fake-quantized with
its trainable range, every convolution's weights with their learnable rounding and bias offsets, at any batch
(the ops are rebuilt, not imported from the float graph)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from dnn_quant import thresholds as thresholds_file
from dnn_quant.fine_tuning.fake_quant import FixedGrid, Grid, LinearWeights, TrainableRange
from dnn_quant.fine_tuning.layers import Setup, simulator
from dnn_quant.fine_tuning.rounding import hwio, learned_layers
from dnn_quant.graph import FloatGraph
from dnn_quant.layers.base import FloatLayer
from dnn_quant.layers.conv import FloatConv
from pytpu.errors import QuantizationError

METHOD = "fine_tune"


@dataclass(frozen=True)
class Learning:
    """What trains: the ranges, the weights' rounding, the biases' offsets."""

    ranges: bool = True
    rounding: bool = False
    bias: bool = False


class _Quantizer:
    def __init__(self, grids: Mapping[str, Grid], active: bool, soft: bool):
        self.grids, self.active, self.soft = grids, active, soft

    def __call__(self, name: str, values: tf.Tensor) -> tf.Tensor:
        return self.grids[name](values) if self.active else values


def measured(layer: FloatLayer) -> bool:
    """Whether the layer's output has a range of its own in the thresholds (as ``RegularModel.calibrated``)."""
    return not layer.INHERITS and layer.fixed_qparams() is None


def quantized_tensors(graph: FloatGraph, layers: list[FloatLayer]) -> list[str]:
    """The thresholds' tensors: as ``RegularModel.calibrated``."""
    return list(dict.fromkeys([*graph.inputs, *(layer.calibrated_as for layer in layers if measured(layer))]))


class SimulatedNetwork(tf.Module):
    def __init__(
        self,
        graph: FloatGraph,
        layers: list[FloatLayer],
        thresholds: Mapping[str, Any],
        learning: Learning = Learning(),
    ):
        super().__init__(name="simulated_network")
        self.graph, self.learning = graph, learning
        names = quantized_tensors(graph, layers)
        self.ranges = {
            name: TrainableRange(float(thresholds[name]["min"]), float(thresholds[name]["max"]), f"range_{i}")
            for i, name in enumerate(names)
        }
        self.grids: dict[str, Grid] = dict(self.ranges)
        for layer in layers:  # every layer output's grid: inherited, fixed, or the range it is calibrated as
            fixed = layer.fixed_qparams()
            missing = [t for t in layer.inputs if t not in self.grids]
            if missing:
                raise QuantizationError(f"fine-tuning: layer {layer.name!r} reads {missing}, which no layer computes")
            if layer.INHERITS:
                self.grids[layer.name] = self.grids[layer.inputs[0]]
            elif fixed is not None:
                self.grids[layer.name] = FixedGrid(fixed)
            else:
                self.grids[layer.name] = self.ranges[layer.calibrated_as]
        qparams = {name: grid.qparams() for name, grid in self.grids.items()}
        start = learned_layers(layers, thresholds)
        self.linear = {
            layer.name: LinearWeights(
                hwio(layer),
                layer.bias,
                qparams[layer.inputs[0]].scale,
                qparams[layer.name].scale,
                start.get(layer.name),
                (learning.rounding, learning.bias),
                f"linear_{i}",
            )
            for i, layer in enumerate(layers)
            if type(layer) is FloatConv
        }
        self.calibrated_as = {layer.name: layer.calibrated_as for layer in layers}
        setup = Setup(graph, qparams.__getitem__, self.linear)
        self.steps = [(layer, simulator(layer, setup)) for layer in layers]

    def __call__(
        self, inputs: Mapping[str, tf.Tensor], active: bool = True, soft: bool = False
    ) -> dict[str, tf.Tensor]:
        """The outputs (float graph names) for float inputs; ``active`` False: the float model itself; ``soft``:
        the weights' soft rounding (training) instead of the hard one (the integer model)."""
        return self.run(inputs, active, soft)[0]

    def run(
        self, inputs: Mapping[str, tf.Tensor], active: bool = True, soft: bool = False, isolated: bool = False
    ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """The outputs, and every convolution's and dense layer's result before its output is quantized.

        ``isolated``: no gradient flows from a layer into its inputs, so that a loss on a layer's result trains
        that layer's variables only (the values are the same)."""
        quantize = _Quantizer(self.grids, active, soft)
        tensors = {name: quantize(name, tf.convert_to_tensor(x, tf.float32)) for name, x in inputs.items()}
        linear: dict[str, tf.Tensor] = {}
        for layer, simulate in self.steps:
            layer_inputs = [tensors[t] for t in layer.inputs]
            if isolated:
                layer_inputs = [tf.stop_gradient(t) for t in layer_inputs]
            value = simulate(layer_inputs, quantize)
            if layer.name in self.linear:
                linear[layer.name] = value
            tensors[layer.name] = value if layer.INHERITS else quantize(layer.name, value)
        return {name: tensors[name] for name in self.graph.outputs}, linear

    def parameters(self) -> dict[str, list[tf.Variable]]:
        """The trained variables by kind: ``ranges`` (log-factors), ``rounding`` (``v``), ``bias`` (offsets)."""
        return {
            "ranges": [v for r in self.ranges.values() if r.trainable for v in (r.log_low, r.log_high)]
            if self.learning.ranges
            else [],
            "rounding": [w.rounding for w in self.linear.values() if w.learns_rounding],
            "bias": [w.offset for w in self.linear.values() if w.learns_bias],
        }

    def thresholds(self) -> dict[str, dict[str, Any]]:
        """The current ranges in the format ``calibrate`` returns, with the learned ``weights`` of the layers
        whose hard rounding or bias differs from what ``quantize`` does without them."""
        result: dict[str, dict[str, Any]] = {}
        for name, trainable in self.ranges.items():
            low, high = trainable.thresholds()
            result[name] = {"min": low, "max": high, "method": METHOD}
        for layer_name, weights in self.linear.items():
            learned = weights.learned()
            if learned is not None:
                entry = thresholds_file.weights_entry(learned.round_up, learned.bias_offset)
                result[self.calibrated_as[layer_name]][thresholds_file.WEIGHTS] = entry
        return result
