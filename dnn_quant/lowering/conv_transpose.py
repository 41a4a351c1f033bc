"""Transposed convolutions (``Conv2DBackpropInput``), with the crops and zero pads converters put after them
folded into the padding, and the bias, batch norm and clamp after that into the output stage."""

from __future__ import annotations

import numpy as np

from dnn_quant.graph import Node
from dnn_quant.layers.conv_transpose import FloatConvTranspose
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.geometry import explicit_pads, spatial_pads
from dnn_quant.lowering.linear import absorb_following


def conv_transpose_rule(ctx: Lowering, node: Node) -> bool:
    if node.op != "Conv2DBackpropInput":
        return False
    kernel, out_shape = ctx.const(node.inputs[1]), ctx.graph.shapes.get(node.out)
    if kernel is None or out_shape is None:
        return False
    strides, dilations = _hw(node.attr("strides")), _hw(node.attr("dilations"))
    if node.attr("data_format") not in (None, "", "NHWC") or dilations != [1, 1]:
        reason = f"data_format {node.attr('data_format')}, dilations {dilations}: only NHWC without dilation"
        ctx.unsupported.append((node.op, node.name, reason))
        return True
    x = node.inputs[2]
    out_h, out_w = out_shape[1:3]  # input_sizes, known even where it is computed from the batch
    kh, kw = kernel.shape[:2]
    # The forward convolution whose gradient this is maps [out_h, out_w] to x with these pads ...
    top, _, left, _ = explicit_pads(node, [1, out_h, out_w, 1], [kh, kw], strides, [1, 1])
    # ... so output row o reads rows o + top - k of the zero-inserted x: a correlation with the flipped kernel
    # over that input padded by kh - 1 - top (and what makes out_h rows below).
    height, width = ctx.graph.shapes[x][1:3]
    pads = [
        kh - 1 - top,
        out_h + top - (height - 1) * strides[0] - 1,
        kw - 1 - left,
        out_w + left - (width - 1) * strides[1] - 1,
    ]
    weights = kernel.astype(np.float64)[::-1, ::-1].transpose(0, 1, 3, 2)  # [kh, kw, out, in] -> flipped HWIO
    channels = weights.shape[-1]
    layer = FloatConvTranspose(node.out, [x], [node.name], weights, np.zeros(channels), pads=pads, upsample=strides)
    while (consumer := ctx.single_consumer(layer.name)) is not None and _reframe(ctx, layer, consumer):
        layer.ops.append(consumer.name)
        layer.name = consumer.out
    absorb_following(ctx, layer)
    ctx.emit(layer, layer.ops)
    return True


def output_size_rule(ctx: Lowering, node: Node) -> bool:
    """The integer ops that compute a transposed convolution's ``input_sizes`` from the batch at run time
    (``Shape`` -> ``StridedSlice`` -> ``Pack``): the layer knows its output size, they compute nothing."""
    return _only_output_size(ctx, node.out)


def _only_output_size(ctx: Lowering, tensor: str) -> bool:
    users = ctx.graph.consumers.get(tensor, [])
    dtype = ctx.graph.dtypes.get(tensor)
    if not users or tensor in ctx.graph.outputs or dtype is None or not dtype.is_integer:
        return False
    for name in users:
        user = ctx.graph.nodes[name]
        if user.op == "Conv2DBackpropInput" and user.inputs.index(tensor) == 0:
            continue
        if not _only_output_size(ctx, user.out):
            return False
    return True


def _reframe(ctx: Lowering, layer: FloatConvTranspose, node: Node) -> bool:
    """A zero pad or a crop of H and W: more or fewer rows of padding on the zero-inserted input."""
    if node.op in ("Pad", "PadV2"):
        grow = spatial_pads(ctx, node, fill=0.0)
        if grow is None:
            return False
        layer.pads = [p + g for p, g in zip(layer.pads, grow, strict=True)]
        return True
    shape = ctx.graph.shapes.get(layer.name)
    crop = _crop(ctx, node, shape) if node.op == "StridedSlice" and shape is not None else None
    if crop is None:
        return False
    layer.pads = [p - c for p, c in zip(layer.pads, crop, strict=True)]
    return True


def _crop(ctx: Lowering, node: Node, shape: tuple[int, ...]) -> list[int] | None:
    """(top, bottom, left, right) a unit-stride ``StridedSlice`` cuts off an NHWC tensor, if that is all it does."""
    begin, end, strides = (ctx.const(t) for t in node.inputs[1:4])
    masks = [int(node.attr(k) or 0) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask")]
    if begin is None or end is None or strides is None or len(shape) != 4 or len(begin) != 4:
        return None
    if np.any(strides != 1) or masks[2] or masks[3] or int(node.attr("shrink_axis_mask") or 0):
        return None
    kept = []
    for axis, size in enumerate(shape):
        start = None if masks[0] >> axis & 1 else int(begin[axis])
        stop = None if masks[1] >> axis & 1 else int(end[axis])
        first, last, _ = slice(start, stop).indices(size)
        kept.append((first, max(last, first)))
    if kept[0] != (0, shape[0]) or kept[3] != (0, shape[3]):
        return None
    (top, bottom), (left, right) = kept[1], kept[2]
    return [top, shape[1] - bottom, left, shape[2] - right]


def _hw(values: object) -> list[int]:
    listed = [int(v) for v in values] if isinstance(values, list) else [1, 1, 1, 1]
    return listed[1:3]
