"""A program loaded on a device, and the inferences run with it."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from pytpu.errors import DeviceClosedError, DeviceError
from pytpu.executable import check_tensor_names
from pytpu.isa.encoding import encode
from pytpu.program.codec import pack_inputs, raw_words, unpack_outputs
from pytpu.program.tpu_program import TensorSpec, TpuProgram
from pytpu.runtime.future import InferenceFuture
from pytpu.runtime.status import BenchmarkResult, InferenceStatus
from pytpu.sim.checker import check_program
from pytpu.sim.host_queues import MAX_QUEUE_DEPTH, closed_loop
from pytpu.sim.timeline import LayerTime

if TYPE_CHECKING:
    from pytpu.runtime.device import Device

Inputs = Mapping[str, Any]
Outputs = dict[str, np.ndarray]


class ProcessingMode(Enum):
    """How data cross the program's edge."""

    REGULAR = "regular"
    """Float tensors in the user's shapes; the runtime packs and unpacks with the program's scales."""
    RAW = "raw"
    """Packed words as DDR holds them, ``(words, word_length)`` uint8 (inputs: or bytes of that size)."""


class _Closable:
    _closed = False
    _what = "object"

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def ensure_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"the {self._what} is closed")

    def __enter__(self) -> Self:
        self.ensure_open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class LoadedProgram(_Closable):
    """A :class:`TpuProgram` on a :class:`Device` (``device.load(path)``); a context manager that unloads it.

    The static checker runs once here (unless ``disable_static_checker``); ``max_tasks_count`` is the depth
    of the driver's queue for this program: one of its inferences enters the host queues only while fewer
    than that many inferences are in them.
    """

    _what = "program"

    def __init__(self, device: Device, program: TpuProgram, *, max_tasks_count: int, disable_static_checker: bool):
        if not _whole(max_tasks_count) or not 1 <= max_tasks_count <= MAX_QUEUE_DEPTH:
            raise DeviceError(
                f"max_tasks_count must be a whole number in 1..{MAX_QUEUE_DEPTH}, got {max_tasks_count!r}"
            )
        if program.hw != device.hw:
            raise DeviceError(
                f"the program is built for a {program.hw.name}, device {device.name!r} is a {device.hw.name}"
                + (" with other parameters" if program.hw.name == device.hw.name else "")
            )
        self.device = device
        self.program = program
        self.max_tasks_count = max_tasks_count
        self.disable_static_checker = disable_static_checker
        if not disable_static_checker:
            check_program(program.executable.program, program.hw)
        exe, descriptions = program.executable, program.tensor_descriptions
        self.in_bytes = sum(descriptions[n].nbytes for n in exe.inputs)
        self.out_bytes = sum(descriptions[n].nbytes for n in exe.outputs)
        cwl = program.hw.tpu_parameters.cache_word_length
        constants = sum(-(-np.asarray(s.data).nbytes // cwl) * cwl for s in exe.constants)
        instructions = sum(len(encode(stream)) for stream in exe.program.streams)
        # device memory it holds: instructions, constants, and a set of tensor buffers per queue slot
        self.memory_bytes = instructions + constants + (self.in_bytes + self.out_bytes) * max_tasks_count

    @property
    def raw(self) -> bool:
        return self.program.raw

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        """Input names (the user's model's), shapes and dtypes, in the program's order."""
        return self.program.inputs

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return self.program.outputs

    @property
    def batch(self) -> int:
        """Samples per inference: the leading dimension of the first input (1 for raw programs)."""
        if self.raw or not self.program.executable.inputs:
            return 1
        shape = next(iter(self.inputs.values())).shape
        return int(shape[0]) if shape else 1

    def close(self) -> None:
        """Unload: later use is a DeviceClosedError; inferences already submitted still complete."""
        if not self._closed:
            self._closed = True
            self.device._unload(self)

    def ensure_open(self) -> None:
        self.device.ensure_open()  # the outermost closed thing is named
        super().ensure_open()

    def inference(self) -> Inference:
        """An inference session (a context manager): ``sync`` and ``submit`` run inferences."""
        self.ensure_open()
        return Inference(self)

    def is_raw(self, mode: ProcessingMode | None) -> bool:
        """Whether ``mode`` (None: the program's own) means raw data."""
        return data_is_raw(self.program, mode)

    def pack(self, inputs: Inputs, mode: ProcessingMode | None = None) -> dict[str, np.ndarray]:
        """The stored words of every input (checks names, shapes, dtypes or raw sizes)."""
        return pack_inputs(
            self.program.tensor_descriptions, self.program.executable.inputs, inputs, raw=self.is_raw(mode)
        )

    def unpack(self, words: Mapping[str, np.ndarray], mode: ProcessingMode | None = None) -> Outputs:
        return unpack_outputs(self.program.tensor_descriptions, words, raw=self.is_raw(mode))

    def submit_words(self, words: Mapping[str, np.ndarray]) -> InferenceFuture[Outputs]:
        """The lowest-level call: stored input words in, a future of the stored output words out."""
        self.ensure_open()
        names, descriptions = self.program.executable.inputs, self.program.tensor_descriptions
        check_tensor_names(names, words)
        checked = {name: raw_words(descriptions[name], words[name]) for name in names}
        return self.device._submit(self, checked)

    def benchmark(
        self, inputs: Inputs, iterations: int = 100, *, batch: int | None = None, mode: ProcessingMode | None = None
    ) -> BenchmarkResult:
        """``iterations`` inferences of ``inputs`` with ``max_tasks_count`` of them kept in flight.

        The inputs run once on the device (its timing does not depend on data values); that run's
        execution time then passes the host queues ``iterations`` times, the host submitting the next
        inference as soon as a queue slot frees.  Rate and latencies are in simulated time.
        """
        if not _whole(iterations) or iterations < 1:
            raise DeviceError(f"iterations must be a whole number of at least 1, got {iterations!r}")
        with self.inference() as inference:
            status = inference.submit(inputs, mode=mode).status()
        if status.error is not None:
            raise status.error
        tasks = closed_loop(
            self.program.hw, self.max_tasks_count, iterations, self.in_bytes, status.cycles, self.out_bytes
        )
        return BenchmarkResult.from_tasks(tasks, batch or self.batch, status.execution_time_us, status.layer_times)

    def stream(
        self,
        source: Iterable[Inputs] | Callable[[], Inputs | None],
        on_output: Callable[[int, Outputs], object],
        *,
        mode: ProcessingMode | None = None,
    ) -> BenchmarkResult:
        """Feed inputs from ``source`` and hand each result to ``on_output(index, outputs)``, in order.

        ``source`` is an iterable of input dictionaries, or a callable asked for the next one whenever a
        queue slot is free (it returns None when the stream ends).  Up to ``max_tasks_count`` inferences
        are in flight; the call returns when every output has been delivered.
        """
        pull = _puller(source)
        pending: deque[InferenceFuture[Outputs]] = deque()
        statuses: list[InferenceStatus] = []
        counter = itertools.count()
        with self.inference() as inference:
            while True:
                if len(pending) >= self.max_tasks_count:
                    _deliver(pending.popleft(), statuses, counter, on_output)
                item = pull()
                if item is None:
                    break
                pending.append(inference.submit(item, mode=mode))
            while pending:
                _deliver(pending.popleft(), statuses, counter, on_output)
        last = statuses[-1] if statuses else InferenceStatus(-1)
        tasks = [s.times for s in statuses if s.times is not None]
        return BenchmarkResult.from_tasks(tasks, self.batch, last.execution_time_us, last.layer_times)


class Inference(_Closable):
    """An inference session on a loaded program (a context manager).

    ``sync(inputs)`` blocks and returns the outputs; ``submit(inputs)`` returns an :class:`InferenceFuture`.
    Inputs and outputs are dictionaries keyed by the user's tensor names: float arrays in the user's
    shapes for a regular program (int8 codes pass as they are), raw arrays for a raw program or with
    ``mode=ProcessingMode.RAW``.
    """

    _what = "inference"

    def __init__(self, program: LoadedProgram):
        self.program = program
        self.status: InferenceStatus | None = None
        """The status of the last inference that completed."""

    def ensure_open(self) -> None:
        self.program.ensure_open()
        super().ensure_open()

    def sync(self, inputs: Inputs, *, mode: ProcessingMode | None = None) -> Outputs:
        return self.submit(inputs, mode=mode).result()

    def submit(self, inputs: Inputs, *, mode: ProcessingMode | None = None) -> InferenceFuture[Outputs]:
        self.ensure_open()
        program = self.program
        words = program.pack(inputs, mode)
        raw = program.is_raw(mode)
        descriptions = program.program.tensor_descriptions

        def finish(status: InferenceStatus, out: Outputs | None) -> Outputs:
            self.status = status
            if status.error is not None:
                raise status.error
            assert out is not None
            return unpack_outputs(descriptions, out, raw=raw)

        return program.submit_words(words).then(finish)

    def performance_counters(self) -> dict[str, LayerTime]:
        """Per-layer counters of the last completed inference: start, end, busy time per queue (us)."""
        if self.status is None:
            raise DeviceError("no inference has completed in this session yet")
        return dict(self.status.layer_times)


def data_is_raw(program: TpuProgram, mode: ProcessingMode | None) -> bool:
    """Whether data in ``mode`` (None: the program's own) are raw; a raw program knows no other mode."""
    if mode is None:
        return program.raw
    if not isinstance(mode, ProcessingMode):
        raise DeviceError(f"mode must be a ProcessingMode, got {mode!r}")
    if mode is ProcessingMode.REGULAR and program.raw:
        raise DeviceError(
            "a raw program has no packing metadata: pack inputs and unpack outputs with the codec "
            "convert_to_raw returned, and pass raw data"
        )
    return mode is ProcessingMode.RAW


def _whole(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _puller(source: Iterable[Inputs] | Callable[[], Inputs | None]) -> Callable[[], Inputs | None]:
    if callable(source):
        return source
    iterator = iter(source)
    return lambda: next(iterator, None)


def _deliver(
    future: InferenceFuture[Outputs],
    statuses: list[InferenceStatus],
    counter: Iterator[int],
    on_output: Callable[[int, Outputs], object],
) -> None:
    outputs = future.result()
    statuses.append(future.status())
    on_output(next(counter), outputs)
