"""A lookup with one table per row (axis 1) of its map (``row_lut``, made by ``compiler/lookups.py``).

The per-channel lookup of an NCHW map: a row there is one channel's plane, its codes packed ``cwl`` to a
word, so each row is one ``LUT`` with that row's table.  Chunks of whole rows are loaded (or read in
place where the map is kept in the cache), looked up and stored.
"""

from __future__ import annotations

import numpy as np

from pytpu.isa import Lut, Pattern, Unit
from pytpu.isa.layouts import pack_lut
from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.bands import fit_rows
from tpu_compiler.lowering.streaming import stream_pixels
from tpu_compiler.network import Layer


def lower_row_lut(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    tables = np.asarray(layer.arrays["table"]).reshape(-1, 256)
    rows = y.tensor.shape[1]
    arena = ctx.arena(layer.name)
    at = [ctx.load_constant(arena, pack_lut(table, ctx.cwl), "lookup table") for table in tables]
    row_pixels = y.tensor.positions // rows
    row_words = row_pixels * y.wpp
    lanes = y.tensor.channels if y.wpp == 1 else ctx.cwl
    per, copies = fit_rows(rows, lambda n: 2 * n * row_words, arena.free, rows, layer.name, "rows", ctx.ewp_copies)
    words = per * row_words
    slots = [(arena.alloc(words, "input rows"), arena.alloc(words, "output rows")) for _ in range(copies)]

    def emit(in_at: int, out_at: int, first: int, pixels: int) -> None:
        for i in range(pixels // row_pixels):
            row = first // row_pixels + i
            dst, src = (Pattern.contiguous(a + i * row_words, row_words) for a in (out_at, in_at))
            ctx.emit(Unit.EWP, Lut(dst=dst, a=src, table=at[row], off=0, len=lanes))

    stream_pixels(ctx, x, y, per * row_pixels, slots, emit)
