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

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pytpu.isa import Drain, Fill, Gemm, Move, Pack, Pattern, Unit
from pytpu.isa.fields import Limits
from pytpu.isa.layouts import pack_output_stage, weight_tile_words
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.patterns import walk
from tpu_compiler.compiler.slicing import Segment
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import even_bands, fit_rows
from tpu_compiler.lowering.conv_weights import Chunk, OutTile, full_weights, load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream, drain_stage
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


def candidates(g: Geometry, c_in: int, c_out: int, lim: Limits, p: int | None = None) -> Iterator[Grouping]:
    """Every feasible grouping of a convolution from ``c_in`` to ``c_out`` channels (``p``: only that many input
    pixels per word): ``q >= 2`` outputs of ``c_out`` channels in the array's columns, ``p`` inputs of ``c_in``
    in its rows, ``p`` dividing ``q * sx`` so that every group starts on a word of the packed rows, and an
    output row's accumulator rows within the accumulators' half."""
    rows_k, cols_m = min(lim.array_rows, lim.cwl), min(lim.array_columns, lim.cwl)
    inputs = range(1, rows_k // c_in + 1) if p is None else [p] if p * c_in <= rows_k else []
    for q in range(2, min(cols_m // c_out, g.ow) + 1):
        for pixels in inputs:
            if (q * g.sx) % pixels:
                continue
            plan = _grouping(g, pixels, q)
            if plan.groups <= min(lim.max_rows, lim.acc_rows // 2):
                yield plan


def plan_grouping(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, direct_cost: float) -> Grouping | None:
    """The cheapest grouping, if it costs less than ``direct_cost`` (array cycles plus the weights' DDR cycles).

    Only for convolutions whose input and output pixels fit one word and whose output fills at most half of
    the array's columns.  An input left in pixel groups of ``p`` (``Buffer.group``) is always read ``p`` pixels
    per word, whatever the direct form would cost, and an output left in pixel groups of ``q`` is made ``q``
    outputs per accumulator row."""
    c_in, c_out = x.tensor.channels, y.tensor.channels
    if x.wpp != 1 or y.wpp != 1 or 2 * c_out > min(ctx.lim.array_columns, ctx.cwl):
        return None
    if ctx.scheme is not None and layer.name in ctx.scheme:
        return None
    ddr_rate = ctx.hw.ddr.bytes_per_cycle * len(ctx.constant_lanes)
    best, best_cost = None, math.inf if x.group > 1 or y.group > 1 else direct_cost
    for plan in candidates(g, c_in, c_out, ctx.lim, x.group if x.group > 1 else None):
        if (y.group > 1 and plan.q != y.group) or (x.group > 1 and (g.kh, g.kw) == (1, 1) and plan.q != x.group):
            continue  # (a 1x1 convolution of groups makes as many outputs per row: it reads the groups as they are)
        rows = len(g.samples) * g.oh * plan.groups
        tile_bytes = weight_tile_words(plan.p * c_in, plan.q * c_out, ctx.cwl) * ctx.cwl
        cost = g.kh * plan.words * (rows + tile_bytes / ddr_rate)
        if cost < best_cost:
            best, best_cost = plan, cost
    return best


def group_tile(ctx: Context, layer: Layer, g: Geometry, plan: Grouping, c_in: int, c_out: int) -> OutTile:
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
    tile = group_tile(ctx, layer, g, plan, c_in, c_out)
    arena = ctx.arena(layer.name)
    epilogue.fuse(ctx, layer, arena, kept=True)  # looked up on the group words: q pixels per lookup
    dest = epilogue.output(ctx, layer.name)  # the map the spread words go to
    budget = ctx.ring_limit[layer.name] if ctx.ring is not None else arena.free // 2
    group = weight_groups([tile], ctx.cwl, budget, layer.name)[0]
    load_constants(ctx, arena, group)
    input_kept = all(ctx.kept_block(x, range(s, s + 1)) for s in g.samples)
    output_kept = ctx.kept_block(dest)

    grouped_out = dest.group > 1  # the drained words are the output: no spreading MOVEs
    as_packed = reads_groups_as_packed(g, plan, x)  # the input's group words are the packed rows

    def band_words(rows: int) -> int:
        inputs = 0 if input_kept else min(g.in_rows(rows), g.h) * x.row_words
        outputs = 0 if output_kept else rows * (plan.groups if grouped_out else g.ow)
        drained = 0 if grouped_out and output_kept else rows * plan.groups
        return inputs + (0 if as_packed else g.in_rows(rows) * plan.width) + drained + outputs

    bands, copies = group_bands(ctx, layer, g, plan, band_words, arena.free)
    per_band = max(len(b) for b in bands)
    slots = [
        (
            arena.alloc(0 if input_kept else min(g.in_rows(per_band), g.h) * x.row_words, "input band"),
            arena.alloc(0 if as_packed else g.in_rows(per_band) * plan.width, "packed rows"),
            arena.alloc(0 if grouped_out and output_kept else per_band * plan.groups, "pixel groups"),
            arena.alloc(0 if output_kept or grouped_out else per_band * g.ow, "output band"),
        )
        for _ in range(copies)
    ]
    steps = [(s, band) for s in g.samples for band in bands]
    me = MeStream(ctx)
    pad_code = int(layer.get("pad_code", 0))
    zo, lo, hi = drain_stage(layer, y)

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
            ctx.load(x, x.at(sample, ry0 * x.row_words), Pattern.contiguous(in_buf, (ry1 - ry0) * x.row_words))
            src, h, top = in_buf, ry1 - ry0, ry0 - iy0
        if as_packed:  # (no padding rows: rows ry0..ry1 are the band's)
            return src + (ry0 - iy0 - top) * x.row_words
        if x.group > 1:
            _regroup(ctx, g, plan, x, (src, h, top), Pattern.contiguous(packed, rows * plan.width), pad_code)
            return packed
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
        if grouped_out:  # drained straight into the kept map, or stored from the drained words
            kept_at = ctx.cached(dest, dest.at(sample, band.start * plan.groups)) if output_kept else None
            grouped = grouped if kept_at is None else kept_at
        n = gemm_band(ctx, me, group[0], g, plan, (packed, rows, grouped), (zo, lo, hi), index + 1 == len(steps))
        epilogue.look_up(ctx, layer.name, Pattern.contiguous(grouped, n), plan.q * c_out)
        if grouped_out:
            ctx.store(dest, dest.at(sample, band.start * plan.groups), Pattern.contiguous(grouped, n))
            return
        ddr = dest.at(sample, band.start * g.ow)
        out = ctx.cached(dest, ddr) if output_kept else out_buf
        assert out is not None
        for i in range(plan.q):  # output i of every group to its pixel word
            count = -(-(g.ow - i) // plan.q)
            dst = Pattern(out + i, ((rows, g.ow), (count, plan.q)))
            src = Pattern(grouped, ((rows, plan.groups), (count, 1)))
            ctx.emit(Unit.EWP, Move(dst=dst, src=src, src_off=i * c_out, dst_off=dest.lane, len=c_out))
        ctx.store(dest, ddr, Pattern.contiguous(out, rows * g.ow))

    pipeline(len(steps), copies, load, work)


def reads_groups_as_packed(g: Geometry, plan: Grouping, x: Buffer) -> bool:
    """Whether the GEMMs read an input left in pixel groups as it is: a 1x1 convolution of stride 1 without
    padding, ``p = q`` pixels per word in and out, so the packed rows would be the group words themselves.
    The lanes of a row's last group past the map's width hold what its producer computed there; output ``i``
    of a group reads only input ``i`` (block-diagonal tile), so they reach only the output's lanes past it."""
    one = (g.kh, g.kw, g.sy, g.sx, g.top, g.left, g.right) == (1, 1, 1, 1, 0, 0, 0)
    return one and g.oh == g.h and x.group == plan.p == plan.q


def group_bands(
    ctx: Context, layer: Layer, g: Geometry, plan: Grouping, band_words: Callable[[int], int], free: int
) -> tuple[list[Segment], int]:
    """The row bands of a pixel-group lowering and its band buffers' copies: as many rows as ``free`` words
    (``band_words`` per band of that many rows) and half the accumulators hold, and with two copies at least
    ``spatial_limit`` bands, so the next layer starts on the first."""
    row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
    per_band, copies = fit_rows(g.oh, band_words, free, row_limit, layer.name, "pixel groups", ctx.me_copies)
    if copies > 1:
        per_band = min(per_band, max(-(-g.oh // ctx.spatial_limit), -(-ctx.lim.array_rows // plan.groups)))
    return even_bands(g.oh, per_band), copies


def gemm_band(
    ctx: Context,
    me: MeStream,
    tile: OutTile,
    g: Geometry,
    plan: Grouping,
    band: tuple[int, int, int],
    stage: tuple[int, int, int],
    last: bool,
) -> int:
    """One band's GEMMs (a kernel row and packed word each) and its DRAIN of ``q`` outputs per accumulator row;
    ``band``: the packed rows' first word, the band's output rows, where its group words go; ``stage``: the
    output's zero point and clamp; ``last``: the layer's last band (its DRAIN waits for the next layer's first
    LOADW), else the next band's first tile is preloaded ahead of the DRAIN.  Returns the group words."""
    packed, rows, grouped = band
    acc = me.next_block()
    for i, (chunk, addr) in enumerate(zip(tile.chunks, tile.addr, strict=True)):
        k, m = chunk.tile.shape
        buf = me.loadw(addr, k, m)
        base = packed + chunk.ky * g.dy * plan.width + chunk.kx
        xs = Pattern(base, ((rows, g.sy * plan.width), (plan.groups, plan.step)))
        ctx.emit(Unit.ME, Gemm(buf=buf, x=xs, off=0, k=k, m=m, acc=acc, accumulate=int(i > 0)))
    n = rows * plan.groups
    zo, lo, hi = stage
    me.pending = Drain(
        acc=acc, m=plan.q * (tile.o1 - tile.o0), params=tile.params_addr, zo=zo, lo=lo, hi=hi,
        dst=Pattern.contiguous(grouped, n), off=0,
    )  # fmt: skip
    if not last:
        me.preload(tile.addr[0], *tile.chunks[0].tile.shape)
        me.flush()
    else:
        ctx.defer_drain(me.pending)
        me.pending = None
    return n


def _regroup(
    ctx: Context, g: Geometry, plan: Grouping, x: Buffer, source: tuple[int, int, int], packed: Pattern, pad: int
) -> None:
    """The packed rows of a band from an input left in pixel groups of ``p = plan.p`` pixels (``Buffer.group``).

    ``source``: the cache word of the input's first row there, its rows, and the packed row of that first row.
    Packed word ``t`` holds input pixels ``p * t + a - left``: with ``left = d * p + s``, lanes of pixels
    ``a >= s`` come from group word ``t - d`` and the first ``s`` from the end of word ``t - d - 1``, so two
    MOVEs per band (one word read per word written) instead of a PACK reading ``p`` words per word; FILLs
    give the padding rows, the pixels left of the map and those right of it (including the lanes of the last
    group past the map's width, which the producer computed from padding)."""
    src, h, top = source
    p, width, c, words = plan.p, plan.width, x.tensor.channels, x.row_words
    rows = packed.count // width
    r0, r1 = max(0, top), min(rows, top + h)
    for first, count in ((0, min(r0, rows)), (max(r1, r0), rows - max(r1, r0))):
        if count > 0:  # rows of padding
            ctx.fill(Pattern.contiguous(packed.base + first * width, count * width), pad)
    if r1 <= r0:
        return
    n, dst, src = r1 - r0, packed.base + r0 * width, src + (r0 - top) * words
    d, s = divmod(g.left, p)
    moves = [(d, 0, s * c, (p - s) * c)] + ([(d + 1, (p - s) * c, 0, s * c)] if s else [])
    for t0, src_off, dst_off, length in moves:  # packed words t0.. from group words 0..
        count = min(width, words + t0) - t0
        if count > 0:
            to, words_in = walk(dst + t0, (n, width), (count, 1)), walk(src, (n, words), (count, 1))
            ctx.emit(Unit.EWP, Move(dst=to, src=words_in, src_off=src_off, dst_off=dst_off, len=length))
    if d:
        ctx.fill(walk(dst, (n, width), (min(d, width), 1)), pad)
    if s and d < width:
        ctx.emit(Unit.EWP, Fill(dst=walk(dst + d, (n, width)), value=pad, off=0, len=s * c))
    t, a = divmod(g.w + g.left, p)  # the first pixel right of the map
    if a and t < width:
        ctx.emit(Unit.EWP, Fill(dst=walk(dst + t, (n, width)), value=pad, off=a * c, len=(p - a) * c))
        t += 1
    if t < width:
        ctx.fill(walk(dst + t, (n, width), (width - t, 1)), pad)
