"""Network rewrites before views and memory planning: bit-exact reorderings and foldings of layout layers.

Every rule only moves or removes integer layout work, or folds per-code arithmetic into exact lookups
(``lookups.py``), so the rewritten network computes exactly the codes of the original (the quantized golden
graph).  Rules, applied until none matches: those of ``lookups.py`` (a per-channel depthwise 1x1
convolution after an NCHW -> NHWC transpose becomes a lookup per channel before it; two lookups in a row
become one), and

* a ``Transpose`` whose only consumer is the inverse ``Transpose`` (keras EfficientNet's NHWC -> NCHW ->
  NHWC round trip after its normalisation) goes away with it: the consumers read the first one's input;
* a constant ``Pad`` whose only consumer is a ``Transpose`` becomes the transpose, then the pad with its
  paddings permuted: ``transpose(pad(x)) = pad'(transpose(x))``.  A transpose right after a network input
  then meets the input (see views);
* a constant ``Pad`` of the spatial axes whose only consumer is a convolution and whose fill is the
  convolution's ``pad_code`` joins the convolution's ``pads`` (which it fills with ``pad_code``);
* a constant ``Pad`` of the spatial axes before a max pool, filling with a code no larger than any its
  input can hold, joins the pool's ``pads`` when every window still covers an input position: the max
  pool leaves padding out, and a fill that never exceeds a real code never changes a maximum;
* a ``Reshape`` whose input is another ``Reshape`` read by nothing else reads that one's input (row-major
  reshapes compose): keras EfficientNet's squeeze-and-excitation vector goes ``(1, C) -> (1, C, 1, 1) ->
  (1, 1, 1, C)``, a byte per word and back (two MOVEs per channel), where ``(1, C) -> (1, 1, 1, C)`` keeps
  its words (a view);
* a concatenation along channels whose input is a channel slice of a map (a layout layer: YOLOv8's C2f
  split halves) reads those channels from the map itself (the concatenation's ``lanes``); the slice
  goes away if the concatenation was its only reader.  Its MOVEs then take the lanes from the map, and a
  slice whose lanes keep their offset in the output is one RESCALE (or MOVE) from the map.

Before them, every transposed convolution (``conv_transpose``) becomes what it is defined as: a
``zero_insert`` layer (the input with ``upsample - 1`` copies of its zero point between neighbouring pixels,
cropped by the negative pads; ``lowering.conv_transpose``) and a stride-1 ``conv`` over it with the positive
pads, the flipped kernel, the bias and the output stage of the layer.  The convolution keeps the layer's
name; the inserted tensor gets a new one.

Then a convolution reading an NCHW map (a network input, or a layer's output such as the per-channel lookup
above) through an NCHW -> NHWC transpose, that ``lowering.stem`` can compute from planar rows, is marked
``planar_input``: views keep that map planar (for a network input, the host packs it so) and make the
transpose a view of it.

A rewritten layer keeps its name (and so its output tensor's user name); a transpose moved before a pad
gets a new name.  The network passed in is never modified: a rewrite builds a new one.
"""

from __future__ import annotations

import numpy as np

from pytpu.params import ModelParameters
from tpu_compiler.compiler.graph_edit import (
    NCHW_TO_NHWC,
    first_match,
    fresh,
    only_consumer,
    rebuild,
    replace,
    transpose_perm,
    with_,
)
from tpu_compiler.compiler.lookups import LOOKUP_RULES
from tpu_compiler.lowering.layout import layout_map
from tpu_compiler.lowering.stem import PLANAR_INPUT, plan_stem, stem_geometry
from tpu_compiler.network import Layer, Network, concat_lanes, concatenates_channels


def rewrite(network: Network, hw: ModelParameters) -> Network:
    """``network`` with every rule applied (itself when none applies)."""
    net = network
    if any(layer.kind == "conv_transpose" for layer in net.layers):
        net = rebuild(net, _conv_transposes_as_convs(net))
    rules = (*LOOKUP_RULES, *LAYOUT_RULES)
    while True:
        layers = first_match(net, rules)
        if layers is None:
            break
        net = rebuild(net, layers)
    layers = _mark_planar_stems(net, hw)
    return net if layers is None else rebuild(net, layers)


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


