"""Running the original float graph and fetching any of its tensors (calibration, error reports, fine-tuning)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from dnn_quant.graph import FloatGraph, session_config


class FloatRunner:
    """A session over the float graph with inputs of batch ``batch`` (None: any batch)."""

    def __init__(self, graph: FloatGraph, batch: int | None):
        self.tf_graph = tf.Graph()
        with self.tf_graph.as_default():
            feeds = {
                name: tf.compat.v1.placeholder(tf.float32, [batch, *shape[1:]], name=f"float_input_{i}")
                for i, (name, shape) in enumerate(graph.inputs.items())
            }
            tf.graph_util.import_graph_def(graph.graph_def, input_map=feeds, name="f")
        self.feeds = {name: t.name for name, t in feeds.items()}
        self.session = tf.compat.v1.Session(graph=self.tf_graph, config=session_config())

    def __call__(self, inputs: Mapping[str, np.ndarray], fetches: Sequence[str]) -> dict[str, np.ndarray]:
        feed = {self.feeds[k]: v for k, v in inputs.items()}
        values = self.session.run([f"f/{t}" for t in fetches], feed)
        return dict(zip(fetches, values, strict=True))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FloatRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_batch(graph: FloatGraph) -> int | None:
    """The batch the float graph runs at: the fixed batch of its inputs, or None (any) if none is fixed."""
    fixed = {shape[0] for shape in graph.inputs.values() if shape and shape[0] is not None}
    return fixed.pop() if len(fixed) == 1 else None
