"""The thresholds file: a versioned JSON document of per-tensor calibration ranges.

    {"format": "tpu_framework.thresholds", "version": 1,
     "thresholds": {"<tensor name>": {"min": -1.5, "max": 6.0, "method": "mse"}, ...}}

Tensor names are those of the float TF graph. ``min <= 0 <= max`` is not required (the grid always
includes 0); ``method`` is informative.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dnn_quant.storage import _write
from pytpu.errors import QuantizationError

FORMAT = "tpu_framework.thresholds"
VERSION = 1


def dump(file_name: str, thresholds: Mapping[str, Any]) -> None:
    check(thresholds, file_name)
    document = {"format": FORMAT, "version": VERSION, "thresholds": dict(thresholds)}
    path = Path(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, json.dumps(document, indent=1, sort_keys=True).encode())


def load(file_name: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(file_name).read_text())
    except (OSError, ValueError) as error:
        raise QuantizationError(f"cannot read thresholds from {file_name!r}: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise QuantizationError(f"{file_name!r} is not a thresholds file (format {FORMAT!r})")
    if document.get("version") != VERSION:
        raise QuantizationError(
            f"{file_name!r} has thresholds format version {document.get('version')}; expected {VERSION}"
        )
    thresholds = document.get("thresholds")
    check(thresholds, file_name)
    return dict(thresholds or {})


def check(thresholds: Any, origin: str = "thresholds") -> None:
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise QuantizationError(f"{origin}: thresholds must be a non-empty mapping of tensor name -> range")
    for name, entry in thresholds.items():
        low, high = (entry.get(k) if isinstance(entry, Mapping) else None for k in ("min", "max"))
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high)) or low > high:  # type: ignore[operator]
            raise QuantizationError(f"{origin}: the range of {name!r} must have finite min <= max, got {entry!r}")


def match(thresholds: Mapping[str, Any], expected: list[str]) -> None:
    """Thresholds must cover exactly the model's quantized tensors."""
    missing, unknown = [n for n in expected if n not in thresholds], [n for n in thresholds if n not in expected]
    if missing or unknown:
        raise QuantizationError(
            f"the thresholds do not belong to this model: {len(missing)} tensor(s) missing "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}, {len(unknown)} unknown "
            f"{unknown[:5]}{'...' if len(unknown) > 5 else ''}"
        )
