"""Convolutions and dense layers on the matrix engine, direct form.

Each tap (ky, kx) and each run of input channels inside one word (at most ``array_rows``) is a GEMM whose
rows are read straight from a padded input band in the cache: the pattern walks output rows and columns
with the stride, shifted by the tap's dilated offset.  Taps and channel runs accumulate into one
accumulator block per output tile (at most ``array_columns`` channels, inside one output word), which
drains through the output stage into the output band.  Grouped and depthwise convolutions use the same
path with block-diagonal tiles trimmed to the input channels each tile needs; 1x1 stride-1 unpadded
convolutions and dense layers read all pixels of all samples as one long list of rows.

Loop order: weight group (the output tiles whose constants fit the cache, usually all), sample, row
band, output tile, tap x channel run.  Weights are loaded into the cache once per group; a tile's next
LOADW is issued before the previous tile's DRAIN so the loader and the output stage overlap the array.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Drain, Gemm, Pack, Pattern, Unit
from pytpu.isa.layouts import pack_output_stage
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.slicing import Segment, TensorAxis, row_bands
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import copies_for, even_bands, fit_rows, pipelined_rows
from tpu_compiler.lowering.conv_groups import lower_grouped, plan_grouping
from tpu_compiler.lowering.conv_tail import lower_tail, plan_tail
from tpu_compiler.lowering.conv_ungroup import lower_ungroup
from tpu_compiler.lowering.conv_weights import Chunk, OutTile, full_weights, load_constants, weight_groups
from tpu_compiler.lowering.me_stream import MeStream, drain_stage
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.lowering.window import Geometry, plain_1x1, window_fields
from tpu_compiler.network import Layer


def _geometry(ctx: Context, layer: Layer, x: Buffer, y: Buffer, pointwise: bool) -> Geometry:
    if pointwise:
        rows = len(ctx.samples) * x.tensor.positions  # the samples one after the other: one list of rows
        first = ctx.samples.start
        one = dict(w=1, ow=1, kh=1, kw=1, sy=1, sx=1, dy=1, dx=1, top=0, left=0)
        return Geometry(h=rows, oh=rows, **one, samples=range(first, first + 1), right=0)
    right = int(layer.get("pads", [0, 0, 0, 0])[3])
    return Geometry(**window_fields(layer, x.tensor.shape, y.tensor.shape), samples=ctx.samples, right=right)


def _is_pointwise(ctx: Context, layer: Layer) -> bool:
    if layer.get("dense"):
        return True
    return plain_1x1(layer) and not (ctx.scheme is not None and layer.name in ctx.scheme)


def _tile_width(ctx: Context, layer: Layer, mask: np.ndarray, rows: int) -> int:
    """Output channels per tile: the widest for dense weights; for grouped and depthwise convolutions the
    width whose block-diagonal tiles cost least, counting per tap the array (``max(N, K*M/cwl)``) and
    the DDR cycles of the tile over the lanes that load constants (narrow tiles carry fewer zeros but need
    more GEMMs)."""
    widest = min(ctx.lim.array_columns, ctx.cwl)
    if int(layer.get("groups", 1)) == 1:
        return widest
    ddr_rate = ctx.hw.ddr.bytes_per_cycle * len(ctx.constant_lanes)  # constants stream over every lane
    best, best_cost = widest, None
    width = widest
    while width >= 8:
        cost = 0
        for o0 in range(0, mask.shape[1], width):
            used = np.flatnonzero(mask[:, o0 : o0 + width].any(axis=1))
            k, m = int(used[-1] - used[0] + 1), min(width, mask.shape[1] - o0)
            cost += max(rows, -(-k * m // ctx.cwl)) + -(-k * m // ddr_rate)
        if best_cost is None or cost < best_cost:
            best, best_cost = width, cost
        width //= 2
    return best


def _packed_taps(ctx: Context, layer: Layer, g: Geometry, channels: int) -> int:
    """How many leading horizontal taps of each kernel row a small-channel convolution packs into one word
    first (0: none).

    A ``PACK`` (one word read per tap) writes, for every input row of the band and output column, the
    ``P * C`` bytes of ``P`` taps; then one GEMM per kernel row has ``K = P * C`` instead of ``P`` GEMMs of
    ``K = C``, and the other ``kw - P`` taps stay direct.  ``P`` is as many taps as fit the array's rows, and
    the packing is chosen when the pack and the fewer GEMMs cost less than the direct taps (a 7x7 stride-2
    convolution of a 3-channel image packs all 7: about 2.3x fewer cycles; a 3x3 of 64 channels packs 2 of
    3: 6 GEMMs per output row instead of 9, the pack on the EWP beside them; a 3x3 depthwise of 32 channels
    packs all 3, its tile the taps' diagonal blocks one above the other).
    """
    if g.kw == 1 or channels > ctx.cwl:
        return 0
    taps = min(g.kw, min(ctx.lim.array_rows, ctx.cwl) // channels)
    if taps < 2 or g.kw > 255 or g.dx > 255 or g.sx > 255:
        return 0
    direct = g.kh * g.kw * g.oh * g.ow
    packed = taps * g.in_rows(g.oh) * g.ow + g.kh * (1 + g.kw - taps) * g.oh * g.ow
    return taps if packed < direct else 0


def _tiles(ctx: Context, layer: Layer, channels: int, rows: int, packed: int = 0) -> list[OutTile]:
    """The output tiles and their chunks; ``packed`` taps of each kernel row as one chunk of ``K = packed * C``
    (row ``kx * C + c``) read from the packed words, the other taps direct."""
    full, mask = full_weights(layer, channels)
    kh, kw, _, m = full.shape
    lim, cwl = ctx.lim, ctx.cwl
    tm, tk = _tile_width(ctx, layer, mask, rows), min(lim.array_rows, cwl)
    bias, mult, shift = layer.arrays["bias"], layer.arrays["mult"], layer.arrays["shift"]
    tiles = []
    for o0 in range(0, m, tm):
        o1 = min(m, o0 + tm)
        chunks = []
        for ky in range(kh):
            if packed:
                taps = full[ky, :packed, :, o0:o1].reshape(packed * channels, o1 - o0)
                chunks.append(Chunk(ky, 0, 0, 0, taps, packed=True))
            for kx in range(packed, kw):
                for word in range(-(-channels // cwl)):
                    for s0 in range(word * cwl, min((word + 1) * cwl, channels), tk):
                        s1 = min(s0 + tk, (word + 1) * cwl, channels)
                        used = np.flatnonzero(mask[s0:s1, o0:o1].any(axis=1))
                        if used.size == 0:
                            continue
                        c0, c1 = s0 + int(used[0]), s0 + int(used[-1]) + 1
                        chunks.append(Chunk(ky, kx, word, c0 - word * cwl, full[ky, kx, c0:c1, o0:o1]))
        params = pack_output_stage(bias[o0:o1], mult[o0:o1], shift[o0:o1], cwl)
        tiles.append(OutTile(o0, o1, chunks, params, []))
    return tiles


def _cost(ctx: Context, g: Geometry, tiles: list[OutTile]) -> float:
    """Array cycles of the direct form plus its constants' DDR cycles (over the lanes that load constants)."""
    ddr_rate = ctx.hw.ddr.bytes_per_cycle * len(ctx.constant_lanes)
    rows = len(g.samples) * g.oh * g.ow
    return sum(len(t.chunks) * rows + t.const_words(ctx.cwl) * ctx.cwl / ddr_rate for t in tiles)


def _subsampled(ctx: Context, layer: Layer, g: Geometry, x: Buffer) -> tuple[int, int] | None:
    """The strides of an unpadded strided 1x1 convolution whose input is in DDR (not kept in the cache) for
    every sample: it reads one pixel in ``sy * sx``, so its bands load just those (a quarter of the map for
    ResNet's stride-2 projections) and it runs as a stride-1 convolution over them."""
    if (g.kh, g.kw) != (1, 1) or (g.sy, g.sx) == (1, 1) or any(layer.get("pads", [0, 0, 0, 0])):
        return None
    if any(ctx.cached(x, x.at(s)) is not None for s in ctx.samples):
        return None
    return g.sy, g.sx


def lower_conv(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    pointwise = _is_pointwise(ctx, layer)
    if pointwise and x.group > 1 and not layer.get("dense"):  # a 1x1 convolution of a map in pixel groups
        if y.group == 1:  # a pixel slot at a time: the array rows of pixel groups spreading their outputs, no MOVEs
            rows = len(ctx.samples) * y.tensor.positions
            lower_ungroup(ctx, layer, x, y, _tiles(ctx, layer, x.tensor.channels, rows))
            return
        pointwise = False  # its output left in groups too: in pixel groups, p = q (below)
    g = _geometry(ctx, layer, x, y, pointwise)
    skip = _subsampled(ctx, layer, g, x)
    if skip is not None:  # a strided 1x1 convolution of a map in DDR: load only the pixels it reads
        g = dataclasses.replace(g, h=g.oh, w=g.ow, sy=1, sx=1)
    packed = 0 if pointwise else _packed_taps(ctx, layer, g, x.tensor.channels)
    tiles = _tiles(ctx, layer, x.tensor.channels, len(g.samples) * g.oh * g.ow, packed)
    if not pointwise and skip is None:  # pixel groups read whole maps, not a subsampled one
        grouping = plan_grouping(ctx, layer, g, x, y, _cost(ctx, g, tiles))
        if grouping is not None:
            lower_grouped(ctx, layer, g, x, y, grouping)
            return
    if x.group > 1:  # the memory plan left the input in pixel groups for this layer's pixel groups
        raise CompilationError(f"layer {layer.name!r}: no pixel grouping reads {x.group} input pixels per word")
    if y.group > 1:  # ... or its output, for its reader's
        raise CompilationError(f"layer {layer.name!r}: no pixel grouping makes {y.group} output pixels per word")
    tail = None if pointwise or skip is not None else plan_tail(ctx, layer, g, x, y)
    if tail is not None and all(t.o1 <= tail[0].first or t.o0 >= tail[0].first for t in tiles):
        tiles = [t for t in tiles if t.o1 <= tail[0].first]  # the last words in pixel groups, after the others
    else:
        tail = None
    arena = ctx.arena(layer.name)
    epilogue.fuse(ctx, layer, arena)
    lim = ctx.lim
    row_words = g.padded_w * x.wpp

    # A kept input read in place (no padding to add) and a kept output drained into in place need no band
    # buffers: counting them would only cut the layer into bands of fewer GEMM rows.
    input_in_place = not (g.top or g.left or g.right or layer.get("pads", [0, 0, 0, 0])[1]) and ctx.kept_block(x)
    output_in_place = ctx.kept_block(y)

    def band_words(rows: int) -> int:
        inputs = 0 if input_in_place else g.in_rows(rows) * row_words
        outputs = 0 if output_in_place else rows * g.ow * y.wpp
        return inputs + (g.in_rows(rows) * g.ow if packed else 0) + outputs

    if ctx.ring is not None:  # weights stream through the ring, bands get the whole arena
        budget = ctx.ring_limit[layer.name]
    else:  # constants may use what one output row of activations leaves, and no more than half the cache
        budget = max(0, min(arena.free - 2 * band_words(1), arena.free // 2))
    groups = weight_groups(tiles, ctx.cwl, budget, layer.name)
    row_limit = min(lim.max_rows, lim.acc_rows // 2) // g.ow
    if row_limit < 1:
        raise CompilationError(f"layer {layer.name!r}: an output row of {g.ow} pixels exceeds the accumulators")
    # Steps of the groups before: a group's first band goes into the slot after the last group's last band, so
    # with one band per group (a whole map) the next group's input loads while this group computes.
    done_steps = 0
    for i, group in enumerate(groups):
        mark = arena.top
        # Through the weight stream the next group's constants load before this group's last store: a lane
        # runs in order, so behind the store they would wait for its drain.
        # The first group's weights load after the first band's input, not before it: the first GEMMs wait for
        # both, and for the weights only as far as their first tile, which the lanes load first.
        streamed = ctx.ring is not None
        first = functools.partial(load_constants, ctx, arena, group) if i == 0 and streamed else None
        if not streamed:
            load_constants(ctx, arena, group)
        ahead = None
        if streamed and i + 1 < len(groups):
            ahead = functools.partial(load_constants, ctx, arena, groups[i + 1])
        bands = row_bands(ctx.scheme, layer.name, g.oh, (TensorAxis.HEIGHT,))
        if bands is None:
            per_band, copies = fit_rows(
                g.oh, band_words, arena.free, row_limit, layer.name, "input and output", ctx.me_copies
            )
            bands = even_bands(g.oh, min(per_band, pipelined_rows(ctx, g, copies)))
        else:
            per_band = max(len(b) for b in bands)
            if per_band > row_limit or band_words(per_band) > arena.free:
                raise CompilationError(
                    f"slicing scheme of layer {layer.name!r}: a band of {per_band} rows needs "
                    f"{band_words(per_band)} cache words and {per_band * g.ow} accumulator rows; "
                    f"{arena.free} words and {row_limit * g.ow} rows are available"
                )
            copies = copies_for(band_words(per_band), arena.free, ctx.me_copies)
        stack = 1  # samples per GEMM: whole maps of several samples, so each weight tile is loaded once for them
        if not packed and len(bands) == 1:
            while (
                stack < len(g.samples)
                and (stack + 1) * g.oh <= row_limit
                and copies * (stack + 1) * band_words(g.oh) <= arena.free
            ):
                stack += 1
        in_words = 0 if input_in_place else stack * g.in_rows(per_band) * row_words
        out_words = 0 if output_in_place else stack * per_band * g.ow * y.wpp
        in_bufs = [arena.alloc(in_words, "input band") for _ in range(copies)]
        out_bufs = [arena.alloc(out_words, "output band") for _ in range(copies)]
        pack_bufs = [arena.alloc(g.in_rows(per_band) * g.ow, "packed rows") for _ in range(copies if packed else 0)]
        buffers = (in_bufs, out_bufs, (pack_bufs, packed))
        _emit_group(ctx, layer, g, x, y, group, bands, *buffers, stack, skip, (first, ahead), done_steps)
        done_steps += -(-len(g.samples) // stack) * len(bands)
        arena.top = mark
    if tail is not None:
        lower_tail(ctx, layer, g, x, y, tail)


def _emit_group(
    ctx: Context,
    layer: Layer,
    g: Geometry,
    x: Buffer,
    y: Buffer,
    group: list[OutTile],
    bands: list[Segment],
    in_bufs: list[int],
    out_bufs: list[int],
    packing: tuple[list[int], int],
    stack: int = 1,
    skip: tuple[int, int] | None = None,
    extra: tuple[Callable[[], None] | None, Callable[[], None] | None] = (None, None),
    slot0: int = 0,
) -> None:
    """Emit ``group``'s tiles over every band; ``stack`` > 1 (whole-map bands only): that many samples per
    step, their input maps one after the other in the band buffer and their rows in one GEMM; ``skip``: the
    strides of a subsampled input (``_subsampled``); ``extra``: emitted after the first step's input load
    (the group's weights) and before the last step's store (the next group's); ``slot0``: the band buffers'
    slot of the first step."""
    pack_bufs, packed = packing  # the packed rows' buffers and the taps each packs
    first, ahead = extra
    me = MeStream(ctx)
    row_words = g.padded_w * x.wpp
    pad_code = int(layer.get("pad_code", 0))
    zo, lo, hi = drain_stage(layer, y)
    max_rows = g.in_rows(max(len(b) for b in bands))
    filled = set()
    w0, w1 = group[0].o0 // ctx.cwl, (group[-1].o1 - 1) // ctx.cwl + 1
    all_samples = list(g.samples)
    steps = [(all_samples[f : f + stack], band) for f in range(0, len(all_samples), stack) for band in bands]

    def fetch(index: int) -> tuple[int, int]:
        """Fill and load step ``index``'s input band into its slot; where its rows are read, and the stride
        between samples there."""
        samples, band = steps[index]
        slot = (index + slot0) % len(in_bufs)
        inbuf = in_bufs[slot]
        in_stride = max_rows * row_words  # one sample's padded input in the band buffer
        if (g.left or g.right) and slot not in filled:
            filled.add(slot)
            every = ((stack * max_rows, row_words),)
            if g.left:
                ctx.fill(Pattern(inbuf, (*every, (g.left * x.wpp, 1))), pad_code)
            if g.right:
                ctx.fill(Pattern(inbuf + (g.left + g.w) * x.wpp, (*every, (g.right * x.wpp, 1))), pad_code)
        iy0 = band.start * g.sy - g.top
        iy1 = iy0 + g.in_rows(len(band))
        top, bottom = max(0, -iy0), max(0, iy1 - g.h)
        ry0, ry1 = max(iy0, 0), min(iy1, g.h)
        in_place = ctx.cached(x, x.at(samples[0], ry0 * g.w * x.wpp))
        last = ctx.cached(x, x.at(samples[-1], ry0 * g.w * x.wpp))
        contiguous = in_place is not None and last == in_place + (len(samples) - 1) * x.sample_words
        if in_place is not None and contiguous and not (top or bottom or g.left or g.right):
            return in_place, x.sample_words  # the input band is read where it is kept
        for j, s in enumerate(samples):
            at = inbuf + j * in_stride
            if top:
                ctx.fill(Pattern.contiguous(at, top * row_words), pad_code)
            if bottom:
                ctx.fill(Pattern.contiguous(at + (iy1 - iy0 - bottom) * row_words, bottom * row_words), pad_code)
            if ry1 > ry0:
                dst = Pattern(at + (ry0 - iy0) * row_words + g.left * x.wpp, ((ry1 - ry0, row_words), (g.w * x.wpp, 1)))
                ddr: int | Pattern = x.at(s, ry0 * g.w * x.wpp)
                if skip is not None:  # rows and columns of the input map every (sy, sx)
                    width = x.tensor.shape[2] * x.wpp
                    ddr = Pattern(
                        x.at(s, ry0 * skip[0] * width),
                        ((ry1 - ry0, skip[0] * width), (g.w, skip[1] * x.wpp), (x.wpp, 1)),
                    )
                ctx.load(x, ddr, dst)
        return inbuf, in_stride

    def load(index: int) -> tuple[int, int]:
        """``fetch``, then the packed rows of a packed convolution: with the load, so that on the EWP (in order)
        they come before the next band's fetch, which waits for this band's GEMMs."""
        placed = fetch(index)
        if index == 0 and first is not None:
            first()
        if pack_bufs:
            rows = len(steps[index][1])
            inbuf = placed[0]
            packbuf = pack_bufs[(index + slot0) % len(pack_bufs)]
            ctx.emit(
                Unit.EWP,
                Pack(
                    dst=Pattern.contiguous(packbuf, g.in_rows(rows) * g.ow),
                    dst_off=0,
                    src=inbuf,
                    h=g.in_rows(rows),
                    w=g.padded_w,
                    row=row_words,
                    pix=x.wpp,
                    oh=g.in_rows(rows),
                    ow=g.ow,
                    sy=1,
                    sx=g.sx,
                    py=0,
                    px=0,
                    kh=1,
                    kw=packed,
                    dy=1,
                    dx=g.dx,
                    src_off=0,
                    len=x.tensor.channels,
                    fill=pad_code,
                ),
            )
        return placed

    def work(index: int, loaded: tuple[int, int]) -> None:
        samples, band = steps[index]
        inbuf, in_stride = loaded
        slot = (index + slot0) % len(in_bufs)
        outbuf = out_bufs[slot]
        sample, rows = samples[0], len(band)
        n = len(samples) * rows * g.ow
        ddr = y.at(sample, band.start * g.ow * y.wpp)
        out_place = ctx.cached(y, ddr)
        if out_place is not None:
            outbuf = out_place  # drained straight into the kept output; the store below is then nothing
        for tile in group:
            acc = me.next_block()
            for i, (chunk, addr) in enumerate(zip(tile.chunks, tile.addr, strict=True)):
                buf = me.loadw(addr, *chunk.tile.shape)
                k, m = chunk.tile.shape
                if chunk.packed:
                    base = pack_bufs[slot] + chunk.ky * g.dy * g.ow
                    xs = Pattern(base, ((rows, g.sy * g.ow), (g.ow, 1)))
                else:
                    base = inbuf + chunk.ky * g.dy * row_words + chunk.kx * g.dx * x.wpp + chunk.word
                    walk = ((rows, g.sy * row_words), (g.ow, g.sx * x.wpp))
                    xs = Pattern(base, ((len(samples), in_stride), *walk) if len(samples) > 1 else walk)
                ctx.emit(Unit.ME, Gemm(buf=buf, x=xs, off=chunk.off, k=k, m=m, acc=acc, accumulate=int(i > 0)))
            me.pending = Drain(
                acc=acc,
                m=tile.o1 - tile.o0,
                params=tile.params_addr,
                zo=zo,
                lo=lo,
                hi=hi,
                dst=Pattern(outbuf + tile.o0 // ctx.cwl, ((n, y.wpp),)),
                off=y.lane + tile.o0 % ctx.cwl,
            )
        if index + 1 < len(steps):  # every step starts with the group's first tile
            me.preload(group[0].addr[0], *group[0].chunks[0].tile.shape)
            me.flush()
        elif me.pending is not None:  # the layer's last: after the next layer's first LOADW
            ctx.defer_drain(me.pending)
            me.pending = None
        if ahead is not None and index == len(steps) - 1:
            ahead()
        if (w0, w1) == (0, y.wpp):
            epilogue.store_band(ctx, layer.name, y, ddr, Pattern.contiguous(outbuf, n * y.wpp))
        else:  # only this group's words of each pixel
            words = ((n, y.wpp), (w1 - w0, 1))
            epilogue.store_band(ctx, layer.name, y, Pattern(ddr + w0, words), Pattern(outbuf + w0, words))

    pipeline(len(steps), len(in_bufs), load, work)
