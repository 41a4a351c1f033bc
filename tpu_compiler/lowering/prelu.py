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
    step = 0
    for sample in ctx.samples:
        for p0 in range(0, pixels, per):
            n = min(per, pixels - p0)
            in_at, out_at = slots[step % copies]
            step += 1
            held = ctx.cached(x, x.at(sample, p0 * x.wpp))  # tensors kept in the cache are read where they are
            if held is None:
                ctx.load(x, x.at(sample, p0 * x.wpp), Pattern.contiguous(in_at, n * x.wpp))
            else:
                in_at = held
            kept = ctx.cached(y, y.at(sample, p0 * y.wpp))
            out_at = out_at if kept is None else kept
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
            ctx.store(y, y.at(sample, p0 * y.wpp), Pattern.contiguous(out_at, n * y.wpp))
