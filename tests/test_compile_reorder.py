"""The reordering pass: EWP and DMA streams listed as each unit would run them, keeping every conflict's order."""

from __future__ import annotations

import numpy as np

from pytpu import TPU_128x128_PARAMS
from pytpu.isa import Drain, Fill, Gemm, LayerSpan, Load, LoadWeights, Move, Pattern, Program, Store, Unit
from pytpu.isa.layouts import pack_output_stage
from pytpu.sim import Simulator
from tpu_compiler.compiler.parameters import DependencyResolutionAlgorithm
from tpu_compiler.compiler.reorder import list_schedule, reorder
from tpu_compiler.compiler.schedule import Emitter, resolve

HW = TPU_128x128_PARAMS
WORDS = 4000


def _steps() -> Emitter:
    """A long load, a copy of what it loads (EWP), then a fill the array's GEMM reads (EWP, ready at once)."""
    e = Emitter()
    e.layer = "copy"
    e.emit(Unit.DTL0, Load(ch=0, ddr=Pattern.contiguous(0, WORDS), cache=Pattern.contiguous(0, WORDS)))
    e.emit(
        Unit.EWP,
        Move(dst=Pattern.contiguous(8000, WORDS), src=Pattern.contiguous(0, WORDS), src_off=0, dst_off=0, len=128),
    )
    e.layer = "gemm"
    e.emit(Unit.EWP, Fill(dst=Pattern.contiguous(16000, 2000), value=3, off=0, len=128))
    e.emit(Unit.ME, LoadWeights(buf=0, addr=20000, k=128, m=128))
    e.emit(Unit.ME, Gemm(buf=0, x=Pattern.contiguous(16000, 2000), off=0, k=128, m=128, acc=0, accumulate=0))
    e.emit(
        Unit.ME, Drain(acc=0, m=128, params=21000, zo=0, lo=-128, hi=127, dst=Pattern.contiguous(24000, 2000), off=0)
    )
    return e


PARALLEL = DependencyResolutionAlgorithm.PARALLEL
REGIONS = ((0, 0, 8000),)


def _reordered(e: Emitter) -> tuple[Program, tuple[LayerSpan, ...], Program]:
    """The reordered program, its layer spans, and the program as emitted."""
    program, spans, after = resolve(e.steps, HW, PARALLEL, REGIONS)

    def rebuild(positions: dict[Unit, list[int]]) -> tuple[Program, tuple[LayerSpan, ...]]:
        return resolve(e.steps, HW, PARALLEL, REGIONS, positions)[:2]

    reordered, moved = reorder(program, spans, after, HW, rebuild)
    return reordered, moved, program


def _run(program: Program) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(0)
    sim = Simulator(HW)
    sim.write_ddr(0, 0, rng.integers(-128, 128, WORDS * 128, dtype=np.int8))
    sim.write_cache(20000, rng.integers(-128, 128, 128 * 128, dtype=np.int8))
    sim.write_cache(21000, pack_output_stage(np.arange(128), np.full(128, 1 << 20), np.full(128, 24), 128))
    timeline = sim.run(program)
    return np.concatenate([sim.read_cache(8000, WORDS), sim.read_cache(24000, 2000)]), timeline.execution_time_us


def test_an_instruction_ready_early_moves_ahead_of_one_waiting_for_a_load() -> None:
    reordered, moved, program = _reordered(_steps())
    assert [type(i) for i in reordered.ewp] == [Fill, Move]
    assert {(s.name, s.unit): (s.start, s.stop) for s in moved if s.unit == "EWP"} == {
        ("copy", "EWP"): (1, 2),
        ("gemm", "EWP"): (0, 1),
    }
    before, before_us = _run(program)
    after, after_us = _run(reordered)
    assert np.array_equal(before, after)
    assert after_us < 0.85 * before_us  # the GEMM runs during the load instead of after the copy


def test_a_load_ready_early_moves_ahead_of_a_store_waiting_for_the_ewp() -> None:
    """A DMA lane: a store of what the copy writes waits for the copy; the next load, independent, goes first."""
    e = _steps()
    e.emit(Unit.DTL0, Store(ch=0, cache=Pattern.contiguous(8000, 1000), ddr=Pattern.contiguous(4000, 1000)))
    e.emit(Unit.DTL0, Load(ch=0, ddr=Pattern.contiguous(0, 500), cache=Pattern.contiguous(30000, 500)))
    e.emit(Unit.ME, LoadWeights(buf=1, addr=30000, k=128, m=128))
    reordered, _, program = _reordered(e)
    assert [type(i) for i in program.dtl0] == [Load, Store, Load]
    assert [type(i) for i in reordered.dtl0] == [Load, Load, Store]
    assert Simulator(HW).time(reordered).execution_time_us < Simulator(HW).time(program).execution_time_us


def test_conflicting_instructions_keep_their_order() -> None:
    """A fill of the words the copy reads (write after read) may not pass it, however early it is ready."""
    e = _steps()
    e.emit(Unit.EWP, Fill(dst=Pattern.contiguous(0, 10), value=1, off=0, len=128))
    assert resolve(e.steps, HW, PARALLEL, REGIONS)[2][Unit.EWP] == [(), (), (0,)]  # the copy, the fill, this fill
    reordered, _, _ = _reordered(e)
    kinds = [(type(i).__name__, i.dst.base) for i in reordered.ewp]
    assert kinds.index(("Move", 8000)) < kinds.index(("Fill", 0))


def test_a_unit_picks_the_first_ready_instruction_whose_earlier_conflicts_are_placed() -> None:
    # 0 is ready at 10; 1 and 3 at once, 2 at once but after 0.  Each takes 5 cycles.
    assert list_schedule([10, 0, 0, 0], [5, 5, 5, 5], [(), (), (0,), ()]) == [1, 3, 0, 2]
    # nothing ready before 4: the unit waits for the first ready (2), then takes 0 (ready by then)
    assert list_schedule([4, 9, 3], [1, 1, 1], [(), (), ()]) == [2, 0, 1]
