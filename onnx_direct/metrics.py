"""How far a converted graph's output is from the reference's: the measure tests and benchmarks report."""

from __future__ import annotations

import numpy as np


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (max |got - want| when the reference is all zeros)."""
    scale = float(np.max(np.abs(want))) or 1.0
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale
