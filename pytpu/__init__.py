"""TensorFlow-free runtime side of the toolchain: errors, hardware parameters, programs, devices."""

from pytpu.errors import (
    AssetError,
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
    "AssetError",
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