def _cancel_inverse_transposes(net: Network, first: Layer) -> list[Layer] | None:
    perm = transpose_perm(first)
    second = only_consumer(net, first.name) if perm is not None else None
    back = transpose_perm(second) if second is not None else None
    if perm is None or second is None or back is None or second.name in net.outputs:
        return None
    if [perm[i] for i in back] != list(range(len(perm))) or first.get("out") != second.get("out"):
        return None
    source = first.inputs[0]
    changes: dict[str, Layer | None] = {first.name: None, second.name: None}
    for consumer in net.consumers(second.name):
        inputs = tuple(source if name == second.name else name for name in consumer.inputs)
        changes[consumer.name] = with_(consumer, inputs=inputs)
    return replace(net, changes)


def _commute_pad_transpose(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    transpose = only_consumer(net, pad.name) if constant is not None else None
    perm = transpose_perm(transpose) if transpose is not None else None
    if constant is None or transpose is None or perm is None or pad.get("out") != transpose.get("out"):
        return None
    name = fresh(net, f"{transpose.name}/unpadded")
    moved = with_(transpose, name, pad.inputs)
    padded = with_(pad, transpose.name, (name,), {"out": transpose.get("out")})
    padded.arrays["consts.paddings"] = constant[0][perm]
    return replace(net, {pad.name: moved, transpose.name: padded})


def _fold_pad_into_conv(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    conv = only_consumer(net, pad.name) if constant is not None else None
    if constant is None or conv is None or conv.kind != "conv" or conv.get("dense") or conv.inputs != (pad.name,):
        return None
    extra = _spatial(constant[0])
    if extra is None or constant[1] != int(conv.get("pad_code", 0)):
        return None
    pads = [int(a) + b for a, b in zip(conv.get("pads", [0, 0, 0, 0]), extra, strict=True)]
    return replace(net, {pad.name: None, conv.name: with_(conv, inputs=pad.inputs, config={"pads": pads})})


def _fold_pad_into_max_pool(net: Network, pad: Layer) -> list[Layer] | None:
    constant = _constant_pad(pad)
    pool = only_consumer(net, pad.name) if constant is not None else None
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
    return replace(net, {pad.name: None, pool.name: with_(pool, inputs=pad.inputs, config={"pads": pads})})


def _lowest_code(net: Network, name: str) -> int:
    """The lowest code tensor ``name`` can hold: its producer's output clamp, else -128."""
    producer = net.producer(name)
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
            name = fresh(net, f"{layer.name}/zero_inserted")
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
        layers.append(with_(Layer("conv", layer.name, layer.inputs, config, dict(layer.arrays)), inputs=inputs))
    return layers


def _merge_reshapes(net: Network, second: Layer) -> list[Layer] | None:
    """A ``Reshape`` of a ``Reshape`` that has no other reader is one reshape of the first's input."""
    if second.kind != "layout" or second.get("op") != "Reshape" or len(second.inputs) != 1:
        return None
    first = net.producer(second.inputs[0])
    if first is None or first.kind != "layout" or first.get("op") != "Reshape" or len(first.inputs) != 1:
        return None
    if first.name in net.outputs or only_consumer(net, first.name) is not second:
        return None
    if first.get("out") != second.get("out") or first.get("attrs", {}) != second.get("attrs", {}):
        return None
    return replace(net, {first.name: None, second.name: with_(second, inputs=first.inputs)})


def _concat_reads_channel_slices(net: Network, concat: Layer) -> list[Layer] | None:
    """A concatenation along channels reads a channel slice of a map (a split half) from the map itself."""
    if not concatenates_channels(concat, net.tensors[concat.name].shape):
        return None
    lanes = concat_lanes(concat)
    for i, name in enumerate(concat.inputs):
        sliced = net.producer(name)
        if lanes[i] is not None or sliced is None or sliced.kind != "layout" or len(sliced.inputs) != 1:
            continue
        source, tensor = sliced.inputs[0], net.tensors[name]
        channels = _channel_slice(layout_map(sliced, net.tensors[source].shape), net.tensors[source].shape)
        held = net.tensors[source]
        if channels is None or (held.scale, held.zero_point) != (tensor.scale, tensor.zero_point):
            continue
        lanes[i] = channels
        inputs = tuple(source if j == i else n for j, n in enumerate(concat.inputs))
        changes: dict[str, Layer | None] = {concat.name: with_(concat, inputs=inputs, config={"lanes": lanes})}
        if only_consumer(net, name) is concat and concat.inputs.count(name) == 1:
            changes[sliced.name] = None  # read by the concatenation alone: nothing left to compute
        return replace(net, changes)
    return None


def _channel_slice(mapping: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """``(first, count)`` if the gather map takes channels ``first..first+count`` of every position of a map
    of ``shape``, else None."""
    if mapping.shape[:-1] != shape[:-1] or mapping.size == 0 or mapping.min() < 0:
        return None
    first, count = int(mapping.flat[0]) % shape[-1], mapping.shape[-1]
    whole = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    if first + count > shape[-1] or not np.array_equal(mapping, whole[..., first : first + count]):
        return None
    return first, count


LAYOUT_RULES = (
    _cancel_inverse_transposes,
    _commute_pad_transpose,
    _fold_pad_into_conv,
    _fold_pad_into_max_pool,
    _merge_reshapes,
    _concat_reads_channel_slices,
)


IMAGE_CHANNELS = 4
"""An NHWC network input of at most this many channels (an image) read by a stem is made planar: a word per
pixel would hold 3 codes of 128; with more channels the plain convolution is kept."""


def _mark_planar_stems(net: Network, hw: ModelParameters) -> list[Layer] | None:
    """Mark each convolution that reads an NCHW map (a network input, or any layer's output) through an
    NCHW -> NHWC transpose, its only reader, and that ``lowering.stem`` can compute from planar rows.

    A convolution reading an NHWC image directly (keras models exported with NHWC inputs) gets the
    pair of transposes that makes its input planar: the first folds into the input's TensorDescription (the
    host packs the image NCHW, each channel's rows in words), the second becomes the stem's planar view.
    Lowered as a plain convolution, its 7x7 windows over a word per 3-channel pixel cost the EWP a PACK of
    49 words per output pixel."""
    changes: dict[str, Layer | None] = {}
    layers: list[Layer] = []
    for name in [*net.inputs, *(layer.name for layer in net.layers)]:
        reader = only_consumer(net, name)
        if reader is None:
            continue
        tensor = net.tensors[name]
        image = name in net.inputs and len(tensor.shape) == 4 and tensor.shape[3] <= IMAGE_CHANNELS
        if image and _stem_of(net, reader, name, hw):
            to_planar, back = fresh(net, f"{name}/planar"), fresh(net, f"{name}/planar/nhwc")
            out = {"scale": tensor.scale, "zero_point": tensor.zero_point}
            layers += [_transpose(to_planar, name, [0, 3, 1, 2], out), _transpose(back, to_planar, NCHW_TO_NHWC, out)]
            changes[reader.name] = with_(reader, inputs=(back,), config={PLANAR_INPUT: True})
            continue
        transpose = reader
        if transpose_perm(transpose) != NCHW_TO_NHWC:
            continue
        conv = only_consumer(net, transpose.name)
        if conv is not None and _stem_of(net, conv, transpose.name, hw):
            changes[conv.name] = with_(conv, config={PLANAR_INPUT: True})
    return layers + replace(net, changes) if changes else None


def _stem_of(net: Network, conv: Layer, source: str, hw: ModelParameters) -> bool:
    """Whether ``conv`` reads ``source`` (NHWC) alone and ``lowering.stem`` can compute it from planar rows."""
    if conv.kind != "conv" or conv.inputs != (source,) or conv.get(PLANAR_INPUT):
        return False
    geo = stem_geometry(conv, net.tensors[source].shape, net.tensors[conv.name].shape)
    return geo is not None and plan_stem(geo, hw) is not None


def _transpose(name: str, source: str, perm: list[int], out: dict[str, float | int]) -> Layer:
    config = {"kind": "layout", "name": name, "inputs": [source], "op": "Transpose", "attrs": {}, "out": out}
    return Layer("layout", name, (source,), config, {"consts.perm": np.asarray(perm, dtype=np.int64)})
