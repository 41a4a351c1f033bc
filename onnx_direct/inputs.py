"""Graph inputs: which are real inputs, their data types and shapes once ``input_shape`` is applied."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from pytpu.errors import InputShapeError, UnsupportedDataTypeError

# Element types TF's CPU kernels cannot compute the converted ops in.
_REJECTED_TYPES = {
    name: getattr(onnx.TensorProto, name)
    for name in (
        "FLOAT16",
        "BFLOAT16",
        "STRING",
        "COMPLEX64",
        "COMPLEX128",
        "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ",
        "FLOAT8E8M0",
        "INT4",
        "UINT4",
        "FLOAT4E2M1",
        "INT2",
        "UINT2",
    )
    if hasattr(onnx.TensorProto, name)
}
REJECTED_ELEM_TYPES = {code: name for name, code in _REJECTED_TYPES.items()}


def runtime_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed at run time (old models also list their initializers as inputs)."""
    initialized = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initialized]


def declared_shape(info: onnx.ValueInfoProto) -> list[int | None]:
    dims = info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def resolve_shapes(
    model: onnx.ModelProto, input_shape: Mapping[str, Sequence[int | None]] | None
) -> dict[str, list[int | None]]:
    """Shape of every runtime input after ``input_shape`` fixes dynamic dimensions (None: still dynamic)."""
    inputs = {i.name: i for i in runtime_inputs(model)}
    given = dict(input_shape or {})
    unknown = sorted(set(given) - set(inputs))
    if unknown:
        raise InputShapeError(
            f"input_shape names {unknown}, which are not inputs of the model; inputs: {sorted(inputs)}"
        )
    shapes: dict[str, list[int | None]] = {}
    for name, info in inputs.items():
        if not info.type.HasField("tensor_type"):
            raise UnsupportedDataTypeError([("<graph input>", name, 0, "only tensor inputs are supported")])
        declared = declared_shape(info)
        if name not in given:
            shapes[name] = declared
            continue
        fixed = [None if d is None or int(d) < 0 else int(d) for d in given[name]]
        if info.type.tensor_type.HasField("shape") and len(fixed) != len(declared):
            raise InputShapeError(
                f"input_shape[{name!r}] has rank {len(fixed)}, but the model's input has shape {declared}"
            )
        for axis, (want, have) in enumerate(zip(fixed, declared, strict=False)):
            if want is not None and have is not None and want != have:
                raise InputShapeError(
                    f"input_shape[{name!r}] sets dimension {axis} to {want}, but the model fixes it to {have}"
                )
        shapes[name] = fixed
    return shapes


def check_data_types(model: onnx.ModelProto) -> None:
    """Reject inputs and initializers whose data type TF cannot compute with, all at once."""
    bad = []
    for info in runtime_inputs(model):
        code = info.type.tensor_type.elem_type
        if code in REJECTED_ELEM_TYPES:
            bad.append(("<graph input>", info.name, 0, f"data type {REJECTED_ELEM_TYPES[code]} is not supported"))
    for tensor in model.graph.initializer:
        if tensor.data_type in REJECTED_ELEM_TYPES:
            bad.append(
                ("<initializer>", tensor.name, 0, f"data type {REJECTED_ELEM_TYPES[tensor.data_type]} is not supported")
            )
    if bad:
        raise UnsupportedDataTypeError(bad)


def numpy_dtype(elem_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
