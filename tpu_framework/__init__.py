"""tpu_framework: ONNX / TensorFlow model -> int8 TPU program, and the tools to run it.

The public names follow the reference manual::

    from tpu_framework import onnx_to_tf, get_sub_model, RegularModel, QuantizedModel
"""

from dnn_quant import InMemoryQuantizedModel, QuantizedModel, RegularModel, TpuDtype
from onnx_direct import TensorMapping, get_sub_model, onnx_to_tf
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

__version__ = "0.1.0"

__all__ = [
    "CompilationError",
    "ConversionError",
    "DeviceError",
    "InMemoryQuantizedModel",
    "InputShapeError",
    "InvalidModelError",
    "QuantizationError",
    "QuantizedModel",
    "RegularModel",
    "SubModelError",
    "TensorMapping",
    "TpuDtype",
    "TpuFrameworkError",
    "UnsupportedDataTypeError",
    "UnsupportedOperatorError",
    "get_sub_model",
    "onnx_to_tf",
]
