"""From a float TF graph to float layers: rules that each recognise one kind of layer, applied in graph order.

A rule looks at one node that is not yet covered and either returns ``None`` or emits a layer (covering the
node and whatever it absorbs, such as the bias, batch norm and ReLU after a convolution). Element-wise
functions of one activation (sigmoid, swish, hard-swish, GELU...) are not layers of their own: they are
collected and become one lookup table where something else consumes them.
"""

from dnn_quant.lowering.lower import lower

__all__ = ["lower"]
