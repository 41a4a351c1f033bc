"""Element-wise processor on the simulated device, against independent numpy references."""

from __future__ import annotations

import numpy as np

from pytpu.isa import Add, AvgPool, Fill, Lut, MaxPool, Move, Mul, Pattern, Program, Rescale
from pytpu.isa.layouts import pack_lut
from pytpu.sim import Simulator
from tests.tpu_reference import clamp8, pool_windows, requantize, round_shift

CWL = 128
rng = np.random.default_rng(7)


def contiguous(at, n):
    return Pattern(at, ((n, 1),))


def test_add_lut_mul_chain():
    """ADD -> LUT -> MUL over 40 words, 100 channels each (bytes 100..127 of the outputs are kept)."""
    n, c = 40, 100
    a, b = (rng.integers(-128, 128, (n, CWL), dtype=np.int8) for _ in range(2))
    scale = rng.integers(-128, 128, (1, CWL), dtype=np.int8)  # one word broadcast to every pixel
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    sim = Simulator()
    sim.write_cache(0, a)
    sim.write_cache(100, b)
    sim.write_cache(200, scale)
    sim.write_cache(210, pack_lut(table, CWL))
    sim.write_cache(300, np.full((n, CWL), 99, np.int8))  # marker bytes that must survive
    add = Add(
        dst=contiguous(300, n),
        a=contiguous(0, n),
        b=contiguous(100, n),
        za=3,
        zb=-5,
        ma=1 << 20,
        mb=-(3 << 19),
        shift=21,
        zo=2,
        lo=-120,
        hi=120,
        off=0,
        len=c,
    )
    lut = Lut(dst=contiguous(300, n), a=contiguous(300, n), table=210, off=0, len=c)
    mul = Mul(
        dst=contiguous(400, n),
        a=contiguous(300, n),
        b=Pattern(200, ((n, 0),)),
        za=1,
        zb=-2,
        mult=1 << 24,
        shift=31,
        zo=0,
        lo=-128,
        hi=127,
        off=0,
        len=c,
    )
    timeline = sim.run(Program(ewp=(add, lut, mul)))

    av, bv = a[:, :c].astype(object), b[:, :c].astype(object)
    added = clamp8(round_shift((av - 3) * (1 << 20) + (bv + 5) * -(3 << 19), 21), 2, -120, 120)
    looked = table[added.astype(np.int64) + 128]
    expected = requantize((looked.astype(object) - 1) * (scale[:, :c].astype(object) + 2), 1 << 24, 31, 0, -128, 127)
    assert np.array_equal(sim.read_cache(400, n)[:, :c], expected)
    assert (sim.read_cache(300, n)[:, c:] == 99).all()
    # EWP is in order: ADD 16 + 2*40 = 96; LUT 16 + 40 + 2 table words = 58; MUL 96 -> 250 cycles
    assert [(e.start, e.end) for e in timeline.events] == [(0, 96), (96, 154), (154, 250)]


def test_rescale():
    a = rng.integers(-128, 128, (8, CWL), dtype=np.int8)
    sim = Simulator()
    sim.write_cache(0, a)
    ins = Rescale(
        dst=contiguous(10, 8),
        a=contiguous(0, 8),
        za=-9,
        mult=-(1 << 30),
        shift=31,
        zo=5,
        lo=-100,
        hi=90,
        off=0,
        len=CWL,
    )
    sim.run(Program(ewp=(ins,)))
    assert np.array_equal(sim.read_cache(10, 8), requantize(a.astype(object) + 9, -(1 << 30), 31, 5, -100, 90))


def image(h, w):
    x = rng.integers(-128, 128, (h, w, CWL), dtype=np.int8)
    sim = Simulator()
    sim.write_cache(0, x.reshape(h * w, CWL))
    return sim, x


def window(h, w, k, stride, pad, out):
    return dict(
        src=0, h=h, w=w, row=w, pix=1, oh=out, ow=out, sy=stride, sx=stride, py=pad, px=pad, kh=k, kw=k, dy=1, dx=1
    )


def test_max_pool_3x3_stride_2_padding_never_wins():
    sim, x = image(9, 9)
    x[:2, :2, 0] = -128  # output (0, 0) sees only -128 in lane 0 beside its padding: the result is -128
    sim.write_cache(0, x.reshape(81, CWL))
    ins = MaxPool(dst=contiguous(1000, 25), **window(9, 9, 3, 2, 1, 5), off=0, len=CWL)
    sim.run(Program(ewp=(ins,)))
    expected = np.array([[np.max(taps, axis=0) for taps in row] for row in pool_windows(x, 3, 2, 1)], dtype=np.int8)
    assert np.array_equal(sim.read_cache(1000, 25), expected.reshape(25, CWL))
    assert sim.read_cache(1000, 1)[0, 0] == -128


def test_avg_pool_with_padding_counts_only_inside_taps():
    """3x3 stride 1 pad 1: padding contributes (za - za) = 0 to the sum, the divisor is in mult (1/9)."""
    sim, x = image(6, 6)
    za, mult, shift, zo = 4, round((1 << 20) / 9), 20, -1
    ins = AvgPool(
        dst=contiguous(1000, 36),
        **window(6, 6, 3, 1, 1, 6),
        za=za,
        mult=mult,
        shift=shift,
        zo=zo,
        lo=-128,
        hi=127,
        off=0,
        len=CWL,
    )
    sim.run(Program(ewp=(ins,)))
    sums = np.array(
        [[np.sum(np.array(taps, dtype=object) - za, axis=0) for taps in row] for row in pool_windows(x, 3, 1, 1)]
    )
    assert np.array_equal(sim.read_cache(1000, 36), requantize(sums, mult, shift, zo, -128, 127).reshape(36, CWL))


def test_global_avg_pool():
    """7x7 window over a 7x7 map: one output, 49 taps; 16 + 49 cycles."""
    sim, x = image(7, 7)
    za, mult, shift = -3, round((1 << 24) / 49), 24
    ins = AvgPool(
        dst=contiguous(500, 1),
        **window(7, 7, 7, 1, 0, 1),
        za=za,
        mult=mult,
        shift=shift,
        zo=0,
        lo=-128,
        hi=127,
        off=0,
        len=CWL,
    )
    timeline = sim.run(Program(ewp=(ins,)))
    sums = (x.reshape(49, CWL).astype(object) - za).sum(axis=0)
    assert np.array_equal(sim.read_cache(500, 1)[0], requantize(sums, mult, shift, 0, -128, 127))
    assert timeline.cycles == 16 + 49


def test_move_concatenates_channels_and_fill_pads():
    """Two 40-channel tensors into bytes 0..39 and 40..79 of the same words, the rest filled with the zero point."""
    a, b = (rng.integers(-128, 128, (12, CWL), dtype=np.int8) for _ in range(2))
    sim = Simulator()
    sim.write_cache(0, a)
    sim.write_cache(20, b)
    program = Program(
        ewp=(
            Fill(dst=contiguous(100, 12), value=-6, off=80, len=48),
            Move(dst=contiguous(100, 12), src=contiguous(0, 12), src_off=0, dst_off=0, len=40),
            # b's words walked backwards into reversed rows: patterns move spatial positions too
            Move(dst=Pattern(111, ((12, -1),)), src=contiguous(20, 12), src_off=0, dst_off=40, len=40),
        )
    )
    sim.run(program)
    out = sim.read_cache(100, 12)
    assert np.array_equal(out[:, :40], a[:, :40])
    assert np.array_equal(out[:, 40:80], b[::-1, :40])
    assert (out[:, 80:] == -6).all()
