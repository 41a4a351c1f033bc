"""Layer normalisation on the EWP's LAYERNORM instruction.

The normalised axis is the last one, so every stored pixel (``ceil(C/cwl)`` words, the last one partly used)
is one group: chunks of pixels are loaded (or read in place when kept in the cache), normalised by one
LAYERNORM, and stored.  The reciprocal square root table and the per-channel block (bias, multiplier,
shift) are constants loaded once per layer.
"""

from __future__ import annotations

from pytpu.errors import CompilationError
from pytpu.isa import LayerNorm, Pattern, Unit
from pytpu.isa.layouts import pack_norm_params, pack_table32
from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.bands import fit_rows
from tpu_compiler.lowering.streaming import stream_pixels
from tpu_compiler.network import Layer


def lower_layer_norm(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    cwl, channels = ctx.cwl, x.tensor.channels
    if int(layer.get("channels", channels)) != channels:
        raise CompilationError(
            f"layer {layer.name!r}: normalises {layer.get('channels')} channels, its input has {channels}"
        )
    arena = ctx.arena(layer.name)
    table = ctx.load_constant(arena, pack_table32(layer.arrays["table"], cwl), "reciprocal square root table")
    block = pack_norm_params(layer.arrays["bias"], layer.arrays["mult"], layer.arrays["shift"], cwl)
    params = ctx.load_constant(arena, block, "per-channel parameters")
    pixels, wpp = x.tensor.positions, x.wpp
    per, copies = fit_rows(pixels, lambda n: 2 * n * wpp, arena.free, pixels, layer.name, "rows", ctx.ewp_copies)
    slots = [(arena.alloc(per * wpp, "input rows"), arena.alloc(per * wpp, "output rows")) for _ in range(copies)]

    def emit(in_at: int, out_at: int, first: int, n: int) -> None:
        ctx.emit(
            Unit.EWP,
            LayerNorm(
                dst=Pattern.contiguous(out_at, n * wpp),
                src=Pattern.contiguous(in_at, n * wpp),
                words=wpp,
                last=channels - (wpp - 1) * cwl,
                eps=int(layer.get("eps_code", 0)),
                table=table,
                params=params,
                zo=y.tensor.zero_point,
            ),
        )

    stream_pixels(ctx, x, y, per, slots, emit)
