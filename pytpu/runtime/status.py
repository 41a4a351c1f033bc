"""What an inference, a benchmark or a stream reports: statuses, timings, latency percentiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytpu.sim.host_queues import TaskTimes
from pytpu.sim.timeline import LayerTime


@dataclass(frozen=True)
class InferenceStatus:
    """How one inference went; times are microseconds of simulated time."""

    index: int
    """Submission number on its device."""
    error: Exception | None = None
    """What failed it (``is_success`` is then False); the future raises it too."""
    times: TaskTimes | None = None
    """When it passed the three host queues."""
    execution_time_us: float = 0.0
    """The program's run on the device, from the simulator."""
    cycles: int = 0
    """The same in device cycles."""
    layer_times: Mapping[str, LayerTime] = field(default_factory=dict)
    """Per-layer performance counters of this run: start, end, busy time per queue."""
    timings: Mapping[str, Any] = field(default_factory=dict)
    """The device's statistics when it completed: ``queue_timings`` (per host queue) and ``execution_timing``,
    each (idle, work) and each of those (last, average, maximum) over the device's inferences."""

    @property
    def is_success(self) -> bool:
        return self.error is None

    @property
    def latency_us(self) -> float:
        """From submission until the outputs were back on the host."""
        return self.times.latency_us if self.times else 0.0


@dataclass(frozen=True)
class BenchmarkResult:
    """A run of many inferences (``benchmark`` or ``stream``), in simulated time."""

    inferences: int
    batch: int
    """Samples per inference (the leading dimension of the first input)."""
    time_us: float
    """From the first submission to the last completion."""
    latencies_us: tuple[float, ...]
    """Per inference, submission to completion."""
    execution_time_us: float
    """One run of the program on the device."""
    layer_times: Mapping[str, LayerTime] = field(default_factory=dict)

    @classmethod
    def from_tasks(
        cls, tasks: Sequence[TaskTimes], batch: int, execution_time_us: float, layer_times: Mapping[str, LayerTime]
    ) -> BenchmarkResult:
        start = min((t.submitted_us for t in tasks), default=0.0)
        end = max((t.done_us for t in tasks), default=0.0)
        latencies = tuple(t.latency_us for t in tasks)
        return cls(len(tasks), batch, end - start, latencies, execution_time_us, dict(layer_times))

    @property
    def rate(self) -> float:
        """Inferences per second."""
        return self.inferences / (self.time_us * 1e-6) if self.time_us > 0 else 0.0

    @property
    def samples_per_second(self) -> float:
        return self.rate * self.batch

    def latency_percentile(self, q: float) -> float:
        """Latency (us) below which ``q`` percent of the inferences stayed (linear interpolation)."""
        return float(np.percentile(self.latencies_us, q)) if self.latencies_us else 0.0

    @property
    def p50_us(self) -> float:
        return self.latency_percentile(50)

    @property
    def p90_us(self) -> float:
        return self.latency_percentile(90)

    @property
    def p99_us(self) -> float:
        return self.latency_percentile(99)

    def summary(self) -> dict[str, float]:
        """The figures as one flat dictionary (for JSON reports)."""
        latencies = self.latencies_us or (0.0,)
        return {
            "inferences": self.inferences,
            "batch": self.batch,
            "time_us": self.time_us,
            "rate": self.rate,
            "samples_per_second": self.samples_per_second,
            "latency_min_us": min(latencies),
            "latency_mean_us": sum(latencies) / len(latencies),
            "latency_p50_us": self.p50_us,
            "latency_p90_us": self.p90_us,
            "latency_p99_us": self.p99_us,
            "latency_max_us": max(latencies),
            "execution_time_us": self.execution_time_us,
        }
