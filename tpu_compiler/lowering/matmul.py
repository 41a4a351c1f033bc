"""MatMul of two activations on the matrix engine: the right operand becomes the weight tiles.

Both operands have zero point 0 (the quantizer's contract), so the product needs no correction: per batch
index (batch axes broadcast), ``out[n, m] = requantize(sum_k a[n, k] * b[k, m], mult, shift, zo, lo, hi)``
is GEMMs and a DRAIN whose output-stage block has bias 0 and the layer's one multiplier and shift in every
column.  The left operand's rows are its stored pixels (``a[n, :]``, K inputs in the lanes), loaded in bands
of rows with the output rows they make, or, with ``transpose_a``, the whole matrix first transposed into
such rows; each ``K x M`` tile of the right operand (at most
``array_rows`` x ``array_columns``, inside one word of the rows and of the output) is built in the dense
row-major layout LOADW reads, once per distinct right matrix: row ``k`` of the tile is a run of bytes of
the stored row ``k`` (MOVEs), or with ``transpose_b`` a column of the stored matrix.

A transpose is PACKs: one PACK with ``len = 1`` and one tap per source row (``pix`` = the rows' stride)
copies byte ``c`` of up to ``cwl`` consecutive rows into consecutive bytes, so a column costs one EWP
instruction per word it fills instead of one MOVE per byte.
"""

from __future__ import annotations

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Drain, Gemm, Pack, Pattern, Unit
from pytpu.isa.layouts import pack_output_stage, weight_tile_words
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.lowering.gather import Side, emit_gather
from tpu_compiler.lowering.me_stream import MeStream, drain_stage
from tpu_compiler.network import Layer


