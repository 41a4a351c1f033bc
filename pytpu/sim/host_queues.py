"""The host side of the simulated device: the driver's three queues and the host link, in simulated time.

Every inference (a task) passes three queues in order: ``QUEUE_TRANSFER_TO`` (its inputs cross the host
link into DDR), ``QUEUE_EXECUTOR`` (the device runs the program) and ``QUEUE_TRANSFER_FROM`` (its outputs
cross back).  Each queue serves one task at a time, in submission order; the link moves data both ways at
once (:func:`pytpu.sim.timing.host_transfer_us`).  A task enters the driver when fewer than its
``max_tasks_count`` tasks are in it, so with a depth above one the transfer of the next input overlaps the
execution of the current one.  Execution times are the simulator's cycles at the platform's clock.
Times are microseconds since the device was opened.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from pytpu.params import ModelParameters
from pytpu.sim.timing import exact_host_transfer_us

QUEUE_NAMES = ("QUEUE_TRANSFER_TO", "QUEUE_EXECUTOR", "QUEUE_TRANSFER_FROM")
MAX_QUEUE_DEPTH = 1024
"""The deepest driver queue (``max_tasks_count``) the model takes."""

Span = tuple[float, float]
Summary = tuple[float, float, float]
"""last, average, maximum"""


@dataclass(frozen=True)
class TaskTimes:
    """When one task passed the host queues."""

    index: int
    submitted_us: float
    """When the host handed the task to the driver."""
    admitted_us: float
    """When it entered the driver (a slot of its queue depth was free)."""
    transfer_to: Span
    execution: Span
    transfer_from: Span
    done: Fraction = field(default=Fraction(0), repr=False, compare=False)
    """``done_us`` exactly."""

    @property
    def done_us(self) -> float:
        return self.transfer_from[1]

    @property
    def latency_us(self) -> float:
        """From submission until the outputs are back on the host."""
        return self.done_us - self.submitted_us

    @property
    def queue_spans(self) -> tuple[Span, Span, Span]:
        """(enter, leave) of each queue: a task enters a queue when it leaves the previous one."""
        return (
            (self.admitted_us, self.transfer_to[1]),
            (self.transfer_to[1], self.execution[1]),
            (self.execution[1], self.transfer_from[1]),
        )


class _Exact(NamedTuple):
    admitted: Fraction
    transfer_to: tuple[Fraction, Fraction]
    execution: tuple[Fraction, Fraction]
    transfer_from: tuple[Fraction, Fraction]


class _Series:
    """Last, sum, count and maximum of a stream of durations (kept as they come, in constant space)."""

    def __init__(self) -> None:
        self.last = self.total = self.maximum = Fraction(0)
        self.count = 0

    def add(self, value: Fraction) -> None:
        self.last, self.total, self.count = value, self.total + value, self.count + 1
        self.maximum = max(self.maximum, value)

    def summary(self) -> Summary:
        average = self.total / self.count if self.count else Fraction(0)
        return (float(self.last), float(average), float(self.maximum))


class HostQueues:
    """The queues of one device; not thread safe (the runtime holds a lock around it).

    ``clock`` is the host's simulated clock: a task is submitted at it, and it moves to a task's
    completion when the host waits for that task (:meth:`wait_for`).  Times are kept as exact fractions
    of a microsecond, so sums do not drift; :class:`TaskTimes` and :meth:`timings` give floats.
    """

    def __init__(self, hw: ModelParameters):
        self.hw = hw
        self.clock = Fraction(0)
        self.count = 0
        """Tasks booked so far."""
        self._recent: deque[_Exact] = deque(maxlen=MAX_QUEUE_DEPTH)  # enough to admit the next task
        self._series = [(_Series(), _Series()) for _ in range(4)]  # (idle, work): the three queues, the core

    @property
    def clock_us(self) -> float:
        return float(self.clock)

    def schedule(
        self, submitted: Fraction, depth: int, in_bytes: int, execution_cycles: int, out_bytes: int
    ) -> TaskTimes:
        """Book the next task (tasks are booked in submission order)."""
        if not 1 <= depth <= MAX_QUEUE_DEPTH:
            raise ValueError(f"queue depth {depth} outside 1..{MAX_QUEUE_DEPTH}")
        hw = self.hw
        zero = (Fraction(0), Fraction(0))
        last = self._recent[-1] if self._recent else _Exact(Fraction(0), zero, zero, zero)
        admitted = submitted
        if len(self._recent) >= depth:
            admitted = max(admitted, self._recent[-depth].transfer_from[1])
        to = _after(admitted, last.transfer_to[1], exact_host_transfer_us(in_bytes, hw))
        ex = _after(to[1], last.execution[1], Fraction(execution_cycles * 10**6, hw.clock_hz))
        back = _after(ex[1], last.transfer_from[1], exact_host_transfer_us(out_bytes, hw))
        exact = _Exact(admitted, to, ex, back)
        self._record(exact, last)
        self._recent.append(exact)
        times = TaskTimes(
            self.count, float(submitted), float(admitted), _floats(to), _floats(ex), _floats(back), back[1]
        )
        self.count += 1
        return times

    def wait_for(self, times: TaskTimes) -> None:
        """The host waited for ``times``' task: its clock is at least that task's completion."""
        self.clock = max(self.clock, times.done)

    def timings(self) -> dict[str, tuple[tuple[Summary, Summary], ...] | tuple[Summary, Summary]]:
        """``queue_timings``: per queue (idle, work); ``execution_timing``: (idle, work) of the device core.

        Each of idle and work is (last, average, maximum) over every task so far, in microseconds.  A
        queue's work for a task is the time the task spent in it (waiting included); its idle time the
        time the queue stood empty before the task entered.  The core's work is the program's execution
        time, its idle time the gap since the previous execution ended.
        """
        summaries = tuple((idle.summary(), work.summary()) for idle, work in self._series)
        return {"queue_timings": summaries[:3], "execution_timing": summaries[3]}

    def _record(self, task: _Exact, last: _Exact) -> None:
        spans = (
            (task.admitted, task.transfer_to[1]),
            (task.transfer_to[1], task.execution[1]),
            (task.execution[1], task.transfer_from[1]),
        )
        previous = (last.transfer_to[1], last.execution[1], last.transfer_from[1])
        for (idle, work), (enter, leave), last_leave in zip(self._series[:3], spans, previous, strict=True):
            idle.add(max(Fraction(0), enter - last_leave))
            work.add(leave - enter)
        core_idle, core_work = self._series[3]
        core_idle.add(task.execution[0] - last.execution[1])
        core_work.add(task.execution[1] - task.execution[0])


def closed_loop(
    hw: ModelParameters, depth: int, count: int, in_bytes: int, execution_cycles: int, out_bytes: int
) -> list[TaskTimes]:
    """``count`` equal tasks through fresh queues, the host keeping ``depth`` of them in flight.

    The host submits task ``i`` as soon as task ``i - depth`` is back (a benchmark's loop).
    """
    queues = HostQueues(hw)
    tasks: list[TaskTimes] = []
    for i in range(count):
        submitted = tasks[i - depth].done if i >= depth else Fraction(0)
        tasks.append(queues.schedule(submitted, depth, in_bytes, execution_cycles, out_bytes))
    return tasks


def _after(ready: Fraction, free: Fraction, duration: Fraction) -> tuple[Fraction, Fraction]:
    start = max(ready, free)
    return (start, start + duration)


def _floats(span: tuple[Fraction, Fraction]) -> Span:
    return (float(span[0]), float(span[1]))
