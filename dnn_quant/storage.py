"""Saving a QuantizedModel as JSON plus one binary file of arrays, and loading it memory-mapped. No pickle."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dnn_quant.layers import LAYER_TYPES
from dnn_quant.layers.base import Layer
from dnn_quant.qparams import QParams
from dnn_quant.quantized_model import QuantizedModel
from pytpu.errors import QuantizationError

FORMAT = "tpu_framework.quantized_model"
VERSION = 1
_ALIGN = 64
_DEFAULT_NAME = "quantized_model.json"


def save_model(model: QuantizedModel, file_dir: str, file_name: str | None, io_params_name: str) -> None:
    directory = Path(file_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = file_name or _DEFAULT_NAME
    blob_name = Path(name).with_suffix(".bin").name
    blob = bytearray()
    layers = []
    for layer in model.layers:
        refs = {key: _append(blob, array) for key, array in layer.arrays().items()}
        layers.append({"config": _jsonable(layer.config()), "arrays": refs})
    document = {
        "format": FORMAT,
        "version": VERSION,
        "arrays_file": blob_name,
        "layers": layers,
        "inputs": {k: {"shape": list(shape), **dataclasses.asdict(q)} for k, (shape, q) in model.inputs.items()},
        "outputs": list(model.outputs),
        "anchors_mapping": model.anchors_mapping,
    }
    _write(directory / blob_name, bytes(blob))
    _write(directory / name, json.dumps(document, indent=1).encode())
    _write(directory / io_params_name, json.dumps(_io_params(model), indent=1).encode())


def _io_params(model: QuantizedModel) -> dict[str, Any]:
    tensors = {**{k: q for k, (_, q) in model.inputs.items()}, **{k: model.qparams(k) for k in model.outputs}}
    return {
        "format": "tpu_framework.scales",
        "version": VERSION,
        "inputs": sorted(model.inputs),
        "outputs": list(model.outputs),
        "tensors": {k: dataclasses.asdict(q) for k, q in tensors.items()},
        "anchors_mapping": model.anchors_mapping,
    }


def _append(blob: bytearray, array: np.ndarray) -> dict[str, Any]:
    blob.extend(b"\0" * (-len(blob) % _ALIGN))
    contiguous = np.ascontiguousarray(array)
    ref = {"offset": len(blob), "dtype": contiguous.dtype.str, "shape": list(contiguous.shape)}
    blob.extend(contiguous.tobytes())
    return ref


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a crash leaves the old file or none, never half of the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class _FileSystemMappedQuantizedModel(QuantizedModel):
    """A saved model; its arrays are read-only memory maps of the arrays file."""

    def __init__(self, path: Path):
        document = _read_document(path)
        blob = np.memmap(path.parent / document["arrays_file"], np.uint8, mode="r")
        super().__init__(
            [_layer(entry, blob) for entry in document["layers"]],
            {k: (tuple(v["shape"]), QParams(v["scale"], v["zero_point"])) for k, v in document["inputs"].items()},
            list(document["outputs"]),
            document["anchors_mapping"],
        )


def load_model(file_name: str) -> _FileSystemMappedQuantizedModel:
    path = Path(file_name)
    if path.is_dir():
        path = path / _DEFAULT_NAME
    return _FileSystemMappedQuantizedModel(path)


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise QuantizationError(f"cannot read the quantized model {str(path)!r}: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise QuantizationError(f"{str(path)!r} is not a saved quantized model (format {FORMAT!r})")
    if document.get("version") != VERSION:
        raise QuantizationError(
            f"{str(path)!r} has format version {document.get('version')}; this release reads {VERSION}"
        )
    return document


def _layer(entry: dict[str, Any], blob: np.ndarray) -> Layer:
    config = entry["config"]
    kind = LAYER_TYPES.get(config.get("kind", ""))
    if kind is None:
        raise QuantizationError(f"unknown layer kind {config.get('kind')!r} in the saved model")
    arrays = {}
    for key, ref in entry["arrays"].items():
        dtype = np.dtype(ref["dtype"])
        count = int(np.prod(ref["shape"], dtype=np.int64))
        arrays[key] = blob[ref["offset"] : ref["offset"] + count * dtype.itemsize].view(dtype).reshape(ref["shape"])
    return kind.from_saved({k: v for k, v in config.items() if k != "kind"}, arrays)
