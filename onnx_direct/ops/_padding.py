"""ONNX spatial padding (explicit pads, auto_pad SAME_UPPER / SAME_LOWER / VALID) for channels-last TF ops."""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

from onnx_direct.context import Node, Unsupported


def per_axis(node: Node, name: str, spatial: int, fill: int = 1) -> list[int]:
    """An attribute with one int per spatial axis (strides, dilations), ``fill`` on every axis when absent."""
    return [int(v) for v in node.attr(name, [fill] * spatial)]


def explicit_pads(
    node: Node, in_sizes: Sequence[int | None], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> tuple[list[int], list[int]] | None:
    """(begin, end) pads per spatial axis; None for auto_pad SAME_UPPER on dynamic sizes (TF 'SAME' does it)."""
    spatial = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = [int(p) for p in node.attr("pads", [0] * (2 * spatial))]
        return pads[:spatial], pads[spatial:]
    if auto_pad == "VALID":
        return [0] * spatial, [0] * spatial
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad={auto_pad!r}")
    if any(size is None for size in in_sizes):
        if auto_pad == "SAME_UPPER":
            return None
        raise Unsupported("auto_pad SAME_LOWER needs static spatial sizes; fix them with input_shape")
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations, strict=True):
        out = math.ceil(int(size) / s)  # type: ignore[arg-type]
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - int(size))  # type: ignore[arg-type]
        small = total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else total - small)
        ends.append(total - begins[-1])
    return begins, ends


def spatial_padding(
    node: Node,
    x: tf.Tensor,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pad_value: float = 0.0,
) -> tuple[tf.Tensor, str]:
    """``x`` (channels-last) padded as ONNX says, and the TF padding mode for the op that follows."""
    in_sizes = x.shape.as_list()[1:-1]
    pads = explicit_pads(node, in_sizes, kernel, strides, dilations)
    if pads is None:
        return x, "SAME"
    begins, ends = pads
    if not any(begins) and not any(ends):
        return x, "VALID"
    if any(p < 0 for p in begins + ends):
        raise Unsupported("negative pads")
    paddings = [[0, 0], *([b, e] for b, e in zip(begins, ends, strict=True)), [0, 0]]
    return tf.pad(x, paddings, constant_values=pad_value), "VALID"
