"""The EWP reordering pass: instructions listed by readiness, keeping every conflict's order."""

from __future__ import annotations

import numpy as np

from pytpu import TPU_128x128_PARAMS
from pytpu.isa import Drain, Fill, Gemm, LayerSpan, Load, LoadWeights, Move, Pattern, Program, Unit
from pytpu.isa.layouts import pack_output_stage
from pytpu.sim import Simulator
from tpu_compiler.compiler.parameters import DependencyResolutionAlgorithm
from tpu_compiler.compiler.reorder import by_readiness, reorder_ewp
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
REGIONS = ((0, 0, 0),)


def _reordered(e: Emitter) -> tuple[Program, tuple[LayerSpan, ...], Program]:
    """The reordered program, its layer spans, and the program as emitted."""
    program, spans, barriers = resolve(e.steps, HW, PARALLEL, REGIONS)

    def rebuild(positions: list[int]) -> tuple[Program, tuple[LayerSpan, ...]]:
        return resolve(e.steps, HW, PARALLEL, REGIONS, positions)[:2]

    reordered, moved = reorder_ewp(program, spans, barriers, HW, rebuild)
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


def test_conflicting_instructions_keep_their_order() -> None:
    """A fill of the words the copy reads (write after read) may not pass it, however early it is ready."""
    e = _steps()
    e.emit(Unit.EWP, Fill(dst=Pattern.contiguous(0, 10), value=1, off=0, len=128))
    assert resolve(e.steps, HW, PARALLEL, REGIONS)[2] == [-1, -1, 0]
    reordered, _, _ = _reordered(e)
    kinds = [(type(i).__name__, i.dst.base) for i in reordered.ewp]
    assert kinds.index(("Move", 8000)) < kinds.index(("Fill", 0))


def test_readiness_order_waits_for_every_instruction_up_to_a_barrier() -> None:
    # 2 is ready first but conflicts with 1 (barrier 1): it waits for 0 and 1 to be placed.
    assert by_readiness([5, 9, 0, 1], [-1, -1, 1, -1]) == [3, 0, 1, 2]
