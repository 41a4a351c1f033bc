"""Replays form a convolution's sum at its DRAIN only when nothing its GEMMs and LOADWs read was overwritten.

Each program here is run twice on the same cache contents: the second run replays the first's schedule.
Both must leave the same output, whether the replay formed the sum (the plain case) or had to run the
GEMMs step by step (an input row or a weight tile overwritten after it was read, a LOADW whose tile a
GEMM outside any formed sum also multiplies).
"""

from __future__ import annotations

import numpy as np
import pytest

from pytpu import TPU_128x128_PARAMS
from pytpu.isa import Drain, Fill, Gemm, LoadWeights, Pattern, Program, ProgramBuilder, Unit
from pytpu.isa.layouts import pack_output_stage, pack_weight_tile, weight_tile_words
from pytpu.isa.me import Drain as DrainInstruction
from pytpu.sim import Simulator
from pytpu.sim.engine import Schedule, recorded
from pytpu.sim.fusion import FormedSum, KeptLoad, SharedRows
from tests.tpu_reference import requantize

HW = TPU_128x128_PARAMS
CWL = 128
N, K, M = 24, 128, 96
X_AT, W_AT, P_AT, OUT_AT, OUT2_AT = 0, 100, 400, 500, 600
TILE_WORDS = weight_tile_words(K, M, CWL)


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, (2 * N, CWL), dtype=np.int8)  # two K tiles: words X_AT.. and X_AT+N..
    w = rng.integers(-128, 128, (2 * K, M), dtype=np.int8)
    bias = rng.integers(-40_000, 40_000, M).astype(np.int32)
    mult = rng.integers(1 << 29, 1 << 30, M).astype(np.int32)
    shift = rng.integers(36, 40, M).astype(np.uint8)
    return x, w, bias, mult, shift


