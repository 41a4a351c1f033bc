"""The thresholds file: a versioned JSON document of per-tensor calibration ranges.

    {"format": "tpu_framework.thresholds", "version": 2,
     "thresholds": {"<tensor name>": {"min": -1.5, "max": 6.0, "method": "mse"},
                    "<conv output>": {"min": 0.0, "max": 6.0, "method": "fine_tune",
                                      "weights": {"count": 864, "round_up": "<base64>", "bias_offset": [...]}},
                    ...}}

Tensor names are those of the float TF graph. ``min <= 0 <= max`` is not required (the grid always
includes 0); ``method`` is informative.

``weights`` (version 2, optional; fine-tuning writes it) belongs to the entry of the tensor a convolution or
dense layer is calibrated as, and replaces that layer's rounding to nearest:

- ``count``: the number of weights of the layer;
- ``round_up``: one bit per weight, in the order of the float weights (HWIO, or ``[K, M]`` for a dense layer;
  C order), packed eight to a byte, first weight in the most significant bit (``numpy.packbits``), base64:
  1 takes the code above ``weight / scale`` (``ceil``), 0 the one below (``floor``); a weight on the grid
  keeps its code;
- ``bias_offset`` (optional): per output channel, added to the float bias (real units) before it is rounded
  to int32.

The integer model keeps its kind: int8 weights per output channel at the usual scales, an int32 bias.
``dump`` writes version 1 when no entry has ``weights``, so calibrated thresholds stay readable by releases
that know only version 1; ``load`` reads both.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dnn_quant.storage import _write
from pytpu.errors import QuantizationError

FORMAT = "tpu_framework.thresholds"
VERSION = 2  # 2: the optional per-entry "weights" (learned rounding and bias offsets)
VERSIONS = (1, 2)
WEIGHTS = "weights"


def dump(file_name: str, thresholds: Mapping[str, Any]) -> None:
    check(thresholds, file_name)
    version = VERSION if any(WEIGHTS in entry for entry in thresholds.values()) else 1
    document = {"format": FORMAT, "version": version, "thresholds": dict(thresholds)}
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
    version = document.get("version")
    if type(version) is not int or version not in VERSIONS:
        raise QuantizationError(
            f"{file_name!r} has thresholds format version {version}; expected one of {', '.join(map(str, VERSIONS))}"
        )
    thresholds = document.get("thresholds")
    check(thresholds, file_name)
    assert isinstance(thresholds, dict)
    learned = [name for name, entry in thresholds.items() if WEIGHTS in entry]
    if version == 1 and learned:
        raise QuantizationError(
            f"{file_name!r}: {learned[0]!r} has learned {WEIGHTS!r}, which need thresholds format version 2, not 1"
        )
    return dict(thresholds)


def check(thresholds: Any, origin: str = "thresholds") -> None:
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise QuantizationError(f"{origin}: thresholds must be a non-empty mapping of tensor name -> range")
    for name, entry in thresholds.items():
        low, high = (entry.get(k) if isinstance(entry, Mapping) else None for k in ("min", "max"))
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high)) or low > high:  # type: ignore[operator]
            raise QuantizationError(f"{origin}: the range of {name!r} must have finite min <= max, got {entry!r}")
        if WEIGHTS in entry:
            learned_weights(entry[WEIGHTS], f"{origin}: {name!r}")


def match(thresholds: Mapping[str, Any], expected: list[str]) -> None:
    """Thresholds must cover exactly the model's quantized tensors."""
    missing, unknown = [n for n in expected if n not in thresholds], [n for n in thresholds if n not in expected]
    if missing or unknown:
        raise QuantizationError(
            f"the thresholds do not belong to this model: {len(missing)} tensor(s) missing "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}, {len(unknown)} unknown "
            f"{unknown[:5]}{'...' if len(unknown) > 5 else ''}"
        )


# --- learned weights (version 2) --------------------------------------------------------------------------------


def weights_entry(round_up: np.ndarray, bias_offset: np.ndarray | None = None) -> dict[str, Any]:
    """The ``weights`` field for a layer's rounding bits (any shape, C order) and optional bias offsets."""
    bits = np.asarray(round_up, bool).reshape(-1)
    entry: dict[str, Any] = {
        "count": int(bits.size),
        "round_up": base64.b64encode(np.packbits(bits).tobytes()).decode(),
    }
    if bias_offset is not None:
        entry["bias_offset"] = [float(v) for v in np.asarray(bias_offset, np.float64).reshape(-1)]
    return entry


def learned_weights(field: Any, origin: str = "thresholds") -> tuple[np.ndarray, np.ndarray | None]:
    """The rounding bits (bool, flat) and bias offsets (float64, or None) of a ``weights`` field, checked."""
    where = f"{origin}: {WEIGHTS!r}"
    if not isinstance(field, Mapping) or set(field) - {"count", "round_up", "bias_offset"}:
        raise QuantizationError(f"{where} must be an object with count, round_up and optionally bias_offset")
    count, encoded = field.get("count"), field.get("round_up")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(encoded, str):
        raise QuantizationError(f"{where} needs a non-negative integer count and a base64 round_up string")
    try:
        packed = np.frombuffer(base64.b64decode(encoded, validate=True), np.uint8)
    except (binascii.Error, ValueError) as error:
        raise QuantizationError(f"{where}: round_up is not base64: {error}") from error
    if len(packed) != (count + 7) // 8:
        raise QuantizationError(f"{where}: round_up holds {len(packed)} bytes; {count} weights take {(count + 7) // 8}")
    bits = np.unpackbits(packed, count=count).astype(bool)
    offsets = field.get("bias_offset")
    if offsets is None:
        return bits, None
    if not isinstance(offsets, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in offsets
    ):
        raise QuantizationError(f"{where}: bias_offset must be a list of finite numbers")
    return bits, np.asarray(offsets, np.float64)
