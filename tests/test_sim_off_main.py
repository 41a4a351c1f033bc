"""Simulated runs called from the main thread run on a worker thread (a heap of their own), others in place."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from pytpu import TPU_128x128_PARAMS
from pytpu.errors import ProgramError
from pytpu.isa import Load, ProgramBuilder, Unit
from pytpu.isa.pattern import Pattern
from pytpu.sim import Simulator, engine
from pytpu.sim.off_main import off_main_thread


def _thread_name() -> str:
    return threading.current_thread().name


def test_a_call_from_the_main_thread_runs_on_a_worker_thread() -> None:
    assert threading.current_thread() is threading.main_thread()
    assert off_main_thread(_thread_name).startswith("pytpu-sim")


def test_a_call_from_another_thread_runs_where_it_is_called() -> None:
    names: list[str] = []
    caller = threading.Thread(target=lambda: names.append(off_main_thread(_thread_name)), name="caller")
    caller.start()
    caller.join()
    assert names == ["caller"]


def test_arguments_results_and_errors_reach_the_caller() -> None:
    assert off_main_thread(lambda a, b: a - b, 7, b=2) == 5

    def fail() -> None:
        raise ProgramError("no such word")

    with pytest.raises(ProgramError, match="no such word"):
        off_main_thread(fail)


def test_the_worker_runs_in_the_callers_context() -> None:
    with np.errstate(over="raise"):
        assert off_main_thread(lambda: np.geterr()["over"]) == "raise"
    assert off_main_thread(lambda: np.geterr()["over"]) == np.geterr()["over"]


def test_a_simulated_run_with_data_happens_on_the_worker_and_changes_the_callers_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    execute = engine._execute

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(_thread_name())
        return execute(*args, **kwargs)

    monkeypatch.setattr(engine, "_execute", spy)
    b = ProgramBuilder()
    b.emit(Unit.DTL0, Load(ch=0, ddr=Pattern.contiguous(0, 4), cache=Pattern.contiguous(8, 4)))
    sim = Simulator(TPU_128x128_PARAMS)
    data = np.arange(4 * sim.cwl, dtype=np.uint8).view(np.int8)
    sim.write_ddr(0, 0, data)
    sim.run(b.build())
    assert len(seen) == 1 and seen[0].startswith("pytpu-sim")
    assert np.array_equal(sim.read_cache(8, 4).reshape(-1), data)
    sim.time(b.build())  # timing only: no data moves, so it runs in place
    assert seen[1] == "MainThread"


def _in_child(results: multiprocessing.Queue) -> None:
    results.put(off_main_thread(_thread_name))


def test_a_forked_child_gets_workers_of_its_own() -> None:
    off_main_thread(_thread_name)  # the parent's pool has a thread by now; the child's copy of it has none
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_in_child, args=(results,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():  # waiting for a pool thread that does not exist in the child
        child.kill()
    assert child.exitcode == 0
    assert results.get(timeout=5).startswith("pytpu-sim")
