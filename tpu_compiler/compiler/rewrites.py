"""Network rewrites before views and memory planning: bit-exact reorderings and foldings of layout layers.

Every rule only moves or removes integer layout work, so the rewritten network computes exactly the codes
of the original (the quantized golden graph).  Rules, applied until none matches:

* a ``Transpose`` whose only consumer is the inverse ``Transpose`` (keras EfficientNet's NHWC -> NCHW ->
  NHWC round trip after its normalisation) goes away with it: the consumers read the first one's input;
* a constant ``Pad`` whose only consumer is a ``Transpose`` becomes the transpose, then the pad with its
  paddings permuted: ``transpose(pad(x)) = pad'(transpose(x))``.  A transpose right after a network input
  then meets the input (see views);
* a constant ``Pad`` of the spatial axes whose only consumer is a convolution and whose fill is the
  convolution's ``pad_code`` joins the convolution's ``pads`` (which it fills with ``pad_code``);
* a constant ``Pad`` of the spatial axes before a max pool, filling with a code no larger than any its
  input can hold, joins the pool's ``pads`` when every window still covers an input position: the max
  pool leaves padding out, and a fill that never exceeds a real code never changes a maximum.

Before them, every transposed convolution (``conv_transpose``) becomes what it is defined as: a
``zero_insert`` layer (the input with ``upsample - 1`` copies of its zero point between neighbouring pixels,
cropped by the negative pads; ``lowering.conv_transpose``) and a stride-1 ``conv`` over it with the positive
pads, the flipped kernel, the bias and the output stage of the layer.  The convolution keeps the layer's
name; the inserted tensor gets a new one.

Then a convolution reading a network input through an NCHW -> NHWC transpose, that ``lowering.stem``
can compute from planar rows, is marked ``planar_input``: views keep that input planar for the host.

A rewritten layer keeps its name (and so its output tensor's user name); a transpose moved before a pad
gets a new name.  The network passed in is never modified: a rewrite builds a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytpu.params import ModelParameters
from tpu_compiler.lowering.stem import PLANAR_INPUT, plan_stem, stem_geometry
from tpu_compiler.network import Layer, Network

NCHW_TO_NHWC = [0, 2, 3, 1]

Rule = Callable[[Network, Layer], list[Layer] | None]
"""A rule looks at one layer; if it applies, it returns the new list of layers."""


def rewrite(network: Network, hw: ModelParameters) -> Network:
    """``network`` with every rule applied (itself when none applies)."""
    net = network
    if any(layer.kind == "conv_transpose" for layer in net.layers):
        net = _rebuild(net, _conv_transposes_as_convs(net))
    while True:
        layers = _first_match(
            net, (_cancel_inverse_transposes, _commute_pad_transpose, _fold_pad_into_conv, _fold_pad_into_max_pool)
        )
        if layers is None:
            break
        net = _rebuild(net, layers)
    layers = _mark_planar_stems(net, hw)
    return net if layers is None else _rebuild(net, layers)


def _first_match(net: Network, rules: tuple[Rule, ...]) -> list[Layer] | None:
    for layer in net.layers:
        for rule in rules:
            layers = rule(net, layer)
            if layers is not None:
                return layers
    return None


def _rebuild(net: Network, layers: list[Layer]) -> Network:
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


def _with(
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


def _replace(net: Network, changes: dict[str, Layer | None]) -> list[Layer]:
    """The layers with some replaced (by name) or removed (None)."""
    out = []
    for layer in net.layers:
        new = changes.get(layer.name, layer)
        if new is not None:
            out.append(new)
    return out


def _only_consumer(net: Network, name: str) -> Layer | None:
    """The one layer reading ``name``, if ``name`` is no network output and exactly one layer reads it."""
    consumers = net.consumers(name)
    if name in net.outputs or len(consumers) != 1:
        return None
    return consumers[0]


def _constant_pad(layer: Layer) -> tuple[np.ndarray, int] | None:
    """Paddings ``[rank, 2]`` and fill code of a constant Pad layer with an explicit fill, else None."""
    if layer.kind != "layout" or layer.get("op") != "Pad":
        return None
    attrs = layer.get("attrs", {})
    if str(attrs.get("mode", "CONSTANT")).upper() != "CONSTANT" or "fill" not in attrs:
        return None
    pads = np.asarray(layer.arrays["consts.paddings"]).astype(np.int64).reshape(-1, 2)
    return (pads, int(attrs["fill"])) if (pads >= 0).all() else None


def _spatial(pads: np.ndarray) -> list[int] | None:
    """``[top, bottom, left, right]`` of NHWC paddings that leave batch and channels alone, else None."""
    if pads.shape != (4, 2) or pads[0].any() or pads[3].any():
        return None
    return [int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1])]


def _transpose_perm(layer: Layer) -> list[int] | None:
    if layer.kind != "layout" or layer.get("op") != "Transpose":
        return None
    return [int(p) for p in np.asarray(layer.arrays["consts.perm"]).reshape(-1)]


def _cancel_inverse_transposes(net: Network, first: Layer) -> list[Layer] | None:
    perm = _transpose_perm(first)
    second = _only_consumer(net, first.name) if perm is not None else None
    back = _transpose_perm(second) if second is not None else None
    if perm is None or second is None or back is None or second.name in net.outputs:
        return None
    if [perm[i] for i in back] != list(range(len(perm))) or first.get("out") != second.get("out"):
        return None
    source = first.inputs[0]
    changes: dict[str, Layer | None] = {first.name: None, second.name: None}
    for consumer in net.consumers(second.name):
        inputs = tuple(source if name == second.name else name for name in consumer.inputs)
        changes[consumer.name] = _with(consumer, inputs=inputs)
    return _replace(net, changes)


def _commute_pad_transpose(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    transpose = _only_consumer(net, pad.name) if constant is not None else None
    if constant is None or transpose is None or transpose.kind != "layout" or transpose.get("op") != "Transpose":
        return None
    if pad.get("out") != transpose.get("out"):
        return None
    perm = [int(p) for p in np.asarray(transpose.arrays["consts.perm"]).reshape(-1)]
    name = _fresh(net, f"{transpose.name}/unpadded")
    moved = _with(transpose, name, pad.inputs)
    padded = _with(pad, transpose.name, (name,), {"out": transpose.get("out")})
    padded.arrays["consts.paddings"] = constant[0][perm]
    return _replace(net, {pad.name: moved, transpose.name: padded})


def _fold_pad_into_conv(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    conv = _only_consumer(net, pad.name) if constant is not None else None
    if constant is None or conv is None or conv.kind != "conv" or conv.get("dense") or conv.inputs != (pad.name,):
        return None
    extra = _spatial(constant[0])
    if extra is None or constant[1] != int(conv.get("pad_code", 0)):
        return None
    pads = [int(a) + b for a, b in zip(conv.get("pads", [0, 0, 0, 0]), extra, strict=True)]
    return _replace(net, {pad.name: None, conv.name: _with(conv, inputs=pad.inputs, config={"pads": pads})})


def _fold_pad_into_max_pool(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    pool = _only_consumer(net, pad.name) if constant is not None else None
    if constant is None or pool is None or pool.kind != "max_pool" or pool.inputs != (pad.name,):
        return None
    extra = _spatial(constant[0])
    if extra is None or constant[1] > _lowest_code(net, pad.inputs[0]):
        return None
    pads = [int(a) + b for a, b in zip(pool.get("pads", [0, 0, 0, 0]), extra, strict=True)]
    _, h, w, _ = net.tensors[pad.inputs[0]].shape
    (kh, kw), (sy, sx) = pool.get("kernel"), pool.get("strides")
    if not (_windows_cover(h, kh, sy, pads[0], pads[1]) and _windows_cover(w, kw, sx, pads[2], pads[3])):
        return None
    return _replace(net, {pad.name: None, pool.name: _with(pool, inputs=pad.inputs, config={"pads": pads})})


def _lowest_code(net: Network, name: str) -> int:
    """The lowest code tensor ``name`` can hold: its producer's output clamp, else -128."""
    producer = next((layer for layer in net.layers if layer.name == name), None)
    return int(producer.get("lo", -128)) if producer is not None else -128