def _simulator(x: np.ndarray, w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> Simulator:
    sim = Simulator(HW)
    sim.write_cache(X_AT, x)
    sim.write_cache(W_AT, pack_weight_tile(w[:K], CWL))
    sim.write_cache(W_AT + TILE_WORDS, pack_weight_tile(w[K:], CWL))
    sim.write_cache(P_AT, pack_output_stage(bias, mult, shift, CWL))
    return sim


def _rows(tile: int) -> Pattern:
    return Pattern.contiguous(X_AT + tile * N, N)


def _drain(dst: int) -> DrainInstruction:
    return Drain(acc=0, m=M, params=P_AT, zo=0, lo=-128, hi=127, dst=Pattern.contiguous(dst, N), off=0)


def _program(overwrite: str | None = None, second_sum: bool = False) -> Program:
    """LOADW, GEMM, LOADW, GEMM, DRAIN; ``overwrite`` names what a FILL overwrites after it was read
    ("x": the first GEMM's rows, "tile": the second tile, after its LOADW and before its GEMM)."""
    b = ProgramBuilder()
    b.emit(Unit.ME, LoadWeights(buf=0, addr=W_AT, k=K, m=M))
    first = b.emit(Unit.ME, Gemm(buf=0, x=_rows(0), off=0, k=K, m=M, acc=0, accumulate=0))
    load = b.emit(Unit.ME, LoadWeights(buf=1, addr=W_AT + TILE_WORDS, k=K, m=M))
    after = []
    if overwrite == "x":
        after = [b.emit(Unit.EWP, Fill(dst=_rows(0), value=5, off=0, len=CWL), after=[first])]
    elif overwrite == "tile":
        tile = Pattern.contiguous(W_AT + TILE_WORDS, 4)
        after = [b.emit(Unit.EWP, Fill(dst=tile, value=1, off=0, len=CWL), after=[load])]
    b.emit(Unit.ME, Gemm(buf=1, x=_rows(1), off=0, k=K, m=M, acc=0, accumulate=1), after=after)
    b.emit(Unit.ME, _drain(OUT_AT))
    if second_sum:  # the second tile again, alone into the same rows: a second sum, not formed (accumulates)
        b.emit(Unit.ME, Gemm(buf=1, x=_rows(0), off=0, k=K, m=M, acc=0, accumulate=1))
        b.emit(Unit.ME, _drain(OUT2_AT))
    return b.build()


def _twice(program: Program) -> tuple[np.ndarray, np.ndarray, Schedule]:
    """The outputs of a run and of its replay (both from the same cache contents), and the schedule."""
    data = _data()
    first = _simulator(*data)
    first.run(program)
    schedule = recorded(program, HW)
    assert schedule is not None
    second = _simulator(*data)
    second.run(program)
    return _outputs(first), _outputs(second), schedule


def _outputs(sim: Simulator) -> np.ndarray:
    return np.concatenate([sim.read_cache(OUT_AT, N), sim.read_cache(OUT2_AT, N)])


def _formed(schedule: Schedule) -> list[int]:
    return [step for step, (_, argument) in enumerate(schedule.calls) if isinstance(argument, FormedSum)]


def _skipped(schedule: Schedule) -> set[int]:
    return set(range(len(schedule.refs))) - {a for a in schedule.replay_actions if a >= 0}


def _expected(x: np.ndarray, w: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = x[:N].astype(np.int64) @ w[:K].astype(np.int64) + x[N:].astype(np.int64) @ w[K:].astype(np.int64)
    return requantize(acc + bias, mult.astype(np.int64), shift.astype(np.int64), 0, -128, 127)


def test_a_plain_sum_is_formed_at_its_drain_and_equals_the_step_by_step_run() -> None:
    program = _program()
    run, replay, schedule = _twice(program)
    assert np.array_equal(run, replay)
    assert np.array_equal(replay[:N, :M], _expected(*_data()))
    assert len(_formed(schedule)) == 1
    assert len(_skipped(schedule)) == 4  # both LOADWs and both GEMMs


@pytest.mark.parametrize("step", [2, -2])
def test_the_channel_words_of_pixels_walked_either_way_merge_into_one_term(step: int) -> None:
    """Pixels of two words (256 channels), read a word per K tile, forwards or backwards: one view of both words
    of every pixel times both tiles."""
    first = X_AT if step > 0 else X_AT + 2 * (N - 1)
    b = ProgramBuilder()
    b.emit(Unit.ME, LoadWeights(buf=0, addr=W_AT, k=K, m=M))
    b.emit(Unit.ME, Gemm(buf=0, x=Pattern(first, ((N, step),)), off=0, k=K, m=M, acc=0, accumulate=0))
    b.emit(Unit.ME, LoadWeights(buf=1, addr=W_AT + TILE_WORDS, k=K, m=M))
    b.emit(Unit.ME, Gemm(buf=1, x=Pattern(first + 1, ((N, step),)), off=0, k=K, m=M, acc=0, accumulate=1))
    b.emit(Unit.ME, _drain(OUT_AT))
    run, replay, schedule = _twice(b.build())
    x, w, bias, mult, shift = _data()
    pixels = x.reshape(N, 2 * CWL)[:: 1 if step > 0 else -1].astype(np.int64)
    expected = requantize(
        pixels @ w.astype(np.int64) + bias, mult.astype(np.int64), shift.astype(np.int64), 0, -128, 127
    )
    assert np.array_equal(run[:N, :M], expected)
    assert np.array_equal(replay, run)
    (formed,) = [schedule.calls[step][1] for step in _formed(schedule)]
    assert isinstance(formed, FormedSum) and len(formed.terms) == 1 and formed.terms[0].k == 2 * K


def test_a_sum_whose_rows_are_overwritten_after_being_read_runs_step_by_step() -> None:
    program = _program("x")
    run, replay, schedule = _twice(program)
    # The GEMMs read before the FILL: the result is that of the original data, in the run and the replay,
    # although the words hold something else by the DRAIN.
    assert np.array_equal(run, replay)
    assert np.array_equal(replay[:N, :M], _expected(*_data()))
    assert _formed(schedule) == [] and _skipped(schedule) == set()


def test_a_tile_overwritten_after_its_loadw_is_taken_from_the_loadw_copy() -> None:
    """The weight stream reuses a tile's words once its LOADW copied it: the sum is still formed at the DRAIN,
    with that tile from the copy its LOADW (which runs) kept."""
    program = _program("tile")
    run, replay, schedule = _twice(program)
    assert np.array_equal(run, replay)
    assert np.array_equal(replay[:N, :M], _expected(*_data()))
    (formed,) = _formed(schedule)
    steps = [program.streams[unit][index] for unit, index in schedule.refs]
    kept = [s for s, (_, argument) in enumerate(schedule.calls) if isinstance(argument, KeptLoad)]
    assert [steps[s].addr for s in kept] == [W_AT + TILE_WORDS]  # type: ignore[attr-defined]
    terms = schedule.calls[formed][1].terms
    assert [t.kept for t in terms] == [-1, kept[0]]  # the first tile from the cache, the second from the copy
    assert len(_skipped(schedule)) == 3  # the first LOADW and both GEMMs


def test_a_tile_also_multiplied_outside_a_formed_sum_is_still_loaded() -> None:
    program = _program(second_sum=True)
    run, replay, schedule = _twice(program)
    assert np.array_equal(run, replay)
    assert len(_formed(schedule)) == 1
    steps = [program.streams[unit][index] for unit, index in schedule.refs]
    skipped = {type(steps[s]).__name__ for s in _skipped(schedule)}
    kept_loads = [s for s, ins in enumerate(steps) if isinstance(ins, LoadWeights) and s not in _skipped(schedule)]
    assert skipped == {"Gemm", "LoadWeights"} and len(kept_loads) == 1  # the second tile's LOADW runs


def test_a_write_between_the_words_a_gemm_reads_does_not_keep_its_sum_step_by_step() -> None:
    """The first tile's rows are the even words, the second's the odd ones; a FILL of the odd words after the
    first GEMM lands inside the range it read but on none of its words: the sum is still formed."""
    even, odd = Pattern(X_AT, ((N, 2),)), Pattern(X_AT + 1, ((N, 2),))
    b = ProgramBuilder()
    b.emit(Unit.ME, LoadWeights(buf=0, addr=W_AT, k=K, m=M))
    first = b.emit(Unit.ME, Gemm(buf=0, x=even, off=0, k=K, m=M, acc=0, accumulate=0))
    b.emit(Unit.ME, LoadWeights(buf=1, addr=W_AT + TILE_WORDS, k=K, m=M))
    fill = b.emit(Unit.EWP, Fill(dst=odd, value=5, off=0, len=CWL), after=[first])
    b.emit(Unit.ME, Gemm(buf=1, x=odd, off=0, k=K, m=M, acc=0, accumulate=1), after=[fill])
    b.emit(Unit.ME, _drain(OUT_AT))
    run, replay, schedule = _twice(b.build())
    assert np.array_equal(run, replay)
    x, w, bias, mult, shift = _data()
    acc = x[0::2].astype(np.int64) @ w[:K].astype(np.int64) + 5 * w[K:].astype(np.int64).sum(axis=0)
    assert np.array_equal(
        replay[:N, :M], requantize(acc + bias, mult.astype(np.int64), shift.astype(np.int64), 0, -128, 127)
    )
    assert len(_formed(schedule)) == 1


W2_AT = 700  # the second output tile's two K tiles


def _shared_program(overwrite: str | None = None) -> Program:
    """Two output tiles of the same rows: (x0 x1) @ (w0; w1) drained to OUT_AT, then (x0 x1) @ (v0; v1) to
    OUT2_AT.  ``overwrite`` names what a FILL overwrites after the first DRAIN: "tile" the second output
    tile's first K tile (before its LOADW), "x" the rows (before the second tile's GEMMs), "loaded tile" that
    K tile after its LOADW."""
    b = ProgramBuilder()
    for k_tile in range(2):
        b.emit(Unit.ME, LoadWeights(buf=k_tile, addr=W_AT + k_tile * TILE_WORDS, k=K, m=M))
        b.emit(Unit.ME, Gemm(buf=k_tile, x=_rows(k_tile), off=0, k=K, m=M, acc=0, accumulate=k_tile))
    first = b.emit(Unit.ME, _drain(OUT_AT))
    after = []
    if overwrite == "tile":
        after = [b.emit(Unit.EWP, Fill(dst=Pattern.contiguous(W2_AT, 4), value=3, off=0, len=CWL), after=[first])]
    elif overwrite == "x":
        after = [b.emit(Unit.EWP, Fill(dst=_rows(1), value=-7, off=0, len=CWL), after=[first])]
    for k_tile in range(2):
        load = b.emit(Unit.ME, LoadWeights(buf=k_tile, addr=W2_AT + k_tile * TILE_WORDS, k=K, m=M), after=after)
        if overwrite == "loaded tile" and k_tile == 0:
            tile = Pattern.contiguous(W2_AT, 4)
            after = [b.emit(Unit.EWP, Fill(dst=tile, value=3, off=0, len=CWL), after=[load])]
        b.emit(Unit.ME, Gemm(buf=k_tile, x=_rows(k_tile), off=0, k=K, m=M, acc=0, accumulate=k_tile), after=after)
    b.emit(Unit.ME, _drain(OUT2_AT))
    return b.build()


def _shared_twice(program: Program, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, Schedule]:
    """``_twice`` with the second output tile's weights ``v`` in the cache too."""
    data = _data()
    outputs = []
    for _ in range(2):
        sim = _simulator(*data)
        sim.write_cache(W2_AT, pack_weight_tile(v[:K], CWL))
        sim.write_cache(W2_AT + TILE_WORDS, pack_weight_tile(v[K:], CWL))
        sim.run(program)
        outputs.append(_outputs(sim))
    schedule = recorded(program, HW)
    assert schedule is not None
    return outputs[0], outputs[1], schedule


def _shared(schedule: Schedule) -> list[SharedRows]:
    return [argument for _, argument in schedule.calls if isinstance(argument, SharedRows)]


def test_drains_of_the_same_rows_form_their_products_at_once() -> None:
    v = np.random.default_rng(5).integers(-128, 128, (2 * K, M), dtype=np.int8)
    run, replay, schedule = _shared_twice(_shared_program(), v)
    assert np.array_equal(run, replay)
    x, w, bias, mult, shift = _data()
    assert np.array_equal(replay[:N, :M], _expected(x, w, bias, mult, shift))
    assert np.array_equal(replay[N:, :M], _expected(x, v, bias, mult, shift))
    (shared,) = _shared(schedule)
    assert len(shared.members) == 2 and shared.members[1].ahead
    assert len(_skipped(schedule)) == 8  # every LOADW and GEMM


@pytest.mark.parametrize("overwrite", ["tile", "x"])
def test_drains_of_rows_or_tiles_overwritten_after_the_first_form_their_own(overwrite: str) -> None:
    """A FILL after the first DRAIN changes what the second output tile's GEMMs read: forming its product at the
    first DRAIN would read the old words."""
    v = np.random.default_rng(5).integers(-128, 128, (2 * K, M), dtype=np.int8)
    run, replay, schedule = _shared_twice(_shared_program(overwrite), v)
    assert np.array_equal(run, replay)
    x, _, bias, mult, shift = _data()
    if overwrite == "tile":
        v = v.copy()
        v.reshape(-1)[: 4 * CWL] = 3  # the first 4 words of the packed tile: its first 4 * CWL bytes, row-major
    else:
        x = x.copy()
        x[N:] = -7
    assert np.array_equal(replay[N:, :M], _expected(x, v, bias, mult, shift))
    assert _shared(schedule) == [] and len(_formed(schedule)) == 2


def test_a_drain_whose_tile_copy_is_made_after_the_first_forms_its_own() -> None:
    """The second output tile's first K tile is overwritten after its LOADW, which comes after the first DRAIN:
    its sum takes that tile from the LOADW's copy, which does not exist yet at the first DRAIN."""
    v = np.random.default_rng(5).integers(-128, 128, (2 * K, M), dtype=np.int8)
    run, replay, schedule = _shared_twice(_shared_program("loaded tile"), v)
    assert np.array_equal(run, replay)
    x, _, bias, mult, shift = _data()
    assert np.array_equal(replay[N:, :M], _expected(x, v, bias, mult, shift))  # the tile as its LOADW read it
    assert _shared(schedule) == [] and len(_formed(schedule)) == 2
    assert len([a for _, a in schedule.calls if isinstance(a, KeptLoad)]) == 1


def test_a_sum_whose_rows_are_overwritten_after_its_last_gemm_is_formed_there() -> None:
    """A FILL of the rows after the last GEMM and before the DRAIN (padding the next band reuses): the sum is
    formed at the last GEMM, from the words as the GEMMs read them."""
    b = ProgramBuilder()
    b.emit(Unit.ME, LoadWeights(buf=0, addr=W_AT, k=K, m=M))
    b.emit(Unit.ME, Gemm(buf=0, x=_rows(0), off=0, k=K, m=M, acc=0, accumulate=0))
    b.emit(Unit.ME, LoadWeights(buf=1, addr=W_AT + TILE_WORDS, k=K, m=M))
    last = b.emit(Unit.ME, Gemm(buf=1, x=_rows(1), off=0, k=K, m=M, acc=0, accumulate=1))
    fill = b.emit(Unit.EWP, Fill(dst=_rows(0), value=5, off=0, len=CWL), after=[last])
    b.emit(Unit.ME, _drain(OUT_AT), after=[fill])
    program = b.build()
    run, replay, schedule = _twice(program)
    assert np.array_equal(run, replay)
    assert np.array_equal(replay[:N, :M], _expected(*_data()))
    (early,) = [a for _, a in schedule.calls if isinstance(a, FormedSum) and a.early]
    steps = [program.streams[unit][index] for unit, index in schedule.refs]
    assert isinstance(steps[early.step], Gemm) and len(_skipped(schedule)) == 3  # the last GEMM forms the sum
