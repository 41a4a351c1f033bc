"""PReLU on the EWP's PRELU instruction: one multiplier where the input is at least its zero point, one per
channel below it (the negative multipliers, one lane block per word of a pixel).

Chunks of pixels are loaded (or read in place when the input is kept in the cache), one PRELU per word of
the pixel walks the chunk's pixels with the pixel stride, and the chunk is stored.
"""

from __future__ import annotations

import numpy as np

from pytpu.isa import Pattern, PRelu, Unit
from pytpu.isa.layouts import pack_lane_mults
from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.bands import fit_rows
from tpu_compiler.lowering.streaming import stream_pixels
from tpu_compiler.network import Layer


def lower_prelu(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    cwl, channels = ctx.cwl, y.tensor.channels
    negative = np.broadcast_to(np.asarray(layer.arrays["negative"], dtype=np.int64).reshape(-1), (channels,))
    arena = ctx.arena(layer.name)
    tables = [
        ctx.load_constant(arena, pack_lane_mults(negative[w * cwl : (w + 1) * cwl], cwl), "negative multipliers")
        for w in range(y.wpp)
    ]
    pixels = y.tensor.positions
    words = x.wpp + y.wpp
    per, copies = fit_rows(pixels, lambda n: n * words, arena.free, pixels, layer.name, "pixels", ctx.ewp_copies)
    slots = [(arena.alloc(per * x.wpp, "input"), arena.alloc(per * y.wpp, "output")) for _ in range(copies)]

    def emit(in_at: int, out_at: int, first: int, n: int) -> None:
        for w, table in enumerate(tables):
            ctx.emit(
                Unit.EWP,
                PRelu(
                    dst=Pattern(out_at + w, ((n, y.wpp),)),
                    a=Pattern(in_at + w, ((n, x.wpp),)),
                    za=int(layer.get("in_zero_point", 0)),
                    pos=int(layer.get("positive")),
                    neg=table,
                    shift=int(layer.get("shift")),
                    zo=y.tensor.zero_point,
                    lo=-128,
                    hi=127,
                    off=0,
                    len=min(cwl, channels - w * cwl),
                ),
            )

    stream_pixels(ctx, x, y, per, slots, emit)
