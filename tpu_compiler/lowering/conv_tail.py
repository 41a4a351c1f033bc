"""The last channels of a wide depthwise convolution, computed in pixel groups (the "tail").

A depthwise convolution costs its taps times its output pixels in array cycles for every word of channels,
however few channels the word holds: MobileNetV2's 144-channel maps take a second word per pixel for 16
channels, and it costs as much as the first.  Where the input and output stay in the cache, the channels past
the last full word (at most half a word, so that two output pixels fit the array's columns) are computed
apart, as a convolution of that many channels in pixel groups (``conv_groups``): a PACK gathers those lanes
of ``p`` input pixels' last words into each GEMM row, ``q`` output pixels share an accumulator row, and
MOVEs spread them into the last word of each output pixel.  The other channels go the direct way
(``conv.lower_conv``) and write only their words.
"""

from __future__ import annotations

import numpy as np

from pytpu.isa import Drain, Gemm, Move, Pack, Pattern, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.lowering.bands import even_bands, fit_rows
from tpu_compiler.lowering.conv_groups import Grouping, candidates, group_tile
from tpu_compiler.lowering.conv_weights import load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.lowering.window import Geometry
from tpu_compiler.network import Layer


def plan_tail(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer) -> tuple[int, Grouping] | None:
    """The tail's first channel and grouping, if ``layer`` is a depthwise convolution (one input channel per
    output channel) over more than a word of channels, the last word holds at most half a word of them,
    input and output stay in the cache, and pixel groups cost the tail fewer array cycles than the direct
    form (a GEMM per band, kernel row and word, each at least its tile's load: small maps stay direct)."""
    c = y.tensor.channels
    tail = c % ctx.cwl
    if layer.get("dense") or int(layer.get("groups", 1)) != c or x.tensor.channels != c or x.group > 1:
        return None
    if c < ctx.cwl or tail == 0 or 2 * tail > min(ctx.lim.array_columns, ctx.cwl):
        return None
    if ctx.scheme is not None and layer.name in ctx.scheme:
        return None
    if not (all(ctx.kept_block(x, range(s, s + 1)) for s in g.samples) and ctx.kept_block(y)):
        return None
    pixels = len(g.samples) * g.oh * g.ow
    best, best_cost = None, float(g.kh * g.kw * pixels)  # the tail word tap by tap (samples stacked)
    for plan in candidates(g, tail, tail, ctx.lim):
        # Every band loads the tile of each (kernel row, word) again: a band's GEMM costs at least its load.
        row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
        bands = max(-(-g.oh // row_limit), min(ctx.spatial_limit, g.oh))
        rows = -(-g.oh // bands) * plan.groups
        load = -(-plan.p * tail * plan.q * tail // ctx.cwl)
        cost = len(g.samples) * bands * g.kh * plan.words * max(rows, load)
        if cost < best_cost:
            best, best_cost = plan, cost
    return None if best is None else (c - tail, best)


def tail_layer(layer: Layer, first: int) -> Layer:
    """``layer`` restricted to its channels from ``first`` on (a depthwise convolution of those channels)."""
    arrays = dict(layer.arrays)
    arrays["weights"] = np.asarray(layer.arrays["weights"])[..., first:]
    for key in ("bias", "mult", "shift"):
        arrays[key] = np.asarray(layer.arrays[key])[first:]
    channels = int(arrays["weights"].shape[-1])
    return Layer(layer.kind, layer.name, layer.inputs, {**layer.config, "groups": channels}, arrays)


def lower_tail(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, first: int, plan: Grouping) -> None:
    """Compute channels ``first..`` of the depthwise ``layer`` in pixel groups, reading and writing word
    ``first // cwl`` of every pixel of the kept input and output maps."""
    channels, word = y.tensor.channels - first, first // ctx.cwl
    tile = group_tile(ctx, tail_layer(layer, first), g, plan, channels, channels)
    arena = ctx.arena(layer.name)
    budget = ctx.ring_limit[layer.name] if ctx.ring is not None else arena.free // 2
    group = weight_groups([tile], ctx.cwl, budget, layer.name)[0]
    load_constants(ctx, arena, group)

    def band_words(rows: int) -> int:
        return g.in_rows(rows) * plan.width + rows * plan.groups

    row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
    per_band, copies = fit_rows(g.oh, band_words, arena.free, row_limit, layer.name, "pixel groups", ctx.me_copies)
    if copies > 1:  # at least spatial_limit bands, so the next layer starts on the first
        per_band = min(per_band, max(-(-g.oh // ctx.spatial_limit), -(-ctx.lim.array_rows // plan.groups)))
    bands = even_bands(g.oh, per_band)
    per_band = max(len(b) for b in bands)
    packed_words, grouped_words = g.in_rows(per_band) * plan.width, per_band * plan.groups
    slots = [
        (arena.alloc(packed_words, "packed rows"), arena.alloc(grouped_words, "pixel groups")) for _ in range(copies)
    ]
    steps = [(s, band) for s in g.samples for band in bands]
    me = MeStream(ctx)
    pad_code = int(layer.get("pad_code", 0))
    zo, lo, hi = y.tensor.zero_point, int(layer.get("lo", -128)), int(layer.get("hi", 127))

    def load(index: int) -> int:
        """The band's packed rows: the tail lanes of ``p`` input pixels per word, padding included."""
        sample, band = steps[index]
        packed = slots[index % copies][0]
        iy0 = band.start * g.sy - g.top
        rows = g.in_rows(len(band))
        if min(iy0 + rows, g.h) <= max(iy0, 0):  # the band reads padding only
            ctx.fill(Pattern.contiguous(packed, rows * plan.width), pad_code)
            return packed
        src = ctx.cached(x, x.at(sample))
        assert src is not None
        pack = Pack(
            dst=Pattern.contiguous(packed, rows * plan.width), dst_off=0,
            src=src + word, h=g.h, w=g.w, row=g.w * x.wpp, pix=x.wpp,
            oh=rows, ow=plan.width, sy=1, sx=plan.p, py=-iy0, px=g.left,
            kh=1, kw=plan.p, dy=1, dx=1, src_off=0, len=channels, fill=pad_code,
        )  # fmt: skip
        ctx.emit(Unit.EWP, pack)
        return packed

    def work(index: int, packed: int) -> None:
        sample, band = steps[index]
        grouped = slots[index % copies][1]
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
            acc=acc, m=plan.q * channels, params=group[0].params_addr, zo=zo, lo=lo, hi=hi,
            dst=Pattern.contiguous(grouped, n), off=0,
        )  # fmt: skip
        if index + 1 < len(steps):
            me.preload(group[0].addr[0], *group[0].chunks[0].tile.shape)
            me.flush()
        else:  # the layer's last: after the next layer's first LOADW
            ctx.defer_drain(me.pending)
            me.pending = None
        out = ctx.cached(y, y.at(sample, band.start * g.ow * y.wpp))
        assert out is not None
        for i in range(plan.q):  # output i of every group to the tail word of its pixel
            count = -(-(g.ow - i) // plan.q)
            dst = Pattern(out + i * y.wpp + word, ((rows, g.ow * y.wpp), (count, plan.q * y.wpp)))
            src = Pattern(grouped, ((rows, plan.groups), (count, 1)))
            ctx.emit(Unit.EWP, Move(dst=dst, src=src, src_off=i * channels, dst_off=0, len=channels))

    pipeline(len(steps), copies, load, work)
