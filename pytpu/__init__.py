"""TensorFlow-free runtime side of the toolchain: errors, hardware parameters, programs, devices."""

from pytpu.errors import (
    CompilationError,
    ConversionError,
    DeviceError,
    InputShapeError,
    InvalidModelError,
    QuantizationError,
    SubModelError,
    TpuFrameworkError,
    UnsupportedDataTypeError,
    UnsupportedOperatorError,
)

__all__ = [
    "CompilationError",
    "ConversionError",
    "DeviceError",
    "InputShapeError",
    "InvalidModelError",
    "QuantizationError",
    "SubModelError",
    "TpuFrameworkError",
    "UnsupportedDataTypeError",
    "UnsupportedOperatorError",
]
