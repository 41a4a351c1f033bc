"""``Device``: a TPU the host talks to; here the simulated device, with the driver's host queues."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from pytpu.errors import DdrCapacityError, DeviceClosedError, DeviceNotFoundError
from pytpu.params import ModelParameters, TPU_128x128_PARAMS
from pytpu.program.tpu_program import TpuProgram
from pytpu.runtime.future import InferenceFuture
from pytpu.runtime.program import LoadedProgram, Outputs
from pytpu.runtime.status import InferenceStatus
from pytpu.sim.host_queues import HostQueues
from pytpu.sim.model_execute import execute_words

SIMULATED_DEVICES = ("sim0",)
"""Names of the simulated devices (a real one would be a ``/dev/tpu*`` file; this runtime drives none)."""
DEFAULT_MAX_TASKS_COUNT = 4


@dataclass
class _Task:
    index: int
    program: LoadedProgram
    words: dict[str, np.ndarray]
    submitted: Fraction
    future: InferenceFuture[Outputs]


class Device:
    """One device: ``Device.open(name)`` (a context manager), ``load(path)`` a program, ``stats``.

    Inferences run one at a time on a worker thread, in submission order; their timings are simulated
    (see :mod:`pytpu.sim.host_queues`), so they do not depend on how fast the host computer is.
    """

    def __init__(self, name: str, hw: ModelParameters = TPU_128x128_PARAMS):
        self.name = name
        self.hw = hw
        self._lock = threading.Lock()
        self._queues = HostQueues(hw)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tpu-{name}")
        self._programs: list[LoadedProgram] = []
        self._closed = False
        self._submitted = self._completed = self._failed = self._cancelled = 0

    def __repr__(self) -> str:
        return f"Device({self.name!r}, {self.hw.name}{', closed' if self._closed else ''})"

    @staticmethod
    def list_devices() -> list[str]:
        """Names of the devices this host can open."""
        return list(SIMULATED_DEVICES)

    @classmethod
    def open(cls, name: str | None = None, *, hw: ModelParameters = TPU_128x128_PARAMS) -> Device:
        """Open a device by name (default: the first one); ``hw`` is the platform it simulates."""
        names = cls.list_devices()
        if name is None:
            name = names[0]
        if name not in names:
            raise DeviceNotFoundError(f"no TPU device {name!r}; available: {names}")
        return cls(name, hw)

    @property
    def closed(self) -> bool:
        return self._closed

    def load(
        self,
        program: str | os.PathLike[str] | TpuProgram,
        *,
        max_tasks_count: int = DEFAULT_MAX_TASKS_COUNT,
        disable_static_checker: bool = False,
    ) -> LoadedProgram:
        """Load a ``.tpu`` file (or a TpuProgram) onto the device."""
        self.ensure_open()
        tpu = program if isinstance(program, TpuProgram) else TpuProgram.from_file(program)
        loaded = LoadedProgram(
            self, tpu, max_tasks_count=max_tasks_count, disable_static_checker=disable_static_checker
        )
        with self._lock:
            used = sum(p.memory_bytes for p in self._programs)
            if used + loaded.memory_bytes > self.memory_capacity:
                raise DdrCapacityError(
                    f"the program needs {loaded.memory_bytes} bytes of device memory, {used} of "
                    f"{self.memory_capacity} are in use"
                )
            self._programs.append(loaded)
        return loaded

    @property
    def memory_capacity(self) -> int:
        return self.hw.ddr.channels * self.hw.ddr.channel_size

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot: ``mem`` (bytes of device memory in use), ``mem_total``, loaded ``programs``,
        ``inferences`` completed, ``failed``, ``cancelled``, ``pending``, the host clock ``time_us``, and the
        ``queue_timings`` / ``execution_timing`` of :meth:`HostQueues.timings`."""
        with self._lock:
            return {
                "name": self.name,
                "platform": self.hw.name,
                "mem": sum(p.memory_bytes for p in self._programs),
                "mem_total": self.memory_capacity,
                "programs": len(self._programs),
                "inferences": self._completed,
                "failed": self._failed,
                "cancelled": self._cancelled,
                "pending": self._submitted - self._completed - self._failed - self._cancelled,
                "time_us": self._queues.clock_us,
                **self._queues.timings(),
            }

    def close(self) -> None:
        """Wait for submitted inferences, unload every program; later use is a DeviceClosedError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            programs = list(self._programs)
        self._worker.shutdown(wait=True)
        for program in programs:
            program.close()

    def __enter__(self) -> Device:
        self.ensure_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"device {self.name!r} is closed")

    def _unload(self, program: LoadedProgram) -> None:
        with self._lock:
            if program in self._programs:
                self._programs.remove(program)

    def _submit(self, program: LoadedProgram, words: dict[str, np.ndarray]) -> InferenceFuture[Outputs]:
        with self._lock:
            self.ensure_open()
            future: InferenceFuture[Outputs] = InferenceFuture(self._waited)
            task = _Task(self._submitted, program, words, self._queues.clock, future)
            self._submitted += 1
            self._worker.submit(self._run, task)
        return future

    def _waited(self, status: InferenceStatus) -> None:
        if status.times is not None:
            with self._lock:
                self._queues.wait_for(status.times)

    def _run(self, task: _Task) -> None:
        if not task.future.set_running_or_notify_cancel():
            with self._lock:
                self._cancelled += 1
            return
        program = task.program
        exe = program.program.executable
        try:
            words, timeline = execute_words(
                exe,
                program.program.tensor_descriptions,
                task.words,
                disable_static_checker=program.disable_static_checker,
                prechecked=not program.disable_static_checker,
            )
        except Exception as exc:
            with self._lock:
                self._failed += 1
            task.future.settle(InferenceStatus(task.index, error=exc), error=exc)
            return
        with self._lock:
            times = self._queues.schedule(
                task.submitted, program.max_tasks_count, program.in_bytes, timeline.cycles, program.out_bytes
            )
            timings = self._queues.timings()
            self._completed += 1
        layer_times = timeline.layer_times(exe.layers)
        status = InferenceStatus(
            task.index, None, times, timeline.execution_time_us, timeline.cycles, layer_times, timings
        )
        task.future.settle(status, words)
