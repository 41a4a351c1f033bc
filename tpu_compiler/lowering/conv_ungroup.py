"""A 1x1 convolution reading a map left in pixel groups (``Buffer.group``) and writing a word per pixel.

The map holds ``p`` pixels per word (``C_in`` lanes each).  Pixel slot ``j`` of every group is lanes
``j * C_in ..`` of its word, which a GEMM reads with its lane offset, so the direct form's weight tiles serve
all ``p`` slots: slot ``j``'s GEMM runs over the groups holding a pixel ``j`` and its DRAIN writes every
``p``-th output pixel word from ``j``.  The array does the same rows as on the map a word per pixel, and
the map's producer spreads nothing (MobileNetV2's 112x112x16 projection, read by the 96-channel expansion).
"""

from __future__ import annotations

from pytpu.isa import Drain, Gemm, Pattern, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.slicing import Segment
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import even_bands, fit_rows
from tpu_compiler.lowering.conv_weights import OutTile, load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream, drain_stage
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.network import Layer


def lower_ungroup(ctx: Context, layer: Layer, x: Buffer, y: Buffer, tiles: list[OutTile]) -> None:
    """Emit the 1x1 convolution ``layer`` of ``x`` (left in groups of ``p`` pixels) into ``y`` (a word per
    pixel, ``y.wpp`` words when wider), band by band of output rows, a weight group of ``tiles`` (the direct
    form's: their chunks read lanes of one pixel's word) at a time."""
    h, groups = y.tensor.shape[1], x.row_words
    arena = ctx.arena(layer.name)
    epilogue.fuse(ctx, layer, arena)
    budget = ctx.ring_limit[layer.name] if ctx.ring is not None else arena.free // 2
    kept = all(ctx.kept_block(x, range(s, s + 1)) for s in ctx.samples), ctx.kept_block(y)
    row_words = y.tensor.shape[2] * y.wpp

    def band_words(rows: int) -> int:
        return (0 if kept[0] else rows * groups) + (0 if kept[1] else rows * row_words)

    row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // groups
    for group in weight_groups(tiles, ctx.cwl, budget, layer.name):
        mark = arena.top
        load_constants(ctx, arena, group)
        per_band, copies = fit_rows(h, band_words, arena.free, row_limit, layer.name, "pixel groups", ctx.me_copies)
        if copies > 1:
            per_band = min(per_band, max(-(-h // ctx.spatial_limit), -(-ctx.lim.array_rows // groups)))
        slots = [
            (
                arena.alloc(0 if kept[0] else per_band * groups, "input band"),
                arena.alloc(0 if kept[1] else per_band * row_words, "output band"),
            )
            for _ in range(copies)
        ]
        steps = [(s, band) for s in ctx.samples for band in even_bands(h, per_band)]
        _emit_group(ctx, layer, (x, y), group, steps, slots, kept[0])
        arena.top = mark


def _emit_group(
    ctx: Context,
    layer: Layer,
    io: tuple[Buffer, Buffer],
    group: list[OutTile],
    steps: list[tuple[int, Segment]],
    slots: list[tuple[int, int]],
    input_kept: bool,
) -> None:
    """``group``'s tiles over every (sample, band) step, its input and output bands in ``slots`` used in turn
    (an input kept in the cache is read there, an output kept there is drained there)."""
    x, y = io
    p, c_in, w = x.group, x.tensor.channels, y.tensor.shape[2]
    groups, row_words = x.row_words, w * y.wpp
    counts = [-(-(w - j) // p) for j in range(min(p, w))]  # groups holding a pixel j
    zo, lo, hi = drain_stage(layer, y)
    w0, w1 = group[0].o0 // ctx.cwl, (group[-1].o1 - 1) // ctx.cwl + 1
    me = MeStream(ctx)

    def load(index: int) -> int:
        sample, band = steps[index]
        ddr = x.at(sample, band.start * groups)
        at = ctx.cached(x, ddr) if input_kept else None
        if at is not None:
            return at
        words = Pattern.contiguous(slots[index % len(slots)][0], len(band) * groups)
        ctx.load(x, ddr, words)
        return words.base

    def work(index: int, src: int) -> None:
        sample, band = steps[index]
        rows = len(band)
        ddr = y.at(sample, band.start * row_words)
        out = ctx.cached(y, ddr)
        out = slots[index % len(slots)][1] if out is None else out
        for tile in group:
            for j, count in enumerate(counts):
                acc = me.next_block()
                xs = Pattern(src, ((rows, groups), (count, 1)))
                for i, (chunk, addr) in enumerate(zip(tile.chunks, tile.addr, strict=True)):
                    k, m = chunk.tile.shape
                    buf = me.loadw(addr, k, m)
                    off = j * c_in + chunk.off
                    ctx.emit(Unit.ME, Gemm(buf=buf, x=xs, off=off, k=k, m=m, acc=acc, accumulate=int(i > 0)))
                dst = Pattern(out + j * y.wpp + tile.o0 // ctx.cwl, ((rows, row_words), (count, p * y.wpp)))
                me.pending = Drain(
                    acc=acc, m=tile.o1 - tile.o0, params=tile.params_addr, zo=zo, lo=lo, hi=hi, dst=dst,
                    off=y.lane + tile.o0 % ctx.cwl,
                )  # fmt: skip
        if index + 1 < len(steps):
            me.preload(group[0].addr[0], *group[0].chunks[0].tile.shape)
            me.flush()
        elif me.pending is not None:
            ctx.defer_drain(me.pending)
            me.pending = None
        if (w0, w1) == (0, y.wpp):
            epilogue.store_band(ctx, layer.name, y, ddr, Pattern.contiguous(out, rows * row_words))
        else:  # only this group's words of each pixel
            words = ((rows * w, y.wpp), (w1 - w0, 1))
            epilogue.store_band(ctx, layer.name, y, Pattern(ddr + w0, words), Pattern(out + w0, words))

    pipeline(len(steps), len(slots), load, work)