def _windows_cover(size: int, kernel: int, stride: int, before: int, after: int) -> bool:
    """Whether every pooling window along one axis covers at least one position of the unpadded input."""
    starts = np.arange(0, size + before + after - kernel + 1, stride) - before
    return bool(((starts + kernel > 0) & (starts < size)).all())


def _conv_transposes_as_convs(net: Network) -> list[Layer]:
    layers: list[Layer] = []
    for layer in net.layers:
        if layer.kind != "conv_transpose":
            layers.append(layer)
            continue
        pads = [int(p) for p in layer.get("pads", [0, 0, 0, 0])]
        factors = [int(f) for f in layer.get("upsample", [1, 1])]
        crop = [max(-p, 0) for p in pads]
        config = {k: v for k, v in layer.config.items() if k != "upsample"}
        config.update(kind="conv", pads=[max(p, 0) for p in pads], strides=[1, 1], dilations=[1, 1], groups=1)
        inputs = layer.inputs
        if factors != [1, 1] or any(crop):
            x = net.tensors[layer.inputs[0]]
            name = _fresh(net, f"{layer.name}/zero_inserted")
            inserted = {
                "kind": "zero_insert",
                "name": name,
                "inputs": list(layer.inputs),
                "factors": factors,
                "crop": crop,
                "fill": int(layer.get("pad_code", 0)),
                "out": {"scale": x.scale, "zero_point": x.zero_point},
            }
            layers.append(Layer("zero_insert", name, layer.inputs, inserted))
            inputs = (name,)
        layers.append(_with(Layer("conv", layer.name, layer.inputs, config, dict(layer.arrays)), inputs=inputs))
    return layers


def _mark_planar_stems(net: Network, hw: ModelParameters) -> list[Layer] | None:
    changes: dict[str, Layer | None] = {}
    for name in net.inputs:
        transpose = _only_consumer(net, name)
        if transpose is None or transpose.kind != "layout" or transpose.get("op") != "Transpose":
            continue
        perm = [int(p) for p in np.asarray(transpose.arrays["consts.perm"]).reshape(-1)]
        conv = _only_consumer(net, transpose.name)
        if perm != NCHW_TO_NHWC or conv is None or conv.inputs != (transpose.name,) or conv.get(PLANAR_INPUT):
            continue
        geo = stem_geometry(conv, net.tensors[transpose.name].shape, net.tensors[conv.name].shape)
        if geo is not None and plan_stem(geo, hw) is not None:
            changes[conv.name] = _with(conv, config={PLANAR_INPUT: True})
    return _replace(net, changes) if changes else None


def _fresh(net: Network, base: str) -> str:
    name, i = base, 1
    while name in net.tensors:
        name, i = f"{base}_{i}", i + 1
    return name
