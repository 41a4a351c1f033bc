"""Capacity, alignment, dependency and hazard violations fail with typed errors naming the instruction."""

from __future__ import annotations

import numpy as np
import pytest

from pytpu.errors import (
    AccumulatorCapacityError,
    AlignmentError,
    CacheCapacityError,
    DdrCapacityError,
    DependencyError,
    DeviceError,
    FieldRangeError,
    HazardError,
    ProgramError,
)
from pytpu.isa import Drain, Fill, Gemm, Load, LoadWeights, Move, Pattern, Program, Ref, Store, Unit
from pytpu.isa.layouts import pack_output_stage
from pytpu.params import TPU_128x128_PARAMS
from pytpu.sim import Simulator, check_program


def words(at, n):
    return Pattern(at, ((n, 1),))


def gemm(**changes):
    return Gemm(**(dict(buf=0, x=words(0, 16), off=0, k=64, m=64, acc=0, accumulate=0) | changes))


LOADW = LoadWeights(buf=0, addr=100, k=64, m=64)


def fails_both_ways(program, error, match):
    """The static checker and, with it disabled, the device itself raise the same error."""
    with pytest.raises(error, match=match) as static:
        Simulator().run(program)
    with pytest.raises(error, match=match) as dynamic:
        Simulator().run(program, disable_static_checker=True)
    return static.value, dynamic.value


def test_program_that_exceeds_the_cache():
    program = Program(dtl0=(Load(ch=0, ddr=words(0, 40000), cache=words(0, 40000)),))
    err, _ = fails_both_ways(program, CacheCapacityError, r"DTL0:0 LOAD: cache: cache words 0..39999 outside 0..32767")
    assert (err.unit, err.index) == ("DTL0", 0)
    assert isinstance(err, DeviceError)


def test_gemm_rows_outside_the_cache():
    program = Program(me=(LOADW, gemm(x=Pattern(32760, ((2, 8), (8, 1))))))
    err, dyn = fails_both_ways(program, CacheCapacityError, r"ME:1 GEMM: x: cache words 32760..32775 outside")
    assert (err.unit, err.index) == (dyn.unit, dyn.index) == ("ME", 1)


def test_accumulator_rows_beyond_the_last():
    program = Program(me=(LOADW, gemm(acc=4090)))
    fails_both_ways(program, AccumulatorCapacityError, r"ME:1 GEMM: result rows: accumulator rows 4090..4105 outside")


def test_drain_parameters_outside_the_cache():
    drain = Drain(acc=0, m=128, params=32760, zo=0, lo=-128, hi=127, dst=words(0, 4), off=0)
    # 128 channels: 4 + 4 + 1 = 9 parameter words, 32760..32768
    fails_both_ways(Program(me=(drain,)), CacheCapacityError, r"ME:0 DRAIN: parameters: cache words 32760..32768")


def test_ddr_outside_its_channel():
    program = Program(dtl1=(Store(ch=1, cache=words(0, 4), ddr=words((1 << 25) - 2, 4)),))
    fails_both_ways(program, DdrCapacityError, r"DTL1:0 STORE: ddr: words of DDR1 33554430..33554433 outside")


def test_field_out_of_range():
    fails_both_ways(
        Program(dtl0=(Load(ch=2, ddr=words(0, 1), cache=words(0, 1)),)),
        FieldRangeError,
        r"DTL0:0 LOAD: ch=2 outside \[0, ddr_channels-1\]",
    )
    fails_both_ways(Program(me=(LoadWeights(buf=0, addr=0, k=129, m=1),)), FieldRangeError, "ME:0 LOADW: k=129")
    drain = Drain(acc=0, m=8, params=0, zo=0, lo=10, hi=-10, dst=words(0, 4), off=0)
    fails_both_ways(Program(me=(drain,)), FieldRangeError, "clamp lo=10 is above hi=-10")


def test_byte_range_crossing_a_word():
    move = Move(dst=words(0, 4), src=words(10, 4), src_off=100, dst_off=0, len=64)
    fails_both_ways(Program(ewp=(move,)), AlignmentError, r"EWP:0 MOVE: source bytes 100..163 cross the end")


def test_host_access_alignment_and_capacity():
    sim = Simulator()
    with pytest.raises(AlignmentError, match="not aligned"):
        sim.write_ddr(0, 64, np.zeros(128, np.int8))
    with pytest.raises(DdrCapacityError, match="channel 2"):
        sim.write_ddr(2, 0, np.zeros(128, np.int8))
    with pytest.raises(CacheCapacityError):
        sim.write_cache(32767, np.zeros(256, np.int8))


def test_every_problem_is_listed():
    program = Program(me=(LoadWeights(buf=0, addr=40000, k=8, m=8), gemm(acc=5000)))
    with pytest.raises(ProgramError) as info:
        check_program(program, TPU_128x128_PARAMS)
    assert "ME:0 LOADW: weight tile" in str(info.value) and "ME:1 GEMM: acc=5000" in str(info.value)


