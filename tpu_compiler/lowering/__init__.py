"""Lowering rules, one module per layer family: ``RULES[kind](ctx, layer)`` emits the layer's instructions.

Every rule reads its inputs from DDR or from the cache (tensors the memory plan keeps there) and writes its
output likewise, slicing what does not fit the cache.  Adding a layer kind means adding a rule here.
"""

from __future__ import annotations

from collections.abc import Callable

from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.conv import lower_conv
from tpu_compiler.lowering.conv_transpose import lower_conv_transpose, lower_zero_insert
from tpu_compiler.lowering.eltwise import lower_add, lower_lut, lower_mul
from tpu_compiler.lowering.layer_norm import lower_layer_norm
from tpu_compiler.lowering.layout import lower_concat, lower_layout
from tpu_compiler.lowering.matmul import lower_matmul
from tpu_compiler.lowering.pool import lower_pool
from tpu_compiler.lowering.prelu import lower_prelu
from tpu_compiler.lowering.resize import lower_resize_bilinear
from tpu_compiler.lowering.row_lut import lower_row_lut
from tpu_compiler.lowering.softmax import lower_softmax
from tpu_compiler.lowering.stem import lower_stem, reads_planar_input
from tpu_compiler.network import Layer

Rule = Callable[[Context, Layer], None]


def lower_convolution(ctx: Context, layer: Layer) -> None:
    """A stem on a planar network input (``stem.py``); any other convolution or dense layer (``conv.py``)."""
    if reads_planar_input(layer):
        lower_stem(ctx, layer)
    else:
        lower_conv(ctx, layer)


RULES: dict[str, Rule] = {
    "conv": lower_convolution,
    "add": lower_add,
    "mul": lower_mul,
    "lut": lower_lut,
    "row_lut": lower_row_lut,
    "concat": lower_concat,
    "max_pool": lower_pool,
    "avg_pool": lower_pool,
    "layout": lower_layout,
    "softmax": lower_softmax,
    "prelu": lower_prelu,
    "conv_transpose": lower_conv_transpose,
    "zero_insert": lower_zero_insert,
    "resize_bilinear": lower_resize_bilinear,
    "matmul": lower_matmul,
    "layer_norm": lower_layer_norm,
}
