"""Per-tensor histograms of the calibration data as PNG plots (drawn with Pillow) and JSON data."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dnn_quant.calibration.stats import TensorStats

_SIZE = (640, 240)
_MARGIN = 20


def save_histograms(directory: Path, stats: Mapping[str, TensorStats], thresholds: Mapping[str, Any]) -> None:
    """One ``<tensor>.png`` (log-count bars, the chosen range in red) and ``<tensor>.json`` per tensor."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, tensor_stats in stats.items():
        counts, edges = _histogram(tensor_stats)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        low, high = float(thresholds[name]["min"]), float(thresholds[name]["max"])
        _plot(counts, edges, low, high).save(directory / f"{stem}.png")
        data = {
            "tensor": name,
            "edges": edges.tolist(),
            "counts": counts.tolist(),
            "range": [low, high],
            **tensor_stats.summary(),
        }
        (directory / f"{stem}.json").write_text(json.dumps(data))


def _histogram(stats: TensorStats) -> tuple[np.ndarray, np.ndarray]:
    if stats.edges is not None:
        return stats.counts, stats.edges
    return np.zeros(1, np.int64), np.array([stats.low, stats.high])  # only the range was collected


def _plot(counts: np.ndarray, edges: np.ndarray, low: float, high: float) -> Image.Image:
    image = Image.new("RGB", _SIZE, "white")
    draw = ImageDraw.Draw(image)
    width, height = _SIZE[0] - 2 * _MARGIN, _SIZE[1] - 2 * _MARGIN
    heights = np.log1p(counts.astype(np.float64))
    heights = heights / max(heights.max(), 1e-9) * height
    span = max(edges[-1] - edges[0], 1e-12)
    for i, h in enumerate(heights):
        x = _MARGIN + (edges[i] - edges[0]) / span * width
        draw.line([(x, _SIZE[1] - _MARGIN), (x, _SIZE[1] - _MARGIN - h)], fill="steelblue")
    for value in (low, high):
        x = _MARGIN + (value - edges[0]) / span * width
        draw.line([(x, _MARGIN), (x, _SIZE[1] - _MARGIN)], fill="red", width=2)
    return image
