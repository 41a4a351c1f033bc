"""The quantization-simulating network: the float layers in order, every quantized tensor fake-quantized with
its trainable range, at any batch (the ops are rebuilt, not imported from the float graph)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from dnn_quant.fine_tuning.fake_quant import FixedGrid, Grid, TrainableRange
from dnn_quant.fine_tuning.layers import Setup, simulator
from dnn_quant.graph import FloatGraph
from dnn_quant.layers.base import FloatLayer
from pytpu.errors import QuantizationError

METHOD = "fine_tune"


class _Quantizer:
    def __init__(self, grids: Mapping[str, Grid], active: bool):
        self.grids, self.active = grids, active

    def __call__(self, name: str, values: tf.Tensor) -> tf.Tensor:
        return self.grids[name](values) if self.active else values


def measured(layer: FloatLayer) -> bool:
    """Whether the layer's output has a range of its own in the thresholds (as ``RegularModel.calibrated``)."""
    return not layer.INHERITS and layer.fixed_qparams() is None


def quantized_tensors(graph: FloatGraph, layers: list[FloatLayer]) -> list[str]:
    """The thresholds' tensors: as ``RegularModel.calibrated``."""
    return list(dict.fromkeys([*graph.inputs, *(layer.calibrated_as for layer in layers if measured(layer))]))


class SimulatedNetwork(tf.Module):
    def __init__(self, graph: FloatGraph, layers: list[FloatLayer], thresholds: Mapping[str, Any]):
        super().__init__(name="simulated_network")
        self.graph = graph
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
        setup = Setup(graph, qparams.__getitem__)
        self.steps = [(layer, simulator(layer, setup)) for layer in layers]

    def __call__(self, inputs: Mapping[str, tf.Tensor], active: bool = True) -> dict[str, tf.Tensor]:
        """The outputs (float graph names) for float inputs; ``active`` False: the float model itself."""
        quantize = _Quantizer(self.grids, active)
        tensors = {name: quantize(name, tf.convert_to_tensor(x, tf.float32)) for name, x in inputs.items()}
        for layer, simulate in self.steps:
            value = simulate([tensors[t] for t in layer.inputs], quantize)
            tensors[layer.name] = value if layer.INHERITS else quantize(layer.name, value)
        return {name: tensors[name] for name in self.graph.outputs}

    def parameters(self) -> list[tf.Variable]:
        return [v for r in self.ranges.values() if r.trainable for v in (r.log_low, r.log_high)]

    def thresholds(self) -> dict[str, dict[str, Any]]:
        """The current ranges in the format ``calibrate`` returns."""
        result: dict[str, dict[str, Any]] = {}
        for name, trainable in self.ranges.items():
            low, high = trainable.thresholds()
            result[name] = {"min": low, "max": high, "method": METHOD}
        return result
