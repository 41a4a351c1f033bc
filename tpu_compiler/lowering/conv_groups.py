"""Convolutions of few channels computed several output pixels per accumulator row ("pixel groups").

A convolution with ``C_out <= cwl / 2`` output channels fills ``C_out`` of the array's columns per GEMM row.
Here an accumulator row holds ``q`` neighbouring output pixels of an output row (``M = q * C_out``), and a
GEMM row is a word holding ``p`` neighbouring input pixels (``K = p * C_in``), written for the whole band by
one PACK that also supplies the padding (read straight from a kept input).  Word ``t`` of kernel row ``ky``
(relative to the group's first) has the tile mapping input pixel ``a`` of the word and output ``i`` of the
group to the tap ``kx`` with ``kx * dx = p * t + a - i * sx`` (zero where there is none).  Each kernel row
then costs ``T`` GEMMs of ``N / q`` rows: a 3x3 convolution of 64 to 64 channels takes ``3N`` array cycles
instead of ``6N`` (two taps packed per word) or ``9N``.  The output stage writes a group's ``q`` pixels into
one word; ``q`` MOVEs spread them to the output's pixel words.  A lookup fused into the convolution
(``lowering/epilogue.py``) is applied to those group words before they are spread, ``q`` pixels per word, and
the spread words are the lookup's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.isa import Drain, Gemm, Move, Pack, Pattern, Unit
from pytpu.isa.layouts import pack_output_stage, weight_tile_words
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import even_bands, fit_rows
from tpu_compiler.lowering.conv_weights import Chunk, OutTile, full_weights, load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.lowering.window import Geometry
from tpu_compiler.network import Layer


@dataclass(frozen=True)
class Grouping:
    """How a convolution groups pixels: ``p`` input pixels per GEMM row word, ``q`` outputs per accumulator row."""

    p: int
    q: int
    words: int
    """``T``: words of a packed input row each kernel row reads per accumulator row."""
    groups: int
    """``R``: accumulator rows per output row, ``ceil(ow / q)``."""
    step: int
    """Words from one accumulator row's first word to the next's, ``q * sx / p``."""

    @property
    def width(self) -> int:
        """Words of a packed input row."""
        return (self.groups - 1) * self.step + self.words


def _grouping(g: Geometry, p: int, q: int) -> Grouping:
    reach = (q - 1) * g.sx + (g.kw - 1) * g.dx  # the last input pixel a group reads, from its first
    return Grouping(p, q, reach // p + 1, -(-g.ow // q), q * g.sx // p)


def plan_grouping(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, direct_cost: float) -> Grouping | None:
    """The cheapest grouping, if it costs less than ``direct_cost`` (array cycles plus the weights' DDR cycles).

    Only for convolutions whose input and output pixels fit one word and whose output fills at most half of
    the array's columns; ``p`` divides ``q * sx`` so that every group starts on a word of the packed rows."""
    c_in, c_out = x.tensor.channels, y.tensor.channels
    rows_k, cols_m = min(ctx.lim.array_rows, ctx.cwl), min(ctx.lim.array_columns, ctx.cwl)
    if x.wpp != 1 or y.wpp != 1 or 2 * c_out > cols_m or (ctx.scheme is not None and layer.name in ctx.scheme):
        return None
    ddr_rate = ctx.hw.ddr.bytes_per_cycle * len(ctx.constant_lanes)
    best, best_cost = None, direct_cost
    for q in range(2, min(cols_m // c_out, g.ow) + 1):
        for p in range(1, rows_k // c_in + 1):
            if (q * g.sx) % p:
                continue
            plan = _grouping(g, p, q)
            if plan.groups > min(ctx.lim.max_rows, ctx.lim.acc_rows // 2):
                continue
            rows = len(g.samples) * g.oh * plan.groups
            tile_bytes = weight_tile_words(p * c_in, q * c_out, ctx.cwl) * ctx.cwl
            cost = g.kh * plan.words * (rows + tile_bytes / ddr_rate)
            if cost < best_cost:
                best, best_cost = plan, cost
    return best


def _tile(ctx: Context, layer: Layer, g: Geometry, plan: Grouping, c_in: int, c_out: int) -> OutTile:
    """The one output tile: a chunk per (kernel row, word), and the output stage repeated for the q outputs."""
    full, _ = full_weights(layer, c_in)
    chunks, zero = [], None
    for ky in range(g.kh):
        for t in range(plan.words):
            tile = np.zeros((plan.p * c_in, plan.q * c_out), dtype=np.int8)
            for a in range(plan.p):
                for i in range(plan.q):
                    offset = plan.p * t + a - i * g.sx
                    if offset % g.dx == 0 and 0 <= offset // g.dx < g.kw:
                        tile[a * c_in : (a + 1) * c_in, i * c_out : (i + 1) * c_out] = full[ky, offset // g.dx]
            if tile.any():
                chunks.append(Chunk(ky, t, 0, 0, tile))
            elif zero is None:
                zero = Chunk(ky, t, 0, 0, tile)
    if not chunks and zero is not None:  # all-zero weights: one GEMM still clears the accumulator rows
        chunks.append(zero)
    bias, mult, shift = (np.tile(np.asarray(layer.arrays[k]), plan.q) for k in ("bias", "mult", "shift"))
    return OutTile(0, c_out, chunks, pack_output_stage(bias, mult, shift, ctx.cwl), [])


def lower_grouped(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, plan: Grouping) -> None:
    c_in, c_out = x.tensor.channels, y.tensor.channels
    tile = _tile(ctx, layer, g, plan, c_in, c_out)
    arena = ctx.arena(layer.name)
    epilogue.fuse(ctx, layer, arena, kept=True)  # looked up on the group words: q pixels per lookup
    dest = epilogue.output(ctx, layer.name)  # the map the spread words go to
    budget = ctx.ring_limit[layer.name] if ctx.ring is not None else arena.free // 2
    group = weight_groups([tile], ctx.cwl, budget, layer.name)[0]
    load_constants(ctx, arena, group)
    input_kept = all(ctx.kept_block(x, range(s, s + 1)) for s in g.samples)
    output_kept = ctx.kept_block(dest)

    def band_words(rows: int) -> int:
        inputs = 0 if input_kept else min(g.in_rows(rows), g.h) * g.w
        outputs = 0 if output_kept else rows * g.ow
        return inputs + g.in_rows(rows) * plan.width + rows * plan.groups + outputs

    row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
    per_band, copies = fit_rows(g.oh, band_words, arena.free, row_limit, layer.name, "pixel groups", ctx.me_copies)
    if copies > 1:  # at least spatial_limit bands, so the next layer starts on the first
        per_band = min(per_band, max(-(-g.oh // ctx.spatial_limit), -(-ctx.lim.array_rows // plan.groups)))
    bands = even_bands(g.oh, per_band)
    per_band = max(len(b) for b in bands)
    slots = [
        (
            arena.alloc(0 if input_kept else min(g.in_rows(per_band), g.h) * g.w, "input band"),
            arena.alloc(g.in_rows(per_band) * plan.width, "packed rows"),
            arena.alloc(per_band * plan.groups, "pixel groups"),
            arena.alloc(0 if output_kept else per_band * g.ow, "output band"),
        )
        for _ in range(copies)
    ]
    steps = [(s, band) for s in g.samples for band in bands]
    me = MeStream(ctx)
    pad_code = int(layer.get("pad_code", 0))
    zo, lo, hi = y.tensor.zero_point, int(layer.get("lo", -128)), int(layer.get("hi", 127))

    def load(index: int) -> int:
        """The band's packed rows: its input rows (padding included), ``p`` pixels per word."""
        sample, band = steps[index]
        in_buf, packed, _, _ = slots[index % copies]
        iy0 = band.start * g.sy - g.top
        rows = g.in_rows(len(band))
        ry0, ry1 = max(iy0, 0), min(iy0 + rows, g.h)
        if ry1 <= ry0:  # the band reads padding only
            ctx.fill(Pattern.contiguous(packed, rows * plan.width), pad_code)
            return packed
        kept = ctx.cached(x, x.at(sample))
        if kept is not None and input_kept:
            src, h, top = kept, g.h, -iy0
        else:
            ctx.load(x, x.at(sample, ry0 * g.w), Pattern.contiguous(in_buf, (ry1 - ry0) * g.w))
            src, h, top = in_buf, ry1 - ry0, ry0 - iy0
        pack = Pack(
            dst=Pattern.contiguous(packed, rows * plan.width),
            dst_off=0,
            src=src,
            h=h,
            w=g.w,
            row=g.w,
            pix=1,
            oh=rows,
            ow=plan.width,
            sy=1,
            sx=plan.p,
            py=top,
            px=g.left,
            kh=1,
            kw=plan.p,
            dy=1,
            dx=1,
            src_off=0,
            len=c_in,
            fill=pad_code,
        )
        ctx.emit(Unit.EWP, pack)
        return packed

    def work(index: int, packed: int) -> None:
        sample, band = steps[index]
        _, _, grouped, out_buf = slots[index % copies]
        rows = len(band)
        acc = me.next_block()
        for i, (chunk, addr) in enumerate(zip(group[0].chunks, group[0].addr, strict=True)):
            k, m = chunk.tile.shape
            buf = me.loadw(addr, k, m)
            base = packed + chunk.ky * g.dy * plan.width + chunk.kx
            xs = Pattern(base, ((rows, g.sy * plan.width), (plan.groups, plan.step)))
            ctx.emit(Unit.ME, Gemm(buf=buf, x=xs, off=0, k=k, m=m, acc=acc, accumulate=int(i > 0)))
        n = rows * plan.groups
        me.pending = Drain(
            acc=acc, m=plan.q * c_out, params=group[0].params_addr, zo=zo, lo=lo, hi=hi,
            dst=Pattern.contiguous(grouped, n), off=0,
        )  # fmt: skip
        if index + 1 < len(steps):
            first = group[0].chunks[0].tile
            me.preload(group[0].addr[0], *first.shape)
            me.flush()
        else:  # the layer's last: after the next layer's first LOADW
            ctx.defer_drain(me.pending)
            me.pending = None
        epilogue.look_up(ctx, layer.name, Pattern.contiguous(grouped, n), plan.q * c_out)
        ddr = dest.at(sample, band.start * g.ow)
        out = ctx.cached(dest, ddr) if output_kept else out_buf
        assert out is not None
        for i in range(plan.q):  # output i of every group to its pixel word
            count = -(-(g.ow - i) // plan.q)
            dst = Pattern(out + i, ((rows, g.ow), (count, plan.q)))
            src = Pattern(grouped, ((rows, plan.groups), (count, 1)))
            ctx.emit(Unit.EWP, Move(dst=dst, src=src, src_off=i * c_out, dst_off=0, len=c_out))
        ctx.store(dest, ddr, Pattern.contiguous(out, rows * g.ow))

    pipeline(len(steps), copies, load, work)
