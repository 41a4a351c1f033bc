"""The last words of channels of a depthwise convolution, computed in pixel groups (the "tail").

A depthwise convolution costs its taps times its output pixels in array cycles for every word of channels,
however few channels the word holds: MobileNetV2's 144-channel maps take a second word per pixel for 16
channels, and it costs as much as the first; a 96-channel map costs as much as 128; and a full word uses one
diagonal of each 128x128 tile.  Where the input and output stay in the cache, the channels of the last words
are computed apart in pixel groups (``conv_groups``), in chunks of at most half a word (so that two output
pixels fit the array's columns): a PACK gathers a chunk's lanes of ``p`` input pixels' words into each GEMM
row, ``q`` output pixels share an accumulator row, and MOVEs spread them into those lanes of each output
pixel's word.  The chunks trade array cycles for the EWP's, so how many words go this way is a cost choice
(``plan_tail``); the others go the direct way (``conv.lower_conv``), writing only their words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.isa import Move, Pack, Pattern, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.lowering.conv_groups import Grouping, candidates, gemm_band, group_bands, group_tile
from tpu_compiler.lowering.conv_weights import load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream, drain_stage
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.lowering.window import Geometry
from tpu_compiler.network import Layer


@dataclass(frozen=True)
class TailChunk:
    """Channels ``first .. first + channels - 1`` (inside one word), computed with ``plan``."""

    first: int
    channels: int
    plan: Grouping


def plan_tail(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer) -> list[TailChunk] | None:
    """The tail's chunks, if ``layer`` is a depthwise convolution (one input channel per output channel) of more
    than half a word of channels, input and output stay in the cache, and computing its last words in pixel
    groups costs fewer cycles than tap by tap.  Of the tails of 1, 2, .. words (the last word first: it costs
    as much as a full one tap by tap and less in chunks; a full word only where the chunks' GEMMs outlast
    their tiles' loads, since shorter ones also wait and fill the array again), the cheapest: array cycles of
    the words left direct plus the chunks' (a GEMM per band, kernel row and word, each at least its tile's
    load: small maps stay direct), and the EWP's PACKs and MOVEs (reading every input pixel of a strided
    convolution: wide strided maps stay direct), beside the array (units overlap within a layer under both
    dependency resolutions)."""
    c, half = y.tensor.channels, min(ctx.lim.array_columns, ctx.cwl) // 2
    if layer.get("dense") or int(layer.get("groups", 1)) != c or x.tensor.channels != c or x.group > 1:
        return None
    if c <= half or (ctx.scheme is not None and layer.name in ctx.scheme):
        return None
    if not (all(ctx.kept_block(x, range(s, s + 1)) for s in g.samples) and ctx.kept_block(y)):
        return None
    per_word = g.kh * g.kw * len(g.samples) * g.oh * g.ow  # a word tap by tap (samples stacked)
    words = -(-c // ctx.cwl)
    best: tuple[float, list[TailChunk]] = (float(words * per_word), [])
    chunks: list[TailChunk] = []
    array = ewp = 0
    for word in reversed(range(words)):
        first, lanes = word * ctx.cwl, min(ctx.cwl, c - word * ctx.cwl)
        halves = [(first, lanes)] if lanes <= half else [(first, half), (first + half, lanes - half)]
        for start, channels in reversed(halves):
            planned = _cheapest(ctx, g, channels)
            if planned is None or (lanes == ctx.cwl and not planned[3]):
                return best[1] or None
            chunks.insert(0, TailChunk(start, channels, planned[0]))
            array, ewp = array + planned[1], ewp + planned[2]
        direct = word * per_word
        cost = max(direct + array, ewp)
        if cost < best[0]:
            best = (cost, list(chunks))
    return best[1] or None


def _cheapest(ctx: Context, g: Geometry, channels: int) -> tuple[Grouping, int, int, bool] | None:
    """The grouping of a depthwise convolution of ``channels`` with the fewest array cycles, its array cycles,
    its EWP cycles, and whether its GEMMs are longer than their tiles' loads."""
    best: tuple[Grouping, int, int, bool] | None = None
    for plan in candidates(g, channels, channels, ctx.lim):
        # Every band loads the tile of each (kernel row, word) again: a band's GEMM costs at least its load.
        row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
        bands = max(-(-g.oh // row_limit), min(ctx.spatial_limit, g.oh))
        per_band = -(-g.oh // bands)
        load = -(-plan.p * channels * plan.q * channels // ctx.cwl)
        array = len(g.samples) * bands * g.kh * plan.words * max(per_band * plan.groups, load)
        # per band a PACK reading p words per packed word, and q MOVEs spreading the output pixels
        pack = g.in_rows(per_band) * plan.width * plan.p
        fixed = ctx.hw.ewp.overhead_cycles * (1 + plan.q)
        ewp = len(g.samples) * bands * (fixed + pack + per_band * g.ow)
        if best is None or array < best[1]:
            best = plan, array, ewp, per_band * plan.groups >= load
    return best


def tail_layer(layer: Layer, first: int, channels: int) -> Layer:
    """``layer`` restricted to ``channels`` channels from ``first`` (a depthwise convolution of those)."""
    arrays = dict(layer.arrays)
    arrays["weights"] = np.asarray(layer.arrays["weights"])[..., first : first + channels]
    for key in ("bias", "mult", "shift"):
        arrays[key] = np.asarray(layer.arrays[key])[first : first + channels]
    return Layer(layer.kind, layer.name, layer.inputs, {**layer.config, "groups": channels}, arrays)


def lower_tail(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, chunks: list[TailChunk]) -> None:
    """Compute the tail's chunks of the depthwise ``layer``, one after the other."""
    for chunk in chunks:
        _lower_chunk(ctx, layer, g, x, y, chunk)


def _lower_chunk(ctx: Context, layer: Layer, g: Geometry, x: Buffer, y: Buffer, chunk: TailChunk) -> None:
    """Compute ``chunk`` in pixel groups, reading and writing its lanes of word ``first // cwl`` of every
    pixel of the kept input and output maps."""
    channels, plan = chunk.channels, chunk.plan
    word, lane = divmod(chunk.first, ctx.cwl)
    tile = group_tile(ctx, tail_layer(layer, chunk.first, channels), g, plan, channels, channels)
    arena = ctx.arena(layer.name)
    budget = ctx.ring_limit[layer.name] if ctx.ring is not None else arena.free // 2
    group = weight_groups([tile], ctx.cwl, budget, layer.name)[0]
    load_constants(ctx, arena, group)

    def band_words(rows: int) -> int:
        return g.in_rows(rows) * plan.width + rows * plan.groups

    bands, copies = group_bands(ctx, layer, g, plan, band_words, arena.free)
    per_band = max(len(b) for b in bands)
    packed_words, grouped_words = g.in_rows(per_band) * plan.width, per_band * plan.groups
    slots = [
        (arena.alloc(packed_words, "packed rows"), arena.alloc(grouped_words, "pixel groups")) for _ in range(copies)
    ]
    steps = [(s, band) for s in g.samples for band in bands]
    me = MeStream(ctx)
    pad_code = int(layer.get("pad_code", 0))
    zo, lo, hi = drain_stage(layer, y)

    def load(index: int) -> int:
        """The band's packed rows: the chunk's lanes of ``p`` input pixels per word, padding included."""
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
            kh=1, kw=plan.p, dy=1, dx=1, src_off=lane, len=channels, fill=pad_code,
        )  # fmt: skip
        ctx.emit(Unit.EWP, pack)
        return packed

    def work(index: int, packed: int) -> None:
        sample, band = steps[index]
        grouped = slots[index % copies][1]
        rows = len(band)
        gemm_band(ctx, me, group[0], g, plan, (packed, rows, grouped), (zo, lo, hi), index + 1 == len(steps))
        out = ctx.cached(y, y.at(sample, band.start * g.ow * y.wpp))
        assert out is not None
        for i in range(plan.q):  # output i of every group to the chunk's lanes of its pixel
            count = -(-(g.ow - i) // plan.q)
            dst = Pattern(out + i * y.wpp + word, ((rows, g.ow * y.wpp), (count, plan.q * y.wpp)))
            src = Pattern(grouped, ((rows, plan.groups), (count, 1)))
            ctx.emit(Unit.EWP, Move(dst=dst, src=src, src_off=i * channels, dst_off=lane, len=channels))

    pipeline(len(steps), copies, load, work)
