"""ONNX -> TensorFlow conversion (``onnx_to_tf``) and model cutting (``get_sub_model``)."""

from onnx_direct.convert import onnx_to_tf
from onnx_direct.mapping import TensorMapping

__all__ = ["TensorMapping", "onnx_to_tf"]
