"""Transposed convolutions: zero insertion (a gather) followed by the ordinary convolution.

``compiler.rewrites`` turns a ``conv_transpose`` layer into a ``zero_insert`` layer, which writes the input
with ``factor - 1`` copies of the fill code (the input zero point) between neighbouring pixels and crops the
rows and columns the layer's negative pads remove, and a ``conv`` of stride 1 over it whose padding is the
positive pads (filled with the same zero point) and whose weights, bias and output stage are the layer's.
That is the definition of the layer (docs/integer_arithmetic.md), so the result is bit exact; the
convolution itself is ``lowering.conv``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pytpu.errors import CompilationError
from tpu_compiler.compiler.context import Context
from tpu_compiler.layout_ops import FILL
from tpu_compiler.lowering.layout import gather_layer
from tpu_compiler.network import Layer


def zero_insert_map(shape: tuple[int, ...], factors: Sequence[int], crop: Sequence[int]) -> np.ndarray:
    """Gather map of a zero insertion of an NHWC sample: the input element each output element copies, or
    ``FILL`` for the inserted positions."""
    n, h, w, c = shape
    sy, sx = (int(f) for f in factors)
    top, bottom, left, right = (int(v) for v in crop)
    index = np.arange(n * h * w * c, dtype=np.int64).reshape(n, h, w, c)
    out = np.full((n, (h - 1) * sy + 1, (w - 1) * sx + 1, c), FILL, dtype=np.int64)
    out[:, ::sy, ::sx] = index
    return np.ascontiguousarray(out[:, top : out.shape[1] - bottom, left : out.shape[2] - right])


def lower_zero_insert(ctx: Context, layer: Layer) -> None:
    x = ctx.buffers[layer.inputs[0]]
    mapping = zero_insert_map(x.tensor.shape, layer.get("factors"), layer.get("crop"))
    gather_layer(ctx, layer.name, [x], mapping, int(layer.get("fill")))


def lower_conv_transpose(ctx: Context, layer: Layer) -> None:
    raise CompilationError(
        f"layer {layer.name!r}: a conv_transpose is lowered as the zero insertion and convolution the compiler's "
        "rewrites make of it (compiler.rewrites), not on its own"
    )
