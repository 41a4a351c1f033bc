"""Simulated time, worked by hand from reference_hardware.md's rules (docs/isa.md, "Timing")."""

from __future__ import annotations

import numpy as np
import pytest

from pytpu import get_hw_params
from pytpu.errors import HazardError
from pytpu.isa import Add, Gemm, Load, LoadWeights, MaxPool, Pattern, Program, ProgramBuilder, Ref, Store, Unit
from pytpu.sim import Simulator


def words(at, n):
    return Pattern(at, ((n, 1),))


def load(n, ch=0, cache_at=0, ddr_at=0, **kw):
    return Load(ch=ch, ddr=words(ddr_at, n), cache=words(cache_at, n), **kw)


def run(program, hw="128x128_asic", **options):
    return Simulator(get_hw_params(hw)).run(program, **options)


def test_dma_latency_and_bandwidth():
    # 4 words = 512 bytes: the lane is busy ceil(512/32) = 16 cycles; data usable 500 cycles after the start.
    t = run(Program(dtl0=(load(4),)))
    e = t.event(Unit.DTL0, 0)
    assert (e.start, e.end, e.done) == (0, 16, 500)
    assert t.cycles == 500
    # 1000 words = 128,000 bytes: 4000 cycles on the lane, longer than the latency: done at 4000.
    assert run(Program(dtl0=(load(1000),))).cycles == 4000


def test_dma_latency_overlaps_the_lanes_next_transfers():
    # Same lane: the second transfer starts when the lane frees (16) and is done at 16 + 500.
    t = run(Program(dtl0=(load(4), load(4, cache_at=4, ddr_at=4))))
    assert [(e.start, e.done) for e in t.events] == [(0, 500), (16, 516)]


def test_lanes_share_a_ddr_channel():
    # Two lanes on DDR0: one channel serves 32 bytes per cycle in total, so DTL1 waits for DTL0's 16 cycles.
    t = run(Program(dtl0=(load(4),), dtl1=(load(4, cache_at=4, ddr_at=4),)))
    assert (t.event(Unit.DTL1, 0).start, t.cycles) == (16, 516)
    # On DDR0 and DDR1 they run side by side.
    t = run(Program(dtl0=(load(4),), dtl1=(load(4, ch=1, cache_at=4),)))
    assert (t.event(Unit.DTL1, 0).start, t.cycles) == (0, 500)
    assert t.busy_cycles()["DDR0"] == t.busy_cycles()["DDR1"] == 16


def test_ewp_cost_and_dependency_on_a_load():
    add = Add(
        dst=words(100, 10),
        a=words(0, 10),
        b=words(0, 10),
        za=0,
        zb=0,
        ma=1,
        mb=1,
        shift=0,
        zo=0,
        lo=-128,
        hi=127,
        off=0,
        len=128,
        deps=(Ref(Unit.DTL0, 0),),
    )
    # The ADD waits for the LOAD's data (500), then costs 16 + max(20 words read, 10 written) = 36.
    t = run(Program(ewp=(add,), dtl0=(load(10),)))
    assert (t.event(Unit.EWP, 0).start, t.cycles) == (500, 536)


def test_pool_reads_inside_taps_only():
    # 3x3 stride 1 pad 1 on 4x4: per axis 4 outputs x 3 taps = 12 pairs, 2 in padding -> 10; 10*10 = 100 reads.
    pool = MaxPool(
        dst=words(100, 16),
        src=0,
        h=4,
        w=4,
        row=4,
        pix=1,
        oh=4,
        ow=4,
        sy=1,
        sx=1,
        py=1,
        px=1,
        kh=3,
        kw=3,
        dy=1,
        dx=1,
        off=0,
        len=128,
    )
    assert run(Program(ewp=(pool,))).cycles == 16 + 100


def tile(buf, n, acc=0):
    return [
        LoadWeights(buf=buf, addr=1000 + 128 * buf, k=128, m=128),
        Gemm(buf=buf, x=words(0, n), off=0, k=128, m=128, acc=acc, accumulate=0),
    ]


