"""Quantization stage: float TF GraphDef -> int8 QuantizedModel (see docs/quantization.md)."""

from dnn_quant.dtypes import TpuDtype
from dnn_quant.quantized_model import InMemoryQuantizedModel, QuantizedModel
from dnn_quant.regular_model import RegularModel

__all__ = ["InMemoryQuantizedModel", "QuantizedModel", "RegularModel", "TpuDtype"]
