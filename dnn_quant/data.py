"""Validating user data (calibration, fine-tuning, evaluation) and cutting it into batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from dnn_quant.graph import tensor_name
from pytpu.errors import QuantizationError


def validate(
    data: Mapping[str, np.ndarray], inputs: Mapping[str, Sequence[int | None]], what: str = "calibration data"
) -> dict[str, np.ndarray]:
    """Keyed by tensor name, every input present with the right sample shape, float and finite, >= 1 sample."""
    given = {tensor_name(k): v for k, v in data.items()}
    missing, unknown = sorted(set(inputs) - set(given)), sorted(set(given) - set(inputs))
    if missing or unknown:
        raise QuantizationError(
            f"{what}: missing inputs {missing}, unknown names {unknown}; the model takes {sorted(inputs)}"
        )
    counts = set()
    for name, array in given.items():
        _check_array(name, np.asarray(array) if not isinstance(array, np.ndarray) else array, inputs[name], what)
        counts.add(len(array))
    if len(counts) != 1:
        raise QuantizationError(f"{what}: the inputs have different sample counts {sorted(counts)}")
    if counts == {0}:
        raise QuantizationError(f"{what}: no samples")
    return given


def _check_array(name: str, array: np.ndarray, shape: Sequence[int | None], what: str) -> None:
    if not np.issubdtype(array.dtype, np.floating):
        raise QuantizationError(f"{what}: {name!r} has dtype {array.dtype}, expected float32")
    sample = tuple(shape[1:])
    if array.ndim != len(shape) or any(d is not None and d != a for d, a in zip(sample, array.shape[1:], strict=True)):
        raise QuantizationError(
            f"{what}: {name!r} has shape {array.shape}, expected (N, {', '.join(map(str, sample))})"
        )
    if array.size and not np.isfinite(array).all():
        raise QuantizationError(f"{what}: {name!r} contains NaN or Inf values")


def sample_count(data: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(data.values())))


def batches(data: Mapping[str, np.ndarray], batch: int, limit: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Consecutive slices of ``batch`` samples (the first ``limit`` samples only, when ``limit`` > 0)."""
    count = sample_count(data) if limit <= 0 else min(limit, sample_count(data))
    for start in range(0, count, batch):
        stop = min(start + batch, count)
        yield {k: np.asarray(v[start:stop], np.float32) for k, v in data.items()}
