"""tpu_framework: ONNX / TensorFlow model -> int8 TPU program, and the tools to run it.

The public names follow the reference manual::

    from tpu_framework import onnx_to_tf, get_sub_model, RegularModel, QuantizedModel
"""

from dnn_quant import InMemoryQuantizedModel, QuantizedModel, RegularModel, TpuDtype
from onnx_direct import TensorMapping, get_sub_model, onnx_to_tf
from pytpu import (
    Device,
    Executable,
    ExecutionResult,
    ModelParameters,
    ProcessingMode,
    TensorDescription,
    TPU_128x128_PARAMS,
    TpuProgram,
    convert_to_raw,
    errors,
    get_hw_params,
    model_execute,
)
from pytpu.errors import *  # noqa: F403  (the one hierarchy; its __all__ lists it)
from tpu_compiler import DEFAULT, CompileParameters, Network, Segment, TensorAxis, compiler

__version__ = "0.1.0"

__all__ = [
    "DEFAULT",
    "CompileParameters",
    "Device",
    "Executable",
    "ExecutionResult",
    "InMemoryQuantizedModel",
    "ModelParameters",
    "Network",
    "ProcessingMode",
    "QuantizedModel",
    "RegularModel",
    "Segment",
    "TPU_128x128_PARAMS",
    "TensorAxis",
    "TensorDescription",
    "TensorMapping",
    "TpuDtype",
    "TpuProgram",
    "compiler",
    "convert_to_raw",
    "get_hw_params",
    "get_sub_model",
    "model_execute",
    "onnx_to_tf",
]
__all__ += errors.__all__
