"""Quantization stage: float TF GraphDef -> int8 QuantizedModel (see docs/quantization.md)."""

from dnn_quant.dtypes import TpuDtype
from dnn_quant.quantized_model import InMemoryQuantizedModel, QuantizedModel
from dnn_quant.regular_model import RegularModel
from dnn_quant.report import layer_report

__all__ = ["InMemoryQuantizedModel", "QuantizedModel", "RegularModel", "TpuDtype", "layer_report"]
