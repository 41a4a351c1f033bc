"""DepthToSpace and SpaceToDepth (DCR and CRD orderings) on channels-last data."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.ops import converter


def _crd_to_dcr(channels: int, block: int) -> np.ndarray:
    """Channel order that turns CRD-ordered depth (c, i, j) into TF's DCR order (i, j, c)."""
    per_block = channels // (block * block)
    return np.array([c * block * block + q for q in range(block * block) for c in range(per_block)], np.int64)


def _checked_input(node: Node) -> tuple[tf.Tensor, int, str]:
    if node.rank(0) != 4:
        raise Unsupported(f"{node.op_type} of a rank-{node.rank(0)} tensor")
    mode = str(node.attr("mode", "DCR")).upper()
    if mode not in ("DCR", "CRD"):
        raise Unsupported(f"mode={mode!r}")
    return node.channels_last(0), int(node.attr("blocksize")), mode


@converter("DepthToSpace", since=1)
def depth_to_space(node: Node) -> Value:
    x, block, mode = _checked_input(node)
    if mode == "CRD":
        # TF reads depth as (row, column, channel): reorder the channels first.
        channels = node.static_shape(0)[1]
        x = tf.gather(x, _crd_to_dcr(channels, block), axis=3)
    return Value(tf.nn.depth_to_space(x, block), layout.channels_last(4))


@converter("SpaceToDepth", since=1)
def space_to_depth(node: Node) -> Value:
    x, block, mode = _checked_input(node)
    y = tf.nn.space_to_depth(x, block)
    if mode == "CRD":
        channels = node.static_shape(0)[1] * block * block
        y = tf.gather(y, np.argsort(_crd_to_dcr(channels, block)), axis=3)
    return Value(y, layout.channels_last(4))
