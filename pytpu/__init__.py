"""TensorFlow-free runtime side of the toolchain: errors, hardware parameters, programs, devices.

The manual's TPU calls: ``pytpu.Device.list_devices()``, ``pytpu.Device.open(name)``, ``device.load(path)``,
``program.inference()``, ``inference.sync(inputs)``, ``pytpu.convert_to_raw(src, dst)``; ``TpuProgram`` writes
and reads ``.tpu`` files.
"""

from pytpu import errors
from pytpu.errors import *  # noqa: F403  (the one hierarchy; its __all__ lists it)
from pytpu.executable import DdrSegment, Executable, TensorDescription
from pytpu.isa import Program, ProgramBuilder, Unit, assemble, decode, disassemble, encode
from pytpu.params import (
    ModelParameters,
    TPU_64x64_FPGA_PARAMS,
    TPU_128x128_PARAMS,
    TpuParameters,
    get_hw_params,
    known_tpu_types,
)
from pytpu.program import RawCodec, TensorSpec, TpuProgram, convert_to_raw
from pytpu.runtime import (
    BenchmarkResult,
    Device,
    Inference,
    InferenceFuture,
    InferenceStatus,
    LoadedProgram,
    ProcessingMode,
)
from pytpu.sim import ExecutionResult, Simulator, check_program, model_execute

__all__ = [
    "BenchmarkResult",
    "DdrSegment",
    "Device",
    "Executable",
    "ExecutionResult",
    "Inference",
    "InferenceFuture",
    "InferenceStatus",
    "LoadedProgram",
    "ModelParameters",
    "ProcessingMode",
    "Program",
    "ProgramBuilder",
    "RawCodec",
    "Simulator",
    "TPU_64x64_FPGA_PARAMS",
    "TPU_128x128_PARAMS",
    "TensorDescription",
    "TensorSpec",
    "TpuParameters",
    "TpuProgram",
    "Unit",
    "assemble",
    "check_program",
    "convert_to_raw",
    "decode",
    "disassemble",
    "encode",
    "get_hw_params",
    "known_tpu_types",
    "model_execute",
]
__all__ += errors.__all__
