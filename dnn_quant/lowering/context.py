"""State shared by the lowering rules: the graph, the layers found so far, and which tensors are functions of which."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dnn_quant.graph import FloatGraph, Node
from dnn_quant.layers.base import FloatLayer
from dnn_quant.lowering.functions import elementwise_function


@dataclass
class Lowering:
    graph: FloatGraph
    swish_layer_mode: str | None = None
    layers: list[FloatLayer] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)  # op names already part of a layer
    produced: set[str] = field(default_factory=set)  # tensors that are layer outputs or graph inputs
    function_of: dict[str, str] = field(default_factory=dict)  # tensor -> the one activation it is a function of
    unsupported: list[tuple[str, str, str]] = field(default_factory=list)  # (op, node, reason)

    def const(self, tensor: str) -> np.ndarray | None:
        return self.graph.constants.get(tensor)

    def activations(self, node: Node) -> list[str]:
        return [t for t in node.inputs if t not in self.graph.constants]

    def emit(self, layer: FloatLayer, covers: list[str]) -> None:
        for tensor in layer.inputs:
            if tensor in self.produced or tensor in self.function_of:
                self.materialize(tensor)
            # otherwise its producer is already reported unsupported
        self.layers.append(layer)
        self.covered.update(covers)
        self.produced.add(layer.name)

    def materialize(self, tensor: str) -> str:
        """Make ``tensor`` a layer output: an element-wise function of an activation becomes a lookup table."""
        if tensor in self.produced or tensor in self.graph.constants:
            return tensor
        source = self.function_of.get(tensor)
        if source is None:
            raise KeyError(tensor)
        from dnn_quant.layers.lut import FloatLut

        function, ops, description = elementwise_function(self.graph, source, tensor)
        self.emit(FloatLut(tensor, [source], ops, function=function, description=description), ops)
        return tensor

    def single_consumer(self, tensor: str) -> Node | None:
        name = self.graph.single_consumer(tensor)
        if name is None or name in self.covered:
            return None
        return self.graph.nodes[name]
