"""Small edits of a Network's layer list that the rewrite rules share (``rewrites.py``, ``lookups.py``).

A rule never modifies the network it looks at: it returns a new list of layers, which ``rebuild`` turns into
a new network with the same inputs, outputs, batch and user names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tpu_compiler.network import Layer, Network

NCHW_TO_NHWC = [0, 2, 3, 1]

Rule = Callable[[Network, Layer], list[Layer] | None]
"""A rule looks at one layer; if it applies, it returns the new list of layers."""


def rebuild(net: Network, layers: list[Layer]) -> Network:
    """A network of ``layers`` with ``net``'s inputs, outputs, batch and user names (shapes inferred again)."""
    out = Network()
    for name in net.inputs:
        tensor = net.tensors[name]
        out.add_input(name, tensor.shape, tensor.scale, tensor.zero_point)
    for layer in layers:
        out.add_layer(layer.kind, layer.name, layer.inputs, layer.config, layer.arrays)
    for name in net.outputs:
        out.add_output(name)
    out.batch, out.renaming = net.batch, dict(net.renaming)
    return out


def first_match(net: Network, rules: tuple[Rule, ...]) -> list[Layer] | None:
    """The layers after the first rule that applies (layers in order, each tried with every rule), or None."""
    for layer in net.layers:
        for rule in rules:
            layers = rule(net, layer)
            if layers is not None:
                return layers
    return None


def with_(
    layer: Layer, name: str | None = None, inputs: tuple[str, ...] | None = None, config: dict[str, Any] | None = None
) -> Layer:
    """A copy of ``layer`` with another name, inputs or config entries (the config keeps naming itself)."""
    name = layer.name if name is None else name
    inputs = layer.inputs if inputs is None else inputs
    merged = {**layer.config, **(config or {})}
    if "name" in merged:
        merged["name"] = name
    if "inputs" in merged:
        merged["inputs"] = list(inputs)
    return Layer(layer.kind, name, inputs, merged, dict(layer.arrays))


def replace(net: Network, changes: dict[str, Layer | None]) -> list[Layer]:
    """The layers with some replaced (by name) or removed (None)."""
    out = []
    for layer in net.layers:
        new = changes.get(layer.name, layer)
        if new is not None:
            out.append(new)
    return out


def only_consumer(net: Network, name: str) -> Layer | None:
    """The one layer reading ``name``, if ``name`` is no network output and exactly one layer reads it."""
    consumers = net.consumers(name)
    if name in net.outputs or len(consumers) != 1:
        return None
    return consumers[0]


def transpose_perm(layer: Layer) -> list[int] | None:
    """The permutation of a ``Transpose`` layout layer, else None."""
    if layer.kind != "layout" or layer.get("op") != "Transpose":
        return None
    return [int(p) for p in np.asarray(layer.arrays["consts.perm"]).reshape(-1)]


def fresh(net: Network, base: str) -> str:
    """A tensor name not yet in ``net``: ``base``, else ``base_1``, ``base_2``, ..."""
    name, i = base, 1
    while name in net.tensors:
        name, i = f"{base}_{i}", i + 1
    return name
