"""Streaming calibration: one pass for ranges, a second for histograms when a method needs them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tqdm import tqdm

from dnn_quant.calibration.methods import NEEDS_HISTOGRAM, method
from dnn_quant.calibration.stats import TensorStats
from dnn_quant.data import batches, sample_count
from dnn_quant.float_runner import FloatRunner

DEFAULT_BATCH = 16


def collect(
    runner: FloatRunner,
    data: Mapping[str, np.ndarray],
    tensors: list[str],
    methods: Mapping[str, str],
    batch: int | None,
    limit: int = 0,
) -> dict[str, TensorStats]:
    """Statistics of every tensor over the data, ``batch`` samples per run."""
    stats = {t: TensorStats() for t in tensors}
    histogram = [t for t in tensors if methods[t] in NEEDS_HISTOGRAM]
    passes = [("ranges", tensors, TensorStats.update_range)]
    if histogram:
        passes.append(("histograms", histogram, TensorStats.update_histogram))
    total = sample_count(data) if limit <= 0 else min(limit, sample_count(data))
    for label, fetch, update in passes:
        with tqdm(total=total, desc=f"calibration ({label})", unit="sample", leave=False) as bar:
            for feed in batches(data, batch or DEFAULT_BATCH, limit):
                values = runner(feed, [t for t in fetch if t not in feed])
                values.update({t: feed[t] for t in fetch if t in feed})
                for name, value in values.items():
                    update(stats[name], value)
                bar.update(len(next(iter(feed.values()))))
    return stats


def ranges(
    stats: Mapping[str, TensorStats], methods: Mapping[str, str], percentile: float
) -> dict[str, dict[str, object]]:
    """The thresholds: per tensor its range and the method that chose it."""
    thresholds: dict[str, dict[str, object]] = {}
    for name, tensor_stats in stats.items():
        low, high = method(methods[name])(tensor_stats, percentile)
        thresholds[name] = {"min": float(low), "max": float(high), "method": methods[name]}
    return thresholds
