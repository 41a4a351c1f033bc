"""Rewrites that turn per-code arithmetic into lookups, bit-exact (the table holds each code's exact result).

* A depthwise 1x1 convolution with one output channel per input channel (stride 1, no padding) computes
  every output code from one input code.  After an NCHW -> NHWC transpose that only it reads, it becomes a
  ``row_lut`` before the transpose: a lookup with one table per row (axis 1) of the NCHW map, that is per
  channel, each the convolution's output stage applied to ``w[c] * code``.  The transpose then carries the
  convolution's name.  keras EfficientNet's normalisation of an NCHW ONNX image is such a convolution: the
  transposed map (a word per pixel, 6.4 MB at 224x224x3) is no longer made, and the stem after it reads
  the lookup's planar rows (see ``rewrites._mark_planar_stems``).
* A lookup whose only reader is another lookup becomes one lookup: the second table indexed by the first.
"""

from __future__ import annotations

import numpy as np

from pytpu.sim.arith import OutputStage
from tpu_compiler.compiler.graph_edit import NCHW_TO_NHWC, fresh, only_consumer, replace, transpose_perm, with_
from tpu_compiler.network import Layer, Network

ROW_LUT = "row_lut"
"""Layer kind of a lookup with one 256-entry table per row (axis 1) of its input: ``arrays["table"]`` is
``[rows, 256]``, entry ``code + 128`` of row ``r`` the result for ``code``; made only by these rewrites."""

LOOKUPS = frozenset({"lut", ROW_LUT})
CODES = np.arange(-128, 128, dtype=np.int64)


def _per_channel_tables(net: Network, conv: Layer) -> np.ndarray | None:
    """``[C, 256]`` tables of a depthwise 1x1 convolution with one output channel per input channel, stride 1
    and no padding (None for any other layer): entry ``code + 128`` of row ``c`` is output channel ``c`` for
    input code ``code``."""
    if conv.kind != "conv" or conv.get("dense") or any(conv.get("pads", [0, 0, 0, 0])):
        return None
    weights = np.asarray(conv.arrays["weights"])
    channels = net.tensors[conv.inputs[0]].channels
    if weights.shape != (1, 1, 1, channels) or int(conv.get("groups", 1)) != channels:
        return None
    if [int(s) for s in conv.get("strides", [1, 1])] != [1, 1]:
        return None
    stage = OutputStage(conv.arrays["bias"], conv.arrays["mult"], conv.arrays["shift"])
    products = CODES[:, None] * weights.reshape(1, channels).astype(np.int64)  # [code, channel]
    zo = net.tensors[conv.name].zero_point
    codes = stage.apply(products, zo, int(conv.get("lo", -128)), int(conv.get("hi", 127)))
    return np.ascontiguousarray(codes.T)


def _per_channel_conv_as_lookup(net: Network, transpose: Layer) -> list[Layer] | None:
    if transpose_perm(transpose) != NCHW_TO_NHWC:
        return None
    conv = only_consumer(net, transpose.name)
    if conv is None or conv.inputs != (transpose.name,):
        return None
    tables = _per_channel_tables(net, conv)
    if tables is None:
        return None
    name = fresh(net, f"{conv.name}/planar")
    out = conv.get("out")
    config = {"kind": ROW_LUT, "name": name, "inputs": list(transpose.inputs), "out": out}
    lookup = Layer(ROW_LUT, name, transpose.inputs, config, {"table": tables})
    moved = with_(transpose, conv.name, (name,), {"out": out})
    return replace(net, {transpose.name: lookup, conv.name: moved})


def _rows_of(layer: Layer, rows: int) -> np.ndarray:
    """A lookup's tables as ``[rows, 256]`` int8."""
    table = np.asarray(layer.arrays["table"], dtype=np.int8)
    return np.broadcast_to(table.reshape(-1, 256), (rows, 256))


def _compose_lookups(net: Network, first: Layer) -> list[Layer] | None:
    second = only_consumer(net, first.name) if first.kind in LOOKUPS else None
    if second is None or second.kind not in LOOKUPS or second.inputs != (first.name,):
        return None
    if first.kind == second.kind == "lut":
        inner = np.asarray(first.arrays["table"]).astype(np.int64) + 128
        table = np.asarray(second.arrays["table"], dtype=np.int8)[inner]
        merged = Layer("lut", second.name, first.inputs, dict(second.config), {"table": table})
    else:
        rows = int(net.tensors[second.name].shape[1])
        inner, outer = _rows_of(first, rows), _rows_of(second, rows)
        table = np.take_along_axis(outer, inner.astype(np.int64) + 128, axis=1)
        config = {**second.config, "kind": ROW_LUT}
        merged = Layer(ROW_LUT, second.name, first.inputs, config, {"table": np.ascontiguousarray(table)})
    return replace(net, {first.name: None, second.name: with_(merged, inputs=first.inputs)})


LOOKUP_RULES = (_per_channel_conv_as_lookup, _compose_lookups)
"""The rules of this module, for ``rewrites.rewrite``."""
