"""Running a converted graph by ONNX tensor ids: what tests, benchmarks and the CLI feed it with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from onnx_direct.mapping import TensorMapping


class TFRunner:
    """A TF session over a converted graph, fed and fetched by ONNX tensor ids.

    ``optimize=False`` runs the graph as converted, without TensorFlow's graph optimiser (Grappler): its
    passes take most of a first run on models with large constants (the light VGG-19: 36 s of a first run
    against 3 s without) and gain nothing measurable on later runs of these graphs, so a session that runs a
    few times is faster without them.
    """

    def __init__(self, graph: tf.Graph, mapping: TensorMapping, threads: int | None = None, *, optimize: bool = True):
        config = tf.compat.v1.ConfigProto()
        config.graph_options.rewrite_options.disable_meta_optimizer = not optimize
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
    """One run of a converted graph (without Grappler: see :class:`TFRunner`)."""
    with TFRunner(graph, mapping, optimize=False) as runner:
        return runner(inputs, outputs)
