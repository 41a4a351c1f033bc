"""The runtime (docs/runtime.md): devices, loaded programs, inferences, benchmarks and streams.

``Device.open(name)`` -> ``device.load(path)`` -> ``program.inference()`` -> ``inference.sync(inputs)``, each
a context manager but the last; ``inference.submit(inputs)`` returns an awaitable future.
"""

from pytpu.runtime.device import DEFAULT_MAX_TASKS_COUNT, SIMULATED_DEVICES, Device
from pytpu.runtime.future import InferenceFuture
from pytpu.runtime.program import Inference, LoadedProgram, ProcessingMode
from pytpu.runtime.status import BenchmarkResult, InferenceStatus
from pytpu.sim.host_queues import QUEUE_NAMES, TaskTimes

__all__ = [
    "DEFAULT_MAX_TASKS_COUNT",
    "QUEUE_NAMES",
    "SIMULATED_DEVICES",
    "BenchmarkResult",
    "Device",
    "Inference",
    "InferenceFuture",
    "InferenceStatus",
    "LoadedProgram",
    "ProcessingMode",
    "TaskTimes",
]
