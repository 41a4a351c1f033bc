"""Rewrites before memory planning: which tensors are views of others, and which transposes the host does.

Rules, applied in order:

* a transpose (batch axis kept) or identity right after a network input, its only consumer, is folded into
  the input's TensorDescription (``axes``): the host packs the data already transposed (up to a map a stem
  reads planar: an NHWC image the rewrites make planar for its stem is packed NCHW);
* except before a stem marked ``planar_input`` (``rewrites.py``): there the input stays as given (NCHW, each
  channel row packed into words) and the transpose is a view of it that only the stem reads
  (``lowering/stem.py``); the same for an NCHW map a layer makes (its natural layout is those rows);
* the same at a network output, walking back through its producers;
* a layout layer whose output words equal its input's (identity, squeeze, reshapes that keep the channel
  packing) makes its output a view: the same DDR words, no instruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpu_compiler.lowering.gather import identity_words
from tpu_compiler.lowering.layout import layout_map
from tpu_compiler.lowering.stem import reads_planar_input
from tpu_compiler.network import Layer, Network


@dataclass
class Views:
    skipped: set[str] = field(default_factory=set)
    """Layers that need no instructions."""
    alias: dict[str, str] = field(default_factory=dict)
    """Tensor -> the tensor whose DDR words it is."""
    inputs: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    """Network input -> (tensor its DDR region holds, axes of its TensorDescription)."""
    outputs: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)

    def root(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name


def _perm(layer: Layer, rank: int) -> list[int] | None:
    """The permutation of a transpose or identity layout layer that keeps the batch axis first, else None."""
    if layer.kind != "layout":
        return None
    op = layer.get("op")
    if op == "Identity":
        return list(range(rank))
    if op != "Transpose":
        return None
    perm = [int(p) for p in np.asarray(layer.arrays["consts.perm"]).reshape(-1)]
    return perm if perm and perm[0] == 0 else None


def plan_views(net: Network, cwl: int) -> Views:
    views = Views()
    producers = {layer.name: layer for layer in net.layers}
    for name in net.inputs:
        planar = _planar_view(net, name)
        if planar is not None:
            views.skipped.add(planar)
            views.alias[planar] = name
            views.inputs[name] = (name, ())
            continue
        current, axes = name, list(range(len(net.tensors[name].shape)))
        while current not in net.outputs and (current == name or _planar_view(net, current) is None):
            consumers = net.consumers(current)
            perm = _perm(consumers[0], len(axes)) if len(consumers) == 1 else None
            if perm is None:
                break
            views.skipped.add(consumers[0].name)
            current, axes = consumers[0].name, [axes[p] for p in perm]
        views.inputs[name] = (current, _axes(axes))
    for layer in net.layers:  # an NCHW map a layer makes, read planar by a stem: its transpose is a view too
        planar = _planar_view(net, layer.name)
        if planar is not None:
            views.skipped.add(planar)
            views.alias[planar] = layer.name
    for layer in net.layers:
        if layer.kind != "layout" or layer.name in views.skipped:
            continue
        source = net.tensors[layer.inputs[0]]
        if identity_words(layout_map(layer, source.shape), source.channels, net.tensors[layer.name].channels, cwl):
            views.skipped.add(layer.name)
            views.alias[layer.name] = layer.inputs[0]
    for name in net.outputs:
        current, axes = name, list(range(len(net.tensors[name].shape)))
        while current in producers:
            layer = producers[current]
            if layer.name in views.alias:
                if net.tensors[layer.inputs[0]].shape != net.tensors[current].shape:
                    break
                current = layer.inputs[0]
                continue
            perm = _perm(layer, len(axes))
            others = [c for c in net.consumers(current) if c.name not in views.skipped]
            if perm is None or others or layer.name in views.skipped or layer.inputs[0] in net.inputs:
                break
            views.skipped.add(layer.name)
            current, axes = layer.inputs[0], [axes[i] for i in np.argsort(perm)]
        views.outputs[name] = (current, _axes(axes))
    return views


def _planar_view(net: Network, name: str) -> str | None:
    """The transpose between tensor ``name`` (a network input or a layer's output) and a stem reading it planar,
    if that is its only consumer."""
    consumers = net.consumers(name)
    if len(consumers) != 1 or consumers[0].kind != "layout" or consumers[0].get("op") != "Transpose":
        return None
    readers = net.consumers(consumers[0].name)
    if len(readers) == 1 and reads_planar_input(readers[0]) and consumers[0].name not in net.outputs:
        return consumers[0].name
    return None


def _axes(axes: list[int]) -> tuple[int, ...]:
    return () if axes == sorted(axes) else tuple(int(a) for a in axes)
