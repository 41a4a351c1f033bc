"""Max and average pooling on the EWP's window instructions, by bands of output rows.

The window instructions treat taps outside their source region as padding, so a band needs only the
input rows it reads; no padded copy is built.  Average pooling has a multiplier per output position
where windows overlap padding: positions with equal (mult, shift) form rectangles, one AVGPOOL each.
"""

from __future__ import annotations

import numpy as np

from pytpu.isa import AvgPool, MaxPool, Move, Pattern, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.slicing import Segment, TensorAxis, row_bands
from tpu_compiler.lowering.bands import copies_for, even_bands, fit_rows
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.network import Layer


def _rectangles(mult: np.ndarray, shift: np.ndarray, r0: int, r1: int) -> list[tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) pieces of rows r0..r1 with one (mult, shift) each."""
    out = []
    row = r0
    while row < r1:
        end = row + 1
        while end < r1 and np.array_equal(mult[end], mult[row]) and np.array_equal(shift[end], shift[row]):
            end += 1
        col = 0
        width = mult.shape[1]
        while col < width:
            stop = col + 1
            while stop < width and mult[row, stop] == mult[row, col] and shift[row, stop] == shift[row, col]:
                stop += 1
            out.append((row, end, col, stop))
            col = stop
        row = end
    return out


def lower_pool(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    if layer.inputs[0] in ctx.packed:
        _lower_packed_max_pool(ctx, layer, x, y, ctx.packed[layer.inputs[0]])
        return
    _, h, w, c = x.tensor.shape
    (kh, kw), (sy, sx) = layer.get("kernel"), layer.get("strides")
    top, _, left, _ = layer.get("pads", [0, 0, 0, 0])
    oh, ow = (1, 1) if len(y.tensor.shape) == 2 else y.tensor.shape[1:3]
    row_words = w * x.wpp
    arena = ctx.arena(layer.name)

    def in_rows(rows: int) -> int:
        return min(h, (rows - 1) * sy + kh)

    # A tensor kept in the cache is read or written in place: it takes no band buffer.
    in_kept = all(ctx.cached(x, x.at(s, 0)) is not None for s in ctx.samples)
    out_kept = all(ctx.cached(y, y.at(s, 0)) is not None for s in ctx.samples)

    def in_words(rows: int) -> int:
        return 0 if in_kept else in_rows(rows) * row_words

    def out_words(rows: int) -> int:
        return 0 if out_kept else rows * ow * y.wpp

    def band_words(rows: int) -> int:
        return in_words(rows) + out_words(rows)

    def copied_band_words(rows: int) -> int:
        return in_rows(rows) * row_words + rows * ow * y.wpp

    bands = row_bands(ctx.scheme, layer.name, oh, (TensorAxis.HEIGHT,))
    if bands is None:
        # Bands sized as if copied even when read in place (when that fits): the next layer can start on
        # the first bands.
        sizing = copied_band_words if copied_band_words(1) <= arena.free else band_words
        per_band, copies = fit_rows(oh, sizing, arena.free, oh, layer.name, "input and output", ctx.ewp_copies)
        bands = even_bands(oh, per_band)
    else:
        per_band = max(len(b) for b in bands)
        copies = copies_for(band_words(per_band), arena.free, ctx.ewp_copies)
    slots = [
        (arena.alloc(in_words(per_band), "input band"), arena.alloc(out_words(per_band), "output band"))
        for _ in range(copies)
    ]
    is_avg = layer.kind == "avg_pool"
    mult = np.asarray(layer.arrays.get("mult", np.zeros((oh, ow))), dtype=np.int64).reshape(oh, ow)
    shift = np.asarray(layer.arrays.get("shift", np.zeros((oh, ow))), dtype=np.int64).reshape(oh, ow)
    steps = [(sample, band) for sample in ctx.samples for band in bands]

    def rows_of(band: Segment) -> tuple[int, int]:
        return max(0, band.start * sy - top), min(h, (band.stop - 1) * sy - top + kh)

    def load(index: int) -> int:
        sample, band = steps[index]
        iy0, iy1 = rows_of(band)
        held = ctx.cached(x, x.at(sample, iy0 * row_words))
        if held is not None:
            return held
        inbuf = slots[index % copies][0]
        ctx.load(x, x.at(sample, iy0 * row_words), Pattern.contiguous(inbuf, (iy1 - iy0) * row_words))
        return inbuf

    def work(index: int, inbuf: int) -> None:
        sample, band = steps[index]
        iy0, iy1 = rows_of(band)
        outbuf = slots[index % copies][1]
        kept = ctx.cached(y, y.at(sample, band.start * ow * y.wpp))
        outbuf = outbuf if kept is None else kept
        pieces = _rectangles(mult, shift, band.start, band.stop) if is_avg else [(band.start, band.stop, 0, ow)]
        for r0, r1, c0, c1 in pieces:
            for word in range(x.wpp):
                lanes = min(ctx.cwl, c - word * ctx.cwl)
                dst = Pattern(
                    outbuf + ((r0 - band.start) * ow + c0) * y.wpp + word, ((r1 - r0, ow * y.wpp), (c1 - c0, y.wpp))
                )
                window = dict(
                    dst=dst,
                    src=inbuf + word,
                    h=iy1 - iy0,
                    w=w,
                    row=row_words,
                    pix=x.wpp,
                    oh=r1 - r0,
                    ow=c1 - c0,
                    sy=sy,
                    sx=sx,
                    py=top - r0 * sy + iy0,
                    px=left - c0 * sx,
                    kh=kh,
                    kw=kw,
                    dy=1,
                    dx=1,
                )
                if is_avg:
                    ctx.emit(
                        Unit.EWP,
                        AvgPool(
                            **window,
                            za=int(layer.get("in_zero_point", 0)),
                            mult=int(mult[r0, c0]),
                            shift=int(shift[r0, c0]),
                            zo=y.tensor.zero_point,
                            lo=-128,
                            hi=127,
                            off=0,
                            len=lanes,
                        ),
                    )
                else:
                    ctx.emit(Unit.EWP, MaxPool(**window, off=0, len=lanes))
        n = len(band) * ow
        ctx.store(y, y.at(sample, band.start * ow * y.wpp), Pattern.contiguous(outbuf, n * y.wpp))

    pipeline(len(steps), copies, load, work)


def _lower_packed_max_pool(ctx: Context, layer: Layer, x: Buffer, y: Buffer, q: int) -> None:
    """A max pool of a kept input its producer left packed (``q`` pixels in the word of each group's first
    pixel, see ``Context.packed``), band by band: the window's vertical maximum of the packed words (every
    lane, so ``q`` pixels per word read), ``q - 1`` MOVEs that unpack those rows into a row buffer, then the
    horizontal maximum.  The maximum over a window is the maximum over its rows of the rows' maxima, and
    padding is left out of both."""
    _, h, w, c = x.tensor.shape
    (kh, kw), (sy, sx) = layer.get("kernel"), layer.get("strides")
    top, _, left, _ = layer.get("pads", [0, 0, 0, 0])
    oh, ow = y.tensor.shape[1:3]
    groups = -(-w // q)
    arena = ctx.arena(layer.name)
    out_kept = ctx.kept_block(y)

    def band_words(rows: int) -> int:
        return rows * w + (0 if out_kept else rows * ow)

    per_band, copies = fit_rows(oh, band_words, arena.free, oh, layer.name, "row maxima", ctx.ewp_copies)
    if copies > 1:  # the next layer starts on the first bands; the last, waiting for the producer's last, is short
        per_band = min(per_band, -(-oh // (2 * ctx.spatial_limit)))
    bands = even_bands(oh, per_band)
    per_band = max(len(b) for b in bands)
    slots = [
        (arena.alloc(per_band * w, "row maxima"), arena.alloc(0 if out_kept else per_band * ow, "output band"))
        for _ in range(copies)
    ]
    for index, (sample, band) in enumerate((s, b) for s in ctx.samples for b in bands):
        rows_buf, out_buf = slots[index % copies]
        rows = len(band)
        iy0, iy1 = max(0, band.start * sy - top), min(h, (band.stop - 1) * sy - top + kh)
        src = ctx.cached(x, x.at(sample, iy0 * w))
        assert src is not None  # packed tensors are kept
        vertical = dict(src=src, h=iy1 - iy0, w=groups, row=w, pix=q, oh=rows, ow=groups, sy=sy, sx=1)
        window = dict(py=top - band.start * sy + iy0, px=0, kh=kh, kw=1, dy=1, dx=1)
        dst = Pattern(rows_buf, ((rows, w), (groups, q)))
        ctx.emit(Unit.EWP, MaxPool(dst=dst, **vertical, **window, off=0, len=q * c))
        for i in range(1, q):
            count = -(-(w - i) // q)
            move = Move(
                dst=Pattern(rows_buf + i, ((rows, w), (count, q))),
                src=Pattern(rows_buf, ((rows, w), (count, q))),
                src_off=i * c,
                dst_off=0,
                len=c,
            )
            ctx.emit(Unit.EWP, move)
        kept = ctx.cached(y, y.at(sample, band.start * ow))
        out = out_buf if kept is None else kept
        horizontal = dict(src=rows_buf, h=rows, w=w, row=w, pix=1, oh=rows, ow=ow, sy=1, sx=sx)
        window = dict(py=0, px=left, kh=1, kw=kw, dy=1, dx=1)
        ctx.emit(Unit.EWP, MaxPool(dst=Pattern.contiguous(out, rows * ow), **horizontal, **window, off=0, len=c))
        ctx.store(y, y.at(sample, band.start * ow), Pattern.contiguous(out, rows * ow))
