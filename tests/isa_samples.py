"""One valid instance of every instruction, for encoding and text round trips."""

from __future__ import annotations

from pytpu.isa import (
    Add,
    AvgPool,
    Drain,
    Fill,
    Gemm,
    Interp,
    LayerNorm,
    Load,
    LoadWeights,
    Lut,
    MaxPool,
    Move,
    Mul,
    Pack,
    Pattern,
    PRelu,
    Program,
    Ref,
    Rescale,
    Softmax,
    Store,
    Unit,
)

P = Pattern
WINDOW = dict(src=100, h=9, w=9, row=9, pix=1, oh=5, ow=5, sy=2, sx=2, py=1, px=1, kh=3, kw=3, dy=1, dx=1)


def sample_program() -> Program:
    me = (
        LoadWeights(buf=1, addr=20000, k=128, m=72, deps=(Ref(Unit.DTL1, 0),)),
        Gemm(buf=1, x=P(0, ((10, 60), (15, 3))), off=0, k=128, m=72, acc=3900, accumulate=1),
        Drain(acc=3900, m=72, params=30000, zo=-3, lo=-3, hi=127, dst=P(5000, ((150, 2),)), off=56),
    )
    ewp = (
        Rescale(
            dst=P(6000, ((8, 1),)),
            a=P(0, ((8, 1),)),
            za=5,
            mult=-(1 << 31),
            shift=62,
            zo=0,
            lo=-128,
            hi=127,
            off=0,
            len=128,
            deps=(Ref(Unit.ME, 2),),
        ),
        Add(
            dst=P(6000, ((8, 1),)),
            a=P(0, ((8, 1),)),
            b=P(7, ((8, 0),)),
            za=-128,
            zb=127,
            ma=(1 << 31) - 1,
            mb=-5,
            shift=0,
            zo=1,
            lo=-100,
            hi=100,
            off=3,
            len=5,
        ),
        Mul(dst=P(6000), a=P(1), b=P(2), za=0, zb=0, mult=1, shift=1, zo=0, lo=0, hi=0, off=127, len=1),
        Lut(dst=P(6000, ((2, 1), (3, -1))), a=P(10, ((6, 1),)), table=32766, off=0, len=128),
        MaxPool(dst=P(7000, ((25, 1),)), **WINDOW, off=0, len=64),
        AvgPool(dst=P(7000, ((25, 1),)), **WINDOW, za=-7, mult=123456, shift=20, zo=2, lo=-128, hi=127, off=64, len=64),
        Pack(dst=P(8000, ((25, 1),)), dst_off=10, **WINDOW, src_off=1, len=5, fill=-7),
        Move(dst=P(9000, ((4, 2), (3, 1))), src=P(9500, ((12, 1),)), src_off=0, dst_off=64, len=64),
        Fill(dst=P(9100, ((100, 1),)), value=-128, off=0, len=128, deps=(Ref(Unit.DTL0, 1), Ref(Unit.ME, 0))),
        Softmax(
            dst=P(9300, ((16, 1),)),
            src=P(9200, ((16, 1),)),
            words=8,
            last=104,
            table=9400,
            mult=16711728,
            shift=16,
            zo=-128,
        ),
        PRelu(
            dst=P(9600, ((6, 2),)),
            a=P(9500, ((6, 2),)),
            za=-3,
            pos=1 << 29,
            neg=9700,
            shift=31,
            zo=4,
            lo=-128,
            hi=127,
            off=0,
            len=17,
        ),
        Interp(
            dst=P(9800, ((4, 12), (6, 1))),
            src=P(9900, ((4, 6), (3, 0), (2, 1))),
            taps=3,
            d1=1,
            d2=-6,
            d3=0,
            w0=256,
            w1=512,
            w2=256,
            w3=0,
            shift=10,
            zo=0,
            lo=-128,
            hi=127,
            off=0,
            len=128,
        ),
        LayerNorm(
            dst=P(10000, ((12, 1),)),
            src=P(10100, ((12, 1),)),
            words=2,
            last=2,
            eps=(1 << 56) - 1,
            table=10200,
            params=10300,
            zo=-7,
        ),
    )
    dtl0 = (
        Load(ch=0, ddr=P(1 << 24, ((16, 1),)), cache=P(0, ((16, 1),))),
        Store(ch=1, cache=P(5000, ((300, 1),)), ddr=P((1 << 25) - 300, ((300, 1),)), deps=(Ref(Unit.ME, 2),)),
    )
    dtl1 = (Load(ch=1, ddr=P(0, ((72, 1),)), cache=P(20000, ((72, 1),))),)
    return Program(me=me, ewp=ewp, dtl0=dtl0, dtl1=dtl1)
