"""Calibration methods: from a tensor's statistics to the real range ``[min, max]`` its int8 grid covers.

``max`` keeps the observed range; ``percentile`` drops the tails; ``mse`` and ``entropy`` scan shrunken
ranges and keep the one with the least quantization error (squared error) or information loss (KL divergence
between the histogram and its quantized version), measured on the histogram.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dnn_quant.calibration.stats import TensorStats
from pytpu.errors import QuantizationError

LEVELS = 256
_CANDIDATES = np.linspace(0.02, 1.0, 99)  # fractions of the observed range to try
# With 256 levels over a 2048-bin histogram, KL divergence barely sees the rounding a narrow range saves and
# under-weights what it clips (a ReLU's range cut from 8.6 to 1.6, 3.4% of its values clipped): the entropy
# method only considers ranges that clip at most this fraction of the samples.
_ENTROPY_MAX_CLIPPED = 1e-3


def max_range(stats: TensorStats, percentile: float) -> tuple[float, float]:
    return stats.low, stats.high


def percentile_range(stats: TensorStats, percentile: float) -> tuple[float, float]:
    if percentile >= 100.0:
        return stats.low, stats.high
    cumulative = np.cumsum(stats.counts) / max(stats.counts.sum(), 1)
    assert stats.edges is not None
    tail = (100.0 - percentile) / 100.0
    low_bin = int(np.searchsorted(cumulative, tail))
    high_bin = int(np.searchsorted(cumulative, 1.0 - tail))
    low = min(float(stats.edges[low_bin]), 0.0) if stats.low < 0 else stats.low
    return low, max(float(stats.edges[high_bin + 1]), 0.0)


def mse_range(stats: TensorStats, percentile: float) -> tuple[float, float]:
    return _best_shrink(stats, _squared_error)


def entropy_range(stats: TensorStats, percentile: float) -> tuple[float, float]:
    return _best_shrink(stats, _kl_divergence, max_clipped=_ENTROPY_MAX_CLIPPED)


def _best_shrink(
    stats: TensorStats, cost: Callable[[np.ndarray, np.ndarray, float, float], float], max_clipped: float = 1.0
) -> tuple[float, float]:
    """The candidate range of least cost among those clipping at most ``max_clipped`` of the samples."""
    assert stats.edges is not None
    centres = (stats.edges[:-1] + stats.edges[1:]) / 2
    low, high = min(stats.low, 0.0), max(stats.high, 0.0)
    total = max(int(stats.counts.sum()), 1)
    costs = [
        cost(centres, stats.counts, f * low, f * high)
        if stats.counts[(centres < f * low) | (centres > f * high)].sum() <= max_clipped * total
        else np.inf
        for f in _CANDIDATES
    ]
    best = float(_CANDIDATES[int(np.argmin(costs))])
    return best * low, best * high


def _squared_error(centres: np.ndarray, counts: np.ndarray, low: float, high: float) -> float:
    step = (high - low) / (LEVELS - 1)
    if step <= 0:
        return float("inf")
    clipped = np.clip(centres, low, high)
    rounded = low + np.round((clipped - low) / step) * step
    return float(np.sum(counts * np.square(centres - rounded)))


def _kl_divergence(centres: np.ndarray, counts: np.ndarray, low: float, high: float) -> float:
    """KL(P || Q): P the histogram with the clipped tails folded into its edge bins, Q that expanded back from
    ``LEVELS`` equal bins (each level's mass spread over the histogram bins it covers that were non-empty)."""
    inside = (centres >= low) & (centres <= high)
    if inside.sum() < LEVELS // 4:
        return float("inf")
    kept = counts[inside].astype(np.float64)
    p = kept.copy()
    p[0] += counts[centres < low].sum()
    p[-1] += counts[centres > high].sum()
    # Q is built from the in-range mass only, so the clipped tails count against the range (as TensorRT does)
    level = np.minimum(((centres[inside] - low) / (high - low) * LEVELS).astype(np.int64), LEVELS - 1)
    mass = np.bincount(level, kept, LEVELS)
    support = np.bincount(level, (kept > 0).astype(np.float64), LEVELS)
    q = np.where(kept > 0, mass[level] / np.maximum(support[level], 1), 0.0)
    p, q = p / p.sum(), q / q.sum()
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / np.maximum(q[nonzero], 1e-12))))


METHODS: dict[str, Callable[[TensorStats, float], tuple[float, float]]] = {
    "max": max_range,
    "percentile": percentile_range,
    "mse": mse_range,
    "entropy": entropy_range,
}
NEEDS_HISTOGRAM = {"percentile", "mse", "entropy"}


def method(name: str) -> Callable[[TensorStats, float], tuple[float, float]]:
    if name not in METHODS:
        raise QuantizationError(f"unknown calibration method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]