def test_instruction_on_the_wrong_unit():
    fails_both_ways(
        Program(me=(Load(ch=0, ddr=words(0, 1), cache=words(0, 1)),)),
        ProgramError,
        "ME:0 LOAD: .*runs on DTL0/DTL1, not ME",
    )


def test_gemm_needs_a_matching_tile():
    fails_both_ways(Program(me=(gemm(),)), ProgramError, r"ME:0 GEMM: multiplies by a 64x64 tile but .*buf.* 0 holds")
    fails_both_ways(Program(me=(LOADW, gemm(k=32))), ProgramError, "holds a 64x64 tile")


def test_walked_patterns_must_agree():
    move = Move(dst=words(0, 4), src=words(10, 5), src_off=0, dst_off=0, len=8)
    with pytest.raises(ProgramError, match="element counts differ: expected 4, src walks 5"):
        Simulator().run(Program(ewp=(move,)))


def fill(at, **kw):
    return Fill(dst=words(at, 1), value=1, off=0, len=128, **kw)


def test_dependencies_must_exist_and_not_deadlock():
    with pytest.raises(DependencyError, match=r"EWP:0 FILL: waits for DTL0:3, which does not exist"):
        Simulator().run(Program(ewp=(fill(0, deps=(Ref(Unit.DTL0, 3),)),)))
    with pytest.raises(DependencyError, match="same unit, not earlier"):
        Simulator().run(Program(ewp=(fill(0, deps=(Ref(Unit.EWP, 0),)),)))
    cycle = Program(
        ewp=(fill(0), fill(1, deps=(Ref(Unit.DTL0, 0),))),
        dtl0=(Load(ch=0, ddr=words(0, 1), cache=words(5, 1), deps=(Ref(Unit.EWP, 1),)),),
    )
    with pytest.raises(
        DependencyError, match=r"cycle \(deadlock\):\n  EWP:1 FILL waits for DTL0:0\n  DTL0:0 LOAD wait"
    ):
        Simulator().run(cycle)
    with pytest.raises(DependencyError, match="deadlock: no unit can proceed"):
        Simulator().run(cycle, disable_static_checker=True)


def drain_to(at, **kw):
    return Drain(acc=0, m=64, params=200, zo=0, lo=-128, hi=127, dst=words(at, 16), off=0, **kw)


def test_hazards_need_a_dependency():
    # A GEMM reading what a DRAIN wrote may start before the drain ends: it needs an explicit dependency.
    racy = Program(me=(LOADW, gemm(), drain_to(300), LOADW, gemm(x=words(300, 16), acc=64)))
    with pytest.raises(HazardError, match=r"ME:4 GEMM: reads cache words 300..315 written by ME:2 DRAIN"):
        check_program(racy, TPU_128x128_PARAMS)
    ordered = Program(me=(LOADW, gemm(), drain_to(300), LOADW, gemm(x=words(300, 16), acc=64, deps=(Ref(Unit.ME, 2),))))
    check_program(ordered, TPU_128x128_PARAMS)
    # Two units writing the same words with nothing between them.
    both = Program(me=(LOADW, gemm(), drain_to(300)), ewp=(Fill(dst=words(310, 4), value=0, off=0, len=128),))
    with pytest.raises(HazardError, match=r"EWP:0 FILL: writes cache words 310..313 also written by ME:2 DRAIN"):
        check_program(both, TPU_128x128_PARAMS)
    # A lane's LOAD completes after its next transfer starts: a STORE of the same words must wait for it.
    lane = Program(
        dtl0=(Load(ch=0, ddr=words(0, 4), cache=words(0, 4)), Store(ch=1, cache=words(0, 4), ddr=words(0, 4)))
    )
    with pytest.raises(HazardError, match=r"DTL0:1 STORE: reads cache words 0..3 written by DTL0:0 LOAD"):
        check_program(lane, TPU_128x128_PARAMS)


def test_hazard_free_program_runs():
    sim = Simulator()
    sim.write_cache(200, pack_output_stage(np.zeros(64), np.ones(64), np.zeros(64), 128))
    program = Program(me=(LOADW, gemm(), drain_to(300)), ewp=(Fill(dst=words(400, 4), value=0, off=0, len=128),))
    assert sim.run(program).cycles > 0


def test_a_program_that_passed_is_not_checked_again(monkeypatch: pytest.MonkeyPatch):
    import pytpu.sim.checker as checker

    ordered = Program(me=(LOADW, gemm(), drain_to(300), LOADW, gemm(x=words(300, 16), acc=64, deps=(Ref(Unit.ME, 2),))))
    first = check_program(ordered, TPU_128x128_PARAMS)
    calls = []
    monkeypatch.setattr(checker, "check_hazards", lambda *args: calls.append(args))
    assert check_program(ordered, TPU_128x128_PARAMS) == first and not calls  # remembered: no second check
    racy = Program(me=(LOADW, gemm(), drain_to(300), LOADW, gemm(x=words(300, 16), acc=64)))
    monkeypatch.undo()
    for _ in range(2):  # a program that fails is never remembered
        with pytest.raises(HazardError):
            check_program(racy, TPU_128x128_PARAMS)
