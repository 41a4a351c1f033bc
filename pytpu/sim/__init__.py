"""The simulated device (the manual's TLM): functional semantics, timing, checks, traces, model_execute, and
the host queues in front of it.

It imports neither TensorFlow, ONNX nor onnxruntime.
"""

from pytpu.sim.checker import check_program, execution_order
from pytpu.sim.host_queues import QUEUE_NAMES, HostQueues, TaskTimes, closed_loop
from pytpu.sim.model_execute import ExecutionResult, execute_words, model_execute
from pytpu.sim.simulator import Simulator
from pytpu.sim.timeline import Event, LayerTime, Timeline
from pytpu.sim.trace import chrome_trace, write_chrome_trace

__all__ = [
    "QUEUE_NAMES",
    "Event",
    "ExecutionResult",
    "HostQueues",
    "LayerTime",
    "Simulator",
    "TaskTimes",
    "Timeline",
    "check_program",
    "chrome_trace",
    "closed_loop",
    "execute_words",
    "execution_order",
    "model_execute",
    "write_chrome_trace",
]
