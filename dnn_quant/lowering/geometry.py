"""Padding arithmetic: TF's SAME/VALID/EXPLICIT as explicit (top, bottom, left, right), and Pads that fold away."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dnn_quant.graph import Node

if TYPE_CHECKING:
    from dnn_quant.lowering.context import Lowering

# Consumers a Pad folds into, and the fill value each needs: zero for sums, -inf for maxima.
_FOLDS_INTO = {"Conv2D": 0.0, "DepthwiseConv2dNative": 0.0, "MaxPool": -math.inf}


def explicit_pads(
    node: Node, in_shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> list[int]:
    padding = node.attr("padding")
    if padding == "EXPLICIT":
        listed = [int(v) for v in node.attr("explicit_paddings") or []]
        return listed[2:6]
    if padding != "SAME":
        return [0, 0, 0, 0]
    pads: list[int] = []
    for axis in range(2):
        size, effective = in_shape[1 + axis], (kernel[axis] - 1) * dilations[axis] + 1
        total = max((math.ceil(size / strides[axis]) - 1) * strides[axis] + effective - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


def spatial_pads(ctx: Lowering, pad: Node, fill: float) -> list[int] | None:
    """``pad``'s (top, bottom, left, right) if it pads only H and W of an NHWC tensor with ``fill``."""
    paddings = ctx.const(pad.inputs[1])
    if paddings is None or paddings.shape != (4, 2) or paddings[0].any() or paddings[3].any():
        return None
    if pad.attr("mode") not in (None, "", "CONSTANT"):
        return None
    value = 0.0 if pad.op == "Pad" else ctx.const(pad.inputs[2])
    if value is None:
        return None
    given = float(np.asarray(value).reshape(-1)[0])
    if given != fill and not (math.isinf(fill) and given <= -1e30):  # the lowest float32 stands in for -inf
        return None
    return [int(v) for v in paddings[1:3].reshape(-1)]


def pad_folds(ctx: Lowering, pad: Node) -> bool:
    """Whether the (only) consumer of ``pad`` will take it over as its own padding."""
    if pad.op not in ("Pad", "PadV2"):
        return False
    consumer = ctx.single_consumer(pad.out)
    if consumer is None or consumer.op not in _FOLDS_INTO or consumer.inputs[0] != pad.out:
        return False
    return spatial_pads(ctx, pad, _FOLDS_INTO[consumer.op]) is not None
