"""``.tpu`` program files (docs/tpu_format.md) and raw mode: ``TpuProgram``, ``convert_to_raw``, ``RawCodec``."""

from pytpu.program.codec import RawCodec
from pytpu.program.container import FORMAT_VERSION, MAGIC
from pytpu.program.tpu_program import TensorSpec, TpuProgram, convert_to_raw

__all__ = ["FORMAT_VERSION", "MAGIC", "RawCodec", "TensorSpec", "TpuProgram", "convert_to_raw"]