def _chunks(size: int, cwl: int, most: int) -> list[tuple[int, int]]:
    """``[c0, c1)`` ranges of at most ``most`` covering ``0 .. size-1``, none crossing a word."""
    out = []
    for word in range(-(-size // cwl)):
        end = min((word + 1) * cwl, size)
        out += [(s, min(s + most, end)) for s in range(word * cwl, end, most)]
    return out


def _matrix(shape: tuple[int, ...], index: tuple[int, ...]) -> int:
    """Which matrix of an operand (its batch axes broadcast against the output's) a batch index reads."""
    batch = shape[:-2]
    reduced = [i if d != 1 else 0 for i, d in zip(index[len(index) - len(batch) :], batch, strict=True)]
    return int(np.ravel_multi_index(reduced, batch)) if batch else 0


def lower_matmul(ctx: Context, layer: Layer) -> None:
    a, b = (ctx.buffers[name] for name in layer.inputs)
    y = ctx.buffers[layer.name]
    ta, tb = bool(layer.get("transpose_a", False)), bool(layer.get("transpose_b", False))
    sa, sb, so = a.tensor.shape, b.tensor.shape, y.tensor.shape
    n_rows, depth = (sa[-1], sa[-2]) if ta else (sa[-2], sa[-1])
    columns = sb[-2] if tb else sb[-1]
    cwl, lim = ctx.cwl, ctx.lim
    a_words, b_words = sa[-2] * a.wpp, sb[-2] * b.wpp  # one matrix of each operand as stored
    rows_wpp = ctx.wpp(depth)
    k_chunks = _chunks(depth, cwl, min(lim.array_rows, cwl))
    m_chunks = _chunks(columns, cwl, min(lim.array_columns, cwl))
    tiles = [(k, m) for m in m_chunks for k in k_chunks]
    tile_words = [weight_tile_words(k1 - k0, m1 - m0, cwl) for (k0, k1), (m0, m1) in tiles]
    n_step = min(lim.max_rows, lim.acc_rows // 2)
    arena = ctx.arena(layer.name)
    mult, shift = int(layer.get("mult")), int(layer.get("shift"))
    params = {}
    for width in sorted({m1 - m0 for m0, m1 in m_chunks}):
        block = pack_output_stage(np.zeros(width), np.full(width, mult), np.full(width, shift), cwl)
        params[width] = ctx.load_constant(arena, block, "output stage")
    out_words = n_rows * y.wpp  # one output matrix
    # Whole: the right matrix and its tiles (and with transpose_a the left matrix and its rows); in bands of
    # rows: the left rows (as stored) and the output, twice.
    whole = b_words + sum(tile_words) + (a_words + n_rows * rows_wpp if ta else 0)
    copies = ctx.me_copies
    per_row = (0 if ta else a.wpp) + copies * y.wpp
    band = min(n_rows, n_step, (arena.free - whole) // per_row)
    if band < 1:
        raise CompilationError(
            f"layer {layer.name!r} cannot be placed: the right matrix and one row need {whole + per_row} cache "
            f"words, {arena.free} are free"
        )
    b_at = arena.alloc(b_words, "right matrix")
    tile_at = [arena.alloc(words, "weight tile") for words in tile_words]
    a_at = arena.alloc(a_words if ta else band * a.wpp, "left matrix")
    rows_at = arena.alloc(n_rows * rows_wpp, "left rows") if ta else a_at
    out_at = [arena.alloc(band * y.wpp, "output rows") for _ in range(copies)]
    zo, lo, hi = drain_stage(layer, y)
    me = MeStream(ctx)
    step = 0
    for sample in ctx.samples:
        held: dict[str, int | None] = {"a": None, "b": None}
        for index in np.ndindex(*so[:-2]):
            ia, ib = _matrix(sa, index), _matrix(sb, index)
            if ta and held["a"] != ia:  # a[k, n] -> rows n of K lanes, for the whole matrix
                held["a"] = ia
                stored = _place(ctx, a, a.at(sample, ia * a_words), a_at, a_words)
                for col in range(n_rows):
                    _pack_column(ctx, stored, a.wpp, 0, depth, col, (rows_at + col * rows_wpp) * cwl)
            if held["b"] != ib:
                held["b"] = ib
                source = _place(ctx, b, b.at(sample, ib * b_words), b_at, b_words)
                for i, ((k0, k1), (m0, m1)) in enumerate(tiles):
                    width = m1 - m0
                    if tb:  # b[m, k]: tile row k is column k of the stored rows m0..m1-1
                        for k in range(k0, k1):
                            _pack_column(ctx, source, b.wpp, m0, m1, k, tile_at[i] * cwl + (k - k0) * width)
                    elif width == cwl and b.wpp == 1:  # whole words, one per row: the stored rows are the tile
                        tile_at[i] = source + k0
                    else:
                        kk, mm = np.meshgrid(np.arange(k0, k1), np.arange(m0, m1), indexing="ij")
                        tile = Side(tile_at[i], (k1 - k0) * width, tile_words[i])
                        emit_gather(ctx, (kk * columns + mm).reshape(-1), [Side(source, sb[-1], b.wpp)], tile, 0)
            flat = int(np.ravel_multi_index(index, so[:-2])) if so[:-2] else 0
            for n0 in range(0, n_rows, band):
                n = min(band, n_rows - n0)
                if ta:
                    rows, stride = rows_at + n0 * rows_wpp, rows_wpp
                else:
                    rows = _place(ctx, a, a.at(sample, ia * a_words + n0 * a.wpp), a_at, n * a.wpp)
                    stride = a.wpp
                ddr = y.at(sample, flat * out_words + n0 * y.wpp)
                kept = ctx.cached(y, ddr)
                out = out_at[step % copies] if kept is None else kept
                step += 1
                for m0, m1 in m_chunks:
                    acc = me.next_block()
                    chunk = [(k, at) for (k, m), at in zip(tiles, tile_at, strict=True) if m[0] == m0]
                    for i, ((k0, k1), at) in enumerate(chunk):
                        buf = me.loadw(at, k1 - k0, m1 - m0)
                        x = Pattern(rows + k0 // cwl, ((n, stride),))
                        gemm = Gemm(buf=buf, x=x, off=k0 % cwl, k=k1 - k0, m=m1 - m0, acc=acc, accumulate=int(i > 0))
                        ctx.emit(Unit.ME, gemm)
                    me.pending = Drain(
                        acc=acc,
                        m=m1 - m0,
                        params=params[m1 - m0],
                        zo=zo,
                        lo=lo,
                        hi=hi,
                        dst=Pattern(out + m0 // cwl, ((n, y.wpp),)),
                        off=m0 % cwl,
                    )
                me.flush()
                ctx.store(y, ddr, Pattern.contiguous(out, n * y.wpp))


def _pack_column(ctx: Context, src: int, wpp: int, r0: int, r1: int, col: int, dst_byte: int) -> None:
    """Element ``col`` of the stored rows ``r0 .. r1-1`` (``wpp`` words each, from word ``src``) into consecutive
    cache bytes from byte ``dst_byte`` (word ``dst_byte // cwl``, byte ``dst_byte % cwl``): PACKs of one byte
    per tap, one per destination word."""
    cwl = ctx.cwl
    while r0 < r1:
        word, off = divmod(dst_byte, cwl)
        n = min(r1 - r0, cwl - off, 255)
        ctx.emit(
            Unit.EWP,
            Pack(
                dst=Pattern(word),
                dst_off=off,
                src=src + r0 * wpp + col // cwl,
                h=1,
                w=n,
                row=0,
                pix=wpp,
                oh=1,
                ow=1,
                sy=1,
                sx=1,
                py=0,
                px=0,
                kh=1,
                kw=n,
                dy=1,
                dx=1,
                src_off=col % cwl,
                len=1,
                fill=0,
            ),
        )
        r0, dst_byte = r0 + n, dst_byte + n


def _place(ctx: Context, buffer: Buffer, ddr_word: int, at: int, words: int) -> int:
    """Cache address of ``words`` words of ``buffer`` from ``ddr_word``: where they are kept, else loaded to ``at``."""
    held = ctx.cached(buffer, ddr_word)
    if held is not None:
        return held
    ctx.load(buffer, ddr_word, Pattern.contiguous(at, words))
    return at
