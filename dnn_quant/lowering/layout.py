"""Concatenation, and the ops that only move codes (one ``Layout`` layer each)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dnn_quant.graph import Node, op_name
from dnn_quant.layers.concat import FloatConcat
from dnn_quant.layers.layout import BUILDERS, FloatLayout
from dnn_quant.lowering.context import Lowering
from dnn_quant.lowering.geometry import pad_folds

# Which constant inputs each op takes, by position, and the attributes it keeps.
_CONST_INPUTS = {
    "Reshape": ["shape"],
    "Transpose": ["perm"],
    "ExpandDims": ["axis"],
    "Pad": ["paddings"],
    "PadV2": ["paddings"],
    "MirrorPad": ["paddings"],
    "StridedSlice": ["begin", "end", "strides"],
    "Slice": ["begin", "size"],
    "Tile": ["multiples"],
    "GatherV2": ["indices", "axis"],
    "ResizeNearestNeighbor": ["size"],
}
_ATTRS = {
    "Squeeze": ["squeeze_dims"],
    "DepthToSpace": ["block_size"],
    "SpaceToDepth": ["block_size"],
    "StridedSlice": ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"],
    "ResizeNearestNeighbor": ["align_corners", "half_pixel_centers"],
    "GatherV2": ["batch_dims"],
    "MirrorPad": ["mode"],
}


def concat_rule(ctx: Lowering, node: Node) -> bool:
    if node.op != "ConcatV2":
        return False
    *inputs, axis_tensor = node.inputs
    axis = int(ctx.graph.constants[axis_tensor])
    rank = len(ctx.graph.shapes[node.out])
    ctx.emit(FloatConcat(node.out, list(inputs), [node.name], axis % rank), [node.name])
    return True


def layout_rule(ctx: Lowering, node: Node) -> bool:
    if node.op in ("Pad", "PadV2") and pad_folds(ctx, node):
        return True  # the convolution or pool after it takes it over
    if node.op in ("Split", "SplitV"):
        return _split(ctx, node)
    op = {"PadV2": "Pad", "MirrorPad": "Pad"}.get(node.op, node.op)
    if op not in BUILDERS or len(ctx.activations(node)) != 1 or ctx.activations(node)[0] != node.inputs[0]:
        return False
    consts = {
        key: np.asarray(ctx.graph.constants[t])
        for key, t in zip(_CONST_INPUTS.get(node.op, []), node.inputs[1:], strict=False)
    }
    attrs: dict[str, Any] = {key: node.attr(key) for key in _ATTRS.get(node.op, [])}
    fill = 0.0
    if node.op == "PadV2":
        fill = float(ctx.graph.constants[node.inputs[2]].reshape(-1)[0])
    if op == "Squeeze":
        attrs = {"axis": [int(a) for a in attrs.pop("squeeze_dims") or []]}
    if op == "GatherV2":
        attrs["axis"] = int(consts.pop("axis"))
    if op == "Reshape":
        attrs["batch_free"] = _batch_free(ctx, node, consts["shape"])
    ctx.emit(FloatLayout(node.out, [node.inputs[0]], [node.name], op, attrs, consts, fill), [node.name])
    return True


def _split(ctx: Lowering, node: Node) -> bool:
    """Each output of a split that something uses becomes a layout layer of its own."""
    if node.op == "Split":
        axis_tensor, x = node.inputs
        count = int(node.attr("num_split"))
        sizes = np.full(
            count, ctx.graph.shapes[x][int(ctx.graph.constants[axis_tensor]) % len(ctx.graph.shapes[x])] // count
        )
    else:
        x, sizes_tensor, axis_tensor = node.inputs
        sizes = ctx.graph.constants[sizes_tensor]
    axis = int(ctx.graph.constants[axis_tensor]) % len(ctx.graph.shapes[x])
    for index in range(len(sizes)):
        out = f"{node.name}:{index}"
        if out in ctx.graph.consumers or out in ctx.graph.outputs:
            attrs = {"axis": axis, "index": index}
            ctx.emit(FloatLayout(out, [x], [node.name], "Split", attrs, {"sizes": np.asarray(sizes)}), [node.name])
    return True


def _batch_free(ctx: Lowering, node: Node, shape: np.ndarray) -> bool:
    """A reshape whose first dimension is the batch of 1 it was built at: any batch goes through."""
    in_shape = ctx.graph.shapes.get(node.inputs[0])
    return bool(len(shape) and int(shape[0]) == 1 and in_shape and in_shape[0] == 1)


__all__ = ["concat_rule", "layout_rule", "op_name"]
