"""The simulated device (the manual's TLM): functional semantics, timing, checks, traces, model_execute.

It imports neither TensorFlow, ONNX nor onnxruntime.
"""

from pytpu.sim.checker import check_program, execution_order
from pytpu.sim.model_execute import ExecutionResult, model_execute
from pytpu.sim.simulator import Simulator
from pytpu.sim.timeline import Event, LayerTime, Timeline
from pytpu.sim.trace import chrome_trace, write_chrome_trace

__all__ = [
    "Event",
    "ExecutionResult",
    "LayerTime",
    "Simulator",
    "Timeline",
    "check_program",
    "chrome_trace",
    "execution_order",
    "model_execute",
    "write_chrome_trace",
]
