"""Per-tensor statistics gathered batch by batch in constant memory: a range first, then a histogram over it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BINS = 2048


@dataclass
class TensorStats:
    low: float = np.inf
    high: float = -np.inf
    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS, np.int64))
    edges: np.ndarray | None = None  # fixed after the first pass

    def update_range(self, values: np.ndarray) -> None:
        values = values.astype(np.float64, copy=False)
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))
        self.count += values.size
        self.total += float(values.sum())
        self.total_sq += float(np.square(values).sum())

    def update_histogram(self, values: np.ndarray) -> None:
        if self.edges is None:
            low, high = min(self.low, 0.0), max(self.high, 0.0)
            self.edges = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
        counts, _ = np.histogram(values, self.edges)
        self.counts += counts

    @property
    def mean(self) -> float:
        return self.total / max(self.count, 1)

    @property
    def std(self) -> float:
        return float(np.sqrt(max(self.total_sq / max(self.count, 1) - self.mean**2, 0.0)))

    def summary(self) -> dict[str, float]:
        return {"min": self.low, "max": self.high, "mean": self.mean, "std": self.std, "count": self.count}
