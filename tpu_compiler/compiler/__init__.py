"""The compiler: ``compile_(hardware_parameters, network, parameters, slicing_scheme=None)``."""

from tpu_compiler.compiler.compile import compile_
from tpu_compiler.compiler.parameters import (
    BalancingMode,
    BiasScaleNegativeScaleAggressiveGrouping,
    CompileParameters,
    DependencyResolutionAlgorithm,
    IntermediateInsertion,
    ScheduleOptimization,
    SubgraphSlicerParameters,
)
from tpu_compiler.compiler.presets import DEFAULT, O1, O5
from tpu_compiler.compiler.slicing import Segment, TensorAxis

__all__ = [
    "DEFAULT",
    "O1",
    "O5",
    "BalancingMode",
    "BiasScaleNegativeScaleAggressiveGrouping",
    "CompileParameters",
    "DependencyResolutionAlgorithm",
    "IntermediateInsertion",
    "ScheduleOptimization",
    "Segment",
    "SubgraphSlicerParameters",
    "TensorAxis",
    "compile_",
]
