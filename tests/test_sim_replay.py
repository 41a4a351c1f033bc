"""Running a program again: the recorded schedule replayed, constants shared, outputs and timings unchanged."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from pytpu import CacheCapacityError, TPU_128x128_PARAMS, model_execute
from pytpu.isa import Load, ProgramBuilder, Unit
from pytpu.isa.pattern import Pattern
from pytpu.sim import Simulator, arith
from pytpu.sim.arith import requantize_sum
from pytpu.sim.engine import recorded
from pytpu.sim.memory import SparseMemory
from tests.quant_helpers import seeded
from tests.test_compile_layers import _golden, _model
from tests.tpu_programs import words
from tpu_compiler import O5, Network, compiler

HW = TPU_128x128_PARAMS


def _compiled(name: str, batch: int):  # type: ignore[no-untyped-def]
    model = _model(name)
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(batch)
    executable, descriptions = compiler.compile_(HW, network, O5)
    return model, executable, descriptions, renaming


@pytest.mark.parametrize("name", ["residual_add", "big_conv"])
def test_a_replayed_run_equals_a_fresh_one(name: str) -> None:
    model, executable, descriptions, renaming = _compiled(name, 2)
    first, second = (model.rescale({"x:0": seeded((2, 10, 12, 8), s)})["x:0"] for s in (3, 4))
    feed = renaming["x:0"]
    model_execute(executable, descriptions, {feed: first})
    schedule = recorded(executable.program, HW)
    assert schedule is not None and len(schedule.refs) == len(executable.program)
    replayed = model_execute(executable, descriptions, {feed: second})
    # A copy of the program is another object: it runs through the engine afresh.
    fresh_program = dataclasses.replace(executable, program=copy.deepcopy(executable.program))
    assert recorded(fresh_program.program, HW) is None
    fresh = model_execute(fresh_program, descriptions, {feed: second})
    out = renaming["y:0"]
    assert np.array_equal(replayed.output_codes[out], fresh.output_codes[out])
    assert np.array_equal(replayed.output_codes[out], _golden(model, second))
    assert replayed.timeline.events == fresh.timeline.events
    assert replayed.layer_times == fresh.layer_times


def test_a_program_only_timed_is_still_checked_when_run() -> None:
    b = ProgramBuilder()
    b.emit(Unit.DTL0, Load(ch=0, ddr=words(0, 4), cache=words(HW.tpu_parameters.cache_words - 2, 4)))
    program = b.build()
    sim = Simulator(HW)
    sim.time(program)  # timing does not check, and is not remembered for a run with data
    assert recorded(program, HW) is None
    with pytest.raises(CacheCapacityError):
        sim.run(program, disable_static_checker=True)


def test_shared_constants_are_read_in_place_and_copied_on_write() -> None:
    cwl = 128
    memory = SparseMemory(cwl)
    data = np.random.default_rng(0).integers(-128, 128, 5000 * cwl + 77, dtype=np.int8)
    start = 700 * cwl  # pages from word 1024 are whole, words 700..1023 and the tail are not
    memory.share_bytes(start, data)
    assert np.array_equal(memory.read_bytes(start, data.size), data)
    assert memory.read_run(5700, 1).reshape(-1)[77:].tolist() == [0] * 51  # the last word's tail reads as zeros
    before = data.copy()
    in_page = memory.read_run(1400, 200)  # words of one shared page: read in place, and they never change
    assert not in_page.flags.writeable and np.array_equal(in_page.reshape(-1), data[700 * cwl : 900 * cwl])
    assert memory.read_bytes(1400 * cwl, 5).flags.writeable  # what a host reads is its own copy
    memory.write(np.array([1500, 3000]), np.full((2, cwl), 9, np.int8))  # inside shared pages
    assert np.array_equal(in_page.reshape(-1), data[700 * cwl : 900 * cwl])  # the page was copied first
    memory.write(slice(800, 801), np.full((1, cwl), 7, np.int8))
    assert np.array_equal(data, before)  # the caller's array is not written
    after = memory.read_run(700, 5001).reshape(-1)[: data.size]
    expected = before.copy().reshape(-1)
    for word, value in ((1500, 9), (3000, 9), (800, 7)):
        expected[(word - 700) * cwl : (word - 699) * cwl] = value
    assert np.array_equal(after, expected)


@pytest.mark.parametrize(
    ("pattern", "run"),
    [
        (Pattern(5, ((4, 1),)), True),
        (Pattern(5, ((3, 4), (4, 1))), True),
        (Pattern(5, ((3, 1), (1, 9))), True),
        (Pattern(5), True),
        (Pattern(5, ((3, 5), (4, 1))), False),
        (Pattern(5, ((4, -1),)), False),
        (Pattern(5, ((2, 1), (2, 1))), False),
    ],
)
def test_pattern_index_is_a_slice_exactly_for_runs(pattern: Pattern, run: bool) -> None:
    index = pattern.index()
    assert isinstance(index, slice) == run
    assert np.array_equal(np.arange(100)[index], pattern.addresses())


def _requantize_exactly(
    v: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, zo: int, lo: int = -128, hi: int = 127
) -> np.ndarray:
    total = (v.astype(object) + bias.astype(object)) * mult.astype(object)  # Python integers: no overflow
    half = np.array([(1 << (int(s) - 1)) if s else 0 for s in shift], dtype=object)
    shifted = (total + half) // np.array([1 << int(s) for s in shift], dtype=object)  # floor, as >> is
    return np.clip((shifted + zo).astype(np.int64), lo, hi).astype(np.int8)


@pytest.mark.parametrize("magnitude", [8, 20, 31])
def test_output_stage_is_exact(magnitude: int) -> None:
    # Products up to 2^62: the compiled stage's int64 arithmetic against Python integers.
    rng = np.random.default_rng(magnitude)
    for _ in range(20):
        v = rng.integers(-(2**magnitude), 2**magnitude, (4000, 5)).astype(np.int32)
        bias = rng.integers(-(2**20), 2**20, 5)
        mult = rng.integers(-(2**31), 2**31, 5)
        shift = rng.integers(0, 63, 5)
        zo = int(rng.integers(-128, 128))
        got = requantize_sum(v, bias, mult, shift, zo, -128, 127)
        assert np.array_equal(got, _requantize_exactly(v, bias, mult, shift, zo))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32])
@pytest.mark.parametrize(
    ("shape", "constants"),
    [((40, 7), (7,)), ((40, 7), ()), ((3, 4, 5), (5,)), ((6,), (6,)), ((4, 5), (4, 1)), ((), ())],
)
def test_output_stage_broadcasts_its_constants(dtype: type, shape: tuple[int, ...], constants: tuple[int, ...]) -> None:
    # Per-lane constants (a DRAIN's), one for all (an EWP stage's), or any shape that broadcasts.
    rng = np.random.default_rng(len(shape) * 10 + len(constants))
    v = rng.integers(-(2**20), 2**20, shape).astype(dtype)
    bias, mult, shift = (
        rng.integers(-999, 999, constants),
        rng.integers(1, 2**15, constants),
        rng.integers(0, 30, constants),
    )
    got = requantize_sum(v, bias, mult, shift, 3, -100, 120)
    expected = _requantize_exactly(
        np.broadcast_to(v.astype(np.int64), got.shape).reshape(1, -1),
        *(np.broadcast_to(c, got.shape).reshape(-1) for c in (bias, mult, shift)),
        3,
        -100,
        120,
    )
    assert got.shape == np.broadcast_shapes(shape, constants) and got.dtype == np.int8
    assert np.array_equal(got.reshape(-1), expected.reshape(-1))


def test_output_stage_reads_rows_of_a_block_in_place() -> None:
    # A DRAIN's rows are read where they lie in the accumulators, columns from the first.
    rng = np.random.default_rng(7)
    block = rng.integers(-(2**24), 2**24, (50, 16)).astype(np.int32)
    bias, mult, shift = rng.integers(-999, 999, 6), rng.integers(1, 2**20, 6), rng.integers(10, 30, 6)
    got = arith.OutputStage(bias, mult, shift).apply_at(block, 11, 9, 6, -4, -128, 127)
    assert np.array_equal(got, _requantize_exactly(block[11:20, :6], bias, mult, shift, -4))


@pytest.mark.parametrize("magnitude", [8, 16, 24])
def test_output_stage_clamps_to_any_range_exactly(magnitude: int) -> None:
    # Activations clamp to part of the int8 range (a ReLU's lo is its zero point, ReLU6's hi below 127);
    # the shifts keep y within a few hundred, around the clamps, where floor and clamp interact.
    rng = np.random.default_rng(100 + magnitude)
    inside = 0
    for _ in range(20):
        v = rng.integers(-(2**magnitude), 2**magnitude, (4000, 5)).astype(np.int32)
        bias = rng.integers(-(2**magnitude), 2**magnitude, 5)
        mult = rng.integers(1 << 29, 1 << 31, 5) * rng.choice([-1, 1], 5)
        shift = rng.integers(magnitude + 21, magnitude + 26, 5)
        lo, hi = int(rng.integers(-128, 0)), int(rng.integers(1, 128))
        zo = int(rng.integers(-128, 128))
        got = requantize_sum(v, bias, mult, shift, zo, lo, hi)
        expected = _requantize_exactly(v, bias, mult, shift, zo, lo, hi)
        assert np.array_equal(got, expected)
        inside += np.count_nonzero((expected > lo) & (expected < hi))
    assert inside > 20 * v.size // 10  # most codes not clamped: the test sees floor at work
