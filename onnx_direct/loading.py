"""Reading and validating the user's ONNX model, with typed errors for every way it can be wrong."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from pytpu.errors import InvalidModelError

ModelSource = onnx.ModelProto | str | os.PathLike[str] | bytes


def load_model(source: ModelSource) -> onnx.ModelProto:
    """A checked ``ModelProto`` from a ModelProto, a file path or serialized bytes."""
    if isinstance(source, onnx.ModelProto):
        model = source
        where = "the given ModelProto"
    elif isinstance(source, bytes):
        model = _parse(source, "the given bytes")
        where = "the given bytes"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InvalidModelError(f"{path}: no such ONNX file")
        where = str(path)
        model = _parse(path.read_bytes(), where)
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
            onnx.load_external_data_for_model(model, str(path.parent))
    else:
        raise InvalidModelError(f"expected an onnx.ModelProto, a path or bytes, got {type(source).__name__}")
    if not model.graph.node and not model.graph.output:
        raise InvalidModelError(f"{where}: not an ONNX model (its graph has no nodes and no outputs)")
    check_model(model, where)
    return model


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise InvalidModelError(f"{where}: not a readable ONNX file (truncated or another format): {err}") from None
    return model


def check_model(model: onnx.ModelProto, where: str = "model") -> None:
    """``onnx.checker`` with its complaint turned into an :class:`InvalidModelError`."""
    try:
        onnx.checker.check_model(model if model.ByteSize() < 2**31 - 1024 else _without_weights(model))
    except onnx.checker.ValidationError as err:
        raise InvalidModelError(f"{where} fails onnx.checker: {str(err).strip().splitlines()[0]}") from None


def _without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    # The checker serializes the model; models past protobuf's 2 GiB limit are checked without initializers' data.
    light = onnx.ModelProto()
    light.CopyFrom(model)
    for tensor in light.graph.initializer:
        tensor.ClearField("raw_data")
    return light


def domain_opset(model: onnx.ModelProto, domain: str = "") -> int:
    for entry in model.opset_import:
        if entry.domain in (domain, "ai.onnx" if domain == "" else domain):
            return int(entry.version)
    raise InvalidModelError(f"the model imports no opset for domain {domain or 'ai.onnx'!r}")
