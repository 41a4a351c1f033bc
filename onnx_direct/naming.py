"""TensorFlow-legal names for ONNX ids (``/model.22/Mul_6_output_0``, ``onnx::Shape_663``, ``495``)."""

from __future__ import annotations

import re

_ILLEGAL = re.compile(r"[^A-Za-z0-9_.\-/>]")
_FIRST_OK = re.compile(r"[A-Za-z0-9.]")


def tf_name(onnx_name: str, fallback: str = "t") -> str:
    """A name TF accepts for an op, kept as close to the ONNX id as TF's name rules allow."""
    name = _ILLEGAL.sub("_", onnx_name)
    name = re.sub(r"/+", "/", name).strip("/")
    if not name:
        name = fallback
    if not _FIRST_OK.match(name[0]):
        name = "n" + name
    return name
