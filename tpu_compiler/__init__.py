"""Compilation stage: a quantized model's Network -> TPU Executable (see docs/compiler.md).

``Network.from_quantized_model(model)`` builds the IR, ``compiler.compile_(hw, network, DEFAULT)`` lowers
it.  Imports nothing of the quantizer or TensorFlow.
"""

from pytpu.errors import CompilationError
from tpu_compiler import compiler
from tpu_compiler.bounds import TMin, t_min, t_min_us
from tpu_compiler.compiler import DEFAULT, O1, O5, CompileParameters, Segment, TensorAxis, compile_
from tpu_compiler.network import Layer, Network, Tensor

__all__ = [
    "DEFAULT",
    "O1",
    "O5",
    "CompilationError",
    "CompileParameters",
    "Layer",
    "Network",
    "Segment",
    "TMin",
    "Tensor",
    "TensorAxis",
    "compile_",
    "compiler",
    "t_min",
    "t_min_us",
]
