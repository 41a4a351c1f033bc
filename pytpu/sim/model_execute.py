"""``model_execute``: one inference of an Executable on the simulated device, as the manual's TLM test runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytpu.executable import Executable, TensorDescription, check_tensor_names
from pytpu.isa.program import LayerSpan
from pytpu.sim.blas import simulation_blas
from pytpu.sim.engine import execute
from pytpu.sim.simulator import Simulator
from pytpu.sim.timeline import LayerTime, Timeline
from pytpu.sim.timing import host_transfer_us
from pytpu.sim.trace import chrome_trace, write_chrome_trace


@dataclass(frozen=True)
class ExecutionResult:
    """Outputs and timings of one inference."""

    output_data: dict[str, np.ndarray]
    """Outputs by name, dequantized to float32 in the user's shape."""
    output_codes: dict[str, np.ndarray]
    """The same outputs as the int8 codes the device wrote."""
    execution_time_us: float
    """Finish time of the last instruction (inputs and constants already in DDR at time 0)."""
    timeline: Timeline
    layer_times: dict[str, LayerTime]
    host_to_device_us: float
    """Host link time to move the inputs into DDR (not part of ``execution_time_us``)."""
    device_to_host_us: float
    """Host link time to move the outputs back."""
    layers: tuple[LayerSpan, ...] = ()
    """The executable's layer side table (for the trace)."""

    @property
    def cycles(self) -> int:
        return self.timeline.cycles

    @property
    def unit_busy_us(self) -> dict[str, float]:
        """Busy time of each queue (ME.load, ME.array, ME.drain, EWP, DTL0, DTL1) and DDR channel."""
        return self.timeline.busy_us()

    @property
    def unit_idle_us(self) -> dict[str, float]:
        return self.timeline.idle_us()

    def chrome_trace(self) -> dict[str, Any]:
        return chrome_trace(self.timeline, self.layers)

    def write_chrome_trace(self, path: str | Path) -> None:
        """Write a Chrome trace JSON (opens in Perfetto / chrome://tracing)."""
        write_chrome_trace(path, self.timeline, self.layers)


def model_execute(
    executable: Executable,
    tensor_descriptions: Mapping[str, TensorDescription],
    input_data: Mapping[str, np.ndarray],
    *,
    disable_static_checker: bool = False,
) -> ExecutionResult:
    """Run one inference: pack ``input_data`` (float, or int8 codes) into DDR, execute, unpack the outputs."""
    executable.check_memory_map(tensor_descriptions)
    check_tensor_names(executable.inputs, input_data)
    words = {name: tensor_descriptions[name].pack(input_data[name]) for name in executable.inputs}
    output_words, timeline = execute_words(
        executable, tensor_descriptions, words, disable_static_checker=disable_static_checker
    )
    codes = {name: tensor_descriptions[name].from_words(w) for name, w in output_words.items()}
    hw = executable.hw
    in_bytes = sum(tensor_descriptions[n].nbytes for n in executable.inputs)
    out_bytes = sum(tensor_descriptions[n].nbytes for n in executable.outputs)
    return ExecutionResult(
        output_data={name: tensor_descriptions[name].dequantize(q) for name, q in codes.items()},
        output_codes=codes,
        execution_time_us=timeline.execution_time_us,
        timeline=timeline,
        layer_times=timeline.layer_times(executable.layers),
        host_to_device_us=host_transfer_us(in_bytes, hw),
        device_to_host_us=host_transfer_us(out_bytes, hw),
        layers=executable.layers,
    )


def execute_words(
    executable: Executable,
    tensor_descriptions: Mapping[str, TensorDescription],
    input_words: Mapping[str, np.ndarray],
    *,
    disable_static_checker: bool = False,
    prechecked: bool = False,
) -> tuple[dict[str, np.ndarray], Timeline]:
    """Run on a fresh device with the inputs already packed (stored words, as DDR holds them).

    Returns each output's stored words, shape ``(words, word_length)`` int8, and the timeline.
    ``prechecked``: the program already passed the static checker for this platform (a runtime checks it
    once when it loads the program), so neither it nor the engine's field checks run again.
    """
    sim = Simulator(executable.hw)
    for segment in executable.constants:
        sim.write_ddr(segment.channel, segment.address, np.asarray(segment.data), share=True)
    for name in executable.inputs:
        d = tensor_descriptions[name]
        sim.write_ddr(d.ddr_channel, d.ddr_address, input_words[name])
    if prechecked:
        with simulation_blas():
            timeline = execute(executable.program, sim.state, checked=True)
    else:
        timeline = sim.run(executable.program, disable_static_checker=disable_static_checker)
    return {name: _read_output(sim, tensor_descriptions[name]) for name in executable.outputs}, timeline


def _read_output(sim: Simulator, d: TensorDescription) -> np.ndarray:
    return sim.read_ddr(d.ddr_channel, d.ddr_address, d.nbytes).reshape(d.words, d.word_length)
