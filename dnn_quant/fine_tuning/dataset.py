"""The fine-tuning samples: the float model's outputs for them (computed once), and the held-out split."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dnn_quant.calibration.calibrate import DEFAULT_BATCH
from dnn_quant.data import batches
from dnn_quant.float_runner import FloatRunner, run_batch
from dnn_quant.graph import FloatGraph


def float_outputs(graph: FloatGraph, data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The float graph's outputs for every sample, at the batch it runs at."""
    batch = run_batch(graph)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in graph.outputs}
    with FloatRunner(graph, batch) as runner:
        for feed in batches(data, batch or DEFAULT_BATCH):
            for name, value in runner(feed, graph.outputs).items():
                parts[name].append(np.asarray(value, np.float32))
    return {name: np.concatenate(values) for name, values in parts.items()}


def split(count: int, fraction: float, minimum: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out sample indices, ``fraction`` of the samples held out at random (seeded), or none
    when that would leave fewer than ``minimum`` on either side."""
    held = round(count * fraction)
    if held < minimum or count - held < minimum:
        return np.arange(count), np.arange(0)
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held:]), np.sort(order[:held])


def take(arrays: Mapping[str, np.ndarray], indices: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.asarray(array[indices], np.float32) for name, array in arrays.items()}


def chunks(indices: np.ndarray, batch: int) -> list[np.ndarray]:
    return [indices[i : i + batch] for i in range(0, len(indices), batch)]