def test_weight_load_bound_tiles_break_the_burst():
    """128x128 tiles at N = 64: the array waits for weights (128 > 64), so every tile after the second pays K+M."""
    t = run(Program(me=(*tile(0, 64), *tile(1, 64), *tile(0, 64))))
    ev = [(e.mnemonic, e.start, e.end) for e in t.events]
    assert ev == [
        ("LOADW", 0, 128),  # ceil(128*128/128) = 128
        ("GEMM", 128, 448),  # waited for its weights: new burst, 256 + 64
        ("LOADW", 128, 256),  # other buffer, overlaps GEMM0
        ("GEMM", 448, 512),  # ready at 256 <= 448: the burst continues, 64
        ("LOADW", 448, 576),  # buffer 0 is free once GEMM0 is done (448)
        ("GEMM", 576, 896),  # the array idled 512..576: new burst, 256 + 64
    ]


def test_compute_bound_tiles_keep_one_burst():
    """At N = 512 each LOADW (128) hides behind the previous GEMM: one fill for the whole run."""
    t = run(Program(me=(*tile(0, 512), *tile(1, 512, acc=512), *tile(0, 512, acc=1024))))
    # first LOADW 128 + fill 256 + 3 GEMMs x 512
    assert t.cycles == 128 + 256 + 3 * 512


def chain():
    """LOAD x -> ADD (x + x) -> STORE, one dependency per step."""
    b = ProgramBuilder()
    got = b.emit(Unit.DTL0, load(8, ddr_at=0, cache_at=0))
    add = Add(
        dst=words(100, 8),
        a=words(0, 8),
        b=words(0, 8),
        za=0,
        zb=0,
        ma=1,
        mb=1,
        shift=0,
        zo=0,
        lo=-128,
        hi=127,
        off=0,
        len=128,
    )
    added = b.emit(Unit.EWP, add, after=[got])
    b.emit(Unit.DTL1, Store(ch=1, cache=words(100, 8), ddr=words(0, 8)), after=[added])
    return b.build()


def run_chain(program, **options):
    sim = Simulator()
    x = np.full((8, 128), 3, np.int8)
    sim.write_ddr(0, 0, x)
    timeline = sim.run(program, **options)
    return timeline, sim.read_ddr(1, 0, 8 * 128).reshape(8, 128)


def test_removing_a_dependency_changes_the_time_and_reads_stale_data():
    program = chain()
    timeline, out = run_chain(program)
    # LOAD: 8 words = 1024 bytes -> 32 lane cycles, done at 500; ADD 500..(500 + 16 + 16) = 532;
    # STORE 532..564 on the lane, done 532 + 500 = 1032.
    assert timeline.cycles == 1032
    assert (out == 6).all()

    racy = program.without_dep(Ref(Unit.EWP, 0), Ref(Unit.DTL0, 0))
    with pytest.raises(HazardError, match=r"DTL0:0 LOAD: writes cache words 0..7 read by EWP:0 ADD and no dep"):
        run_chain(racy)
    timeline, out = run_chain(racy, disable_static_checker=True)
    # The ADD now starts at 0 and reads the cache before the load lands: 0..32, STORE 32..64, done 532.
    assert timeline.cycles == 532
    assert (out == 0).all()


def test_second_platform_has_its_own_timing():
    # 64x64_fpga: 64-byte words, 16 bytes per cycle, 200 cycles of latency, 250 MHz.
    t = run(Program(dtl0=(load(1000),)), hw="64x64_fpga")
    assert t.cycles == 1000 * 64 // 16 == 4000
    assert t.execution_time_us == 16.0
    assert run(Program(dtl0=(load(4),)), hw="64x64_fpga").cycles == 200


def test_busy_and_idle_per_unit():
    t = run(Program(me=tuple(tile(0, 64))))
    busy, idle = t.busy_us(), t.idle_us()
    assert busy["ME.load"] == 0.128 and busy["ME.array"] == 0.320
    assert idle["ME.array"] == pytest.approx(0.128) and idle["EWP"] == pytest.approx(0.448)


def test_timing_a_program_gives_its_run_s_times_and_moves_no_data():
    program = Program(dtl0=(load(4), load(1000, cache_at=4, ddr_at=4)), dtl1=(load(4, ch=1, cache_at=2000),))
    sim = Simulator(get_hw_params("128x128_asic"))
    sim.write_ddr(0, 0, np.full(128 * 1004, 7, dtype=np.int8))
    timed = sim.time(program)
    assert not sim.read_cache(0, 1004).any()  # nothing was loaded
    ran = sim.run(program)
    assert [(e.start, e.end, e.done) for e in timed.events] == [(e.start, e.end, e.done) for e in ran.events]
    assert (sim.read_cache(0, 1004) == 7).all()
