"""Convolutions through PACK (im2col) and GEMM, against a direct numpy convolution."""

from __future__ import annotations

import numpy as np

from pytpu.isa import Drain, Gemm, LoadWeights, Pack, Pattern, ProgramBuilder, Unit
from pytpu.isa.layouts import pack_output_stage, pack_weight_tile, weight_tile_words
from pytpu.sim import Simulator
from tests.tpu_reference import conv2d, requantize

CWL = 128
X_AT, COL_AT, W_AT, P_AT, OUT_AT = 0, 4000, 8000, 12000, 13000


def setup(h, w, c, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (h, w, c), dtype=np.int8)
    weights = rng.integers(-127, 128, (3, 3, c, m), dtype=np.int8)
    bias = rng.integers(-2000, 2000, m).astype(np.int32)
    mult = rng.integers(1 << 28, 1 << 30, m).astype(np.int32)
    shift = np.full(m, 38, np.uint8)
    sim = Simulator()
    padded = np.zeros((h * w, CWL), dtype=np.int8)  # one word per pixel, channels 0..c-1
    padded[:, :c] = x.reshape(-1, c)
    sim.write_cache(X_AT, padded)
    sim.write_cache(P_AT, pack_output_stage(bias, mult, shift, CWL))
    return sim, x, weights, (bias, mult, shift)


def window(h, w, oh, ow, stride, pad, dilation, **taps):
    """Window fields of a PACK over an h x w image stored one word per pixel at X_AT."""
    fields = dict(src=X_AT, h=h, w=w, row=w, pix=1, oh=oh, ow=ow, sy=stride, sx=stride, py=pad, px=pad)
    return fields | dict(kh=3, kw=3, dy=dilation, dx=dilation) | taps


def test_strided_3x3_conv_with_padding():
    """3x3, stride 2, padding 1 on 11 x 11 x 5 -> 6 x 6 x 20: one PACK builds 45-byte im2col rows."""
    h = w = 11
    c, m, oh, zx, zo = 5, 20, 6, -7, 4
    sim, x, weights, (bias, mult, shift) = setup(h, w, c, m, seed=0)
    sim.write_cache(W_AT, pack_weight_tile(weights.reshape(9 * c, m), CWL))
    n = oh * oh
    b = ProgramBuilder()
    pack = b.emit(
        Unit.EWP,
        Pack(dst=Pattern(COL_AT, ((n, 1),)), dst_off=0, **window(h, w, oh, oh, 2, 1, 1), src_off=0, len=c, fill=zx),
    )
    b.emit(Unit.ME, LoadWeights(buf=0, addr=W_AT, k=9 * c, m=m))
    b.emit(Unit.ME, Gemm(buf=0, x=Pattern(COL_AT, ((n, 1),)), off=0, k=9 * c, m=m, acc=0, accumulate=0), after=[pack])
    b.emit(Unit.ME, Drain(acc=0, m=m, params=P_AT, zo=zo, lo=zo, hi=127, dst=Pattern(OUT_AT, ((n, 1),)), off=0))
    timeline = sim.run(b.build())

    acc = conv2d(x, weights, stride=2, pad=1, dilation=1, fill=zx).reshape(n, m) + bias
    expected = requantize(acc, mult.astype(np.int64), shift.astype(np.int64), zo, zo, 127)
    assert np.array_equal(sim.read_cache(OUT_AT, n)[:, :m], expected)
    # The im2col row of output (0, 0): its top row and left column of taps are padding (zx).
    row0 = sim.read_cache(COL_AT, 1)[0, : 9 * c].reshape(3, 3, c)
    assert (row0[0] == zx).all() and (row0[:, 0] == zx).all() and np.array_equal(row0[1, 1], x[0, 0])
    # PACK reads one word per inside (output, tap) pair. Per axis 6 outputs x 3 taps = 18 pairs, less output 0's
    # first tap (y = -1) and output 5's last (y = 11 > 10): 16. Inside pairs 16 * 16 = 256;
    # W = max(256 reads, 36 writes) = 256 -> 16 + 256 = 272 cycles.
    assert timeline.event(Unit.EWP, 0).end == 272
    # LOADW 45x20: ceil(900/128) = 8 cycles, beside the PACK. The GEMM waits for the PACK (272): new burst,
    # K + M + N = 45 + 20 + 36 = 101 -> 373; DRAIN 36 rows -> 409.
    assert [(e.mnemonic, e.start, e.end) for e in timeline.events if e.unit is Unit.ME] == [
        ("LOADW", 0, 8),
        ("GEMM", 272, 373),
        ("DRAIN", 373, 409),
    ]
    assert timeline.cycles == 409


def test_conv_deeper_than_a_tile_splits_taps_over_k_tiles():
    """3x3, dilation 2, padding 2 on 9 x 9 x 32 (K = 288): taps 0-3 | 4-7 | 8 in three K tiles.

    Tile 0 takes taps (0,0) (0,1) (0,2) with one PACK and (1,0) with another; tile 1 takes (1,1) (1,2) and
    (2,0) (2,1); tile 2 takes (2,2). A sub-window is chosen by shifting py/px by ky0*dy / kx0*dx.
    """
    h = w = 9
    c, m, oh, dil, pad, zx = 32, 24, 9, 2, 2, 3
    sim, x, weights, (bias, mult, shift) = setup(h, w, c, m, seed=1)
    n = oh * oh
    flat = weights.reshape(9 * c, m)
    tiles = [(0, 4), (4, 8), (8, 9)]  # taps [t0, t1) per K tile
    pieces = {  # per tile: (ky0, kx0, kh, kw) sub-windows in tap order
        0: [(0, 0, 1, 3), (1, 0, 1, 1)],
        1: [(1, 1, 1, 2), (2, 0, 1, 2)],
        2: [(2, 2, 1, 1)],
    }
    b = ProgramBuilder()
    w_at = W_AT
    for t, (t0, t1) in enumerate(tiles):
        k = (t1 - t0) * c
        col = Pattern(COL_AT + t * n, ((n, 1),))
        packs, dst_off = [], 0
        for ky0, kx0, kh, kw in pieces[t]:
            fields = window(h, w, oh, oh, 1, pad, dil, kh=kh, kw=kw)
            fields |= dict(py=pad - ky0 * dil, px=pad - kx0 * dil)
            packs.append(b.emit(Unit.EWP, Pack(dst=col, dst_off=dst_off, **fields, src_off=0, len=c, fill=zx)))
            dst_off += kh * kw * c
        assert dst_off == k
        sim.write_cache(w_at, pack_weight_tile(flat[t0 * c : t1 * c], CWL))
        b.emit(Unit.ME, LoadWeights(buf=t % 2, addr=w_at, k=k, m=m))
        b.emit(Unit.ME, Gemm(buf=t % 2, x=col, off=0, k=k, m=m, acc=0, accumulate=int(t > 0)), after=packs)
        w_at += weight_tile_words(k, m, CWL)
    b.emit(Unit.ME, Drain(acc=0, m=m, params=P_AT, zo=0, lo=-128, hi=127, dst=Pattern(OUT_AT, ((n, 1),)), off=0))
    sim.run(b.build())

    acc = conv2d(x, weights, stride=1, pad=pad, dilation=dil, fill=zx).reshape(n, m) + bias
    expected = requantize(acc, mult.astype(np.int64), shift.astype(np.int64), 0, -128, 127)
    assert np.array_equal(sim.read_cache(OUT_AT, n)[:, :m], expected)
