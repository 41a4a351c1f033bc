"""Element-wise activations that keep their input's layout."""

from __future__ import annotations

import tensorflow as tf

from onnx_direct.context import Node, Value, keep_layout
from onnx_direct.ops import converter


@converter("Relu", since=1)
def relu(node: Node) -> Value:
    x = node.value(0)
    return keep_layout(x, tf.nn.relu(node.tensor(0, x.perm)))
