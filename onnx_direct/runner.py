"""Running a converted graph by ONNX tensor ids: what tests, benchmarks and the CLI feed it with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from onnx_direct.mapping import TensorMapping


class TFRunner:
    """A TF session over a converted graph, fed and fetched by ONNX tensor ids."""

    def __init__(self, graph: tf.Graph, mapping: TensorMapping, threads: int | None = None):
        config = tf.compat.v1.ConfigProto()
        if threads:
            config.intra_op_parallelism_threads = threads
            config.inter_op_parallelism_threads = 1
        self.graph = graph
        self.mapping = mapping
        self.session = tf.compat.v1.Session(graph=graph, config=config)

    def __call__(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> dict[str, np.ndarray]:
        feed = {self.mapping[name]: value for name, value in inputs.items()}
        fetched = self.session.run([self.mapping[name] for name in outputs], feed_dict=feed)
        return dict(zip(outputs, fetched, strict=True))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TFRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_tf(
    graph: tf.Graph, mapping: TensorMapping, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
) -> dict[str, np.ndarray]:
    """One run of a converted graph."""
    with TFRunner(graph, mapping) as runner:
        return runner(inputs, outputs)
