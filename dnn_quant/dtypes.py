"""The directions ``QuantizedModel.rescale`` converts in."""

from __future__ import annotations

import enum


class TpuDtype(enum.Enum):
    """What ``rescale`` produces: int8 codes for the device (``INT8``) or float values for the user (``FLOAT32``)."""

    INT8 = "int8"
    FLOAT32 = "float32"
