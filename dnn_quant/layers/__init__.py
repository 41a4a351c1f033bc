"""Integer layers: what the quantizer emits, the golden reference computes and the compiler lowers.

One module per layer family. Each holds the float layer the lowering rules find in a TF graph
(``Float*``: float parameters, ``quantize``) and the integer layer it becomes (int8/int32 parameters,
``golden``). ``LAYER_TYPES`` lists the integer layers by ``kind`` for saving and loading.
"""

from dnn_quant.layers.base import FloatLayer, Layer
from dnn_quant.layers.concat import Concat
from dnn_quant.layers.conv import Conv
from dnn_quant.layers.conv_transpose import ConvTranspose
from dnn_quant.layers.eltwise import Add, Mul
from dnn_quant.layers.layer_norm import LayerNorm
from dnn_quant.layers.layout import Layout
from dnn_quant.layers.lut import Lut
from dnn_quant.layers.matmul import MatMul
from dnn_quant.layers.pool import AvgPool, MaxPool
from dnn_quant.layers.prelu import PRelu
from dnn_quant.layers.resize import ResizeBilinear
from dnn_quant.layers.softmax import Softmax

LAYER_TYPES: dict[str, type[Layer]] = {
    t.KIND: t
    for t in (
        Conv,
        Add,
        Mul,
        Lut,
        Concat,
        MaxPool,
        AvgPool,
        Layout,
        Softmax,
        PRelu,
        LayerNorm,
        MatMul,
        ConvTranspose,
        ResizeBilinear,
    )
}

__all__ = [
    "LAYER_TYPES",
    "Add",
    "AvgPool",
    "Concat",
    "Conv",
    "ConvTranspose",
    "FloatLayer",
    "Layer",
    "LayerNorm",
    "Layout",
    "Lut",
    "MatMul",
    "MaxPool",
    "Mul",
    "PRelu",
    "ResizeBilinear",
    "Softmax",
]
