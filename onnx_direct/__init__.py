"""ONNX -> TensorFlow conversion (``onnx_to_tf``) and model cutting (``get_sub_model``)."""

from onnx_direct.convert import onnx_to_tf
from onnx_direct.mapping import TensorMapping
from onnx_direct.sub_model import get_sub_model

__all__ = ["TensorMapping", "get_sub_model", "onnx_to_tf"]
