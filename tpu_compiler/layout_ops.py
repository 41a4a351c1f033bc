"""The quantizer's layout ops replayed on numpy index arrays (no TensorFlow).

Applied to ``np.arange(size).reshape(shape)`` an op gives, for every output element, the flat index of
the input element it copies, or ``-1`` where it writes the fill code (constant padding).  The compiler
derives output shapes and data movement from that one gather map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytpu.errors import CompilationError

FILL = -1
Op = Callable[[np.ndarray, dict[str, Any], dict[str, np.ndarray]], np.ndarray]


def _ints(values: Any) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


def _reshape(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    shape = _ints(c["shape"])
    if a.get("batch_free"):
        shape = [-1, *shape[1:]]
    return x.reshape(shape)


def _squeeze(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    axes = a.get("axis") or None
    return np.squeeze(x, axis=tuple(_ints(axes)) if axes is not None else None)


def _pad(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    pads = [tuple(p) for p in np.asarray(c["paddings"]).astype(int).tolist()]
    mode = str(a.get("mode", "CONSTANT")).upper()
    if mode == "CONSTANT":
        return np.pad(x, pads, constant_values=FILL)
    return np.pad(x, pads, mode="reflect" if mode == "REFLECT" else "symmetric")


def _split(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    axis = int(a["axis"])
    sizes = _ints(c["sizes"])
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    bounds = np.cumsum(sizes)[:-1]
    return np.split(x, bounds, axis=axis)[int(a["index"])]


def _slice(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    begin, size = _ints(c["begin"]), _ints(c["size"])
    index = tuple(slice(b, x.shape[i] if s == -1 else b + s) for i, (b, s) in enumerate(zip(begin, size, strict=True)))
    return x[index]


def _strided_slice(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    begin, end, strides = _ints(c["begin"]), _ints(c["end"]), _ints(c["strides"])
    masks = {
        k: int(a.get(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    }
    index: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            index.append(None)
        elif masks["shrink_axis_mask"] & bit:
            index.append(b)
        else:
            index.append(slice(None if masks["begin_mask"] & bit else b, None if masks["end_mask"] & bit else e, s))
    return x[tuple(index)]


def _gather(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    if a.get("batch_dims", 0):
        raise CompilationError("GatherV2 with batch_dims is not supported")
    axis = int(a["axis"])
    indices = np.asarray(c["indices"]).astype(np.int64)
    indices = np.where(indices < 0, indices + x.shape[axis], indices)
    return np.take(x, indices, axis=axis)


def _depth_to_space(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    b = int(a["block_size"])
    n, h, w, ch = x.shape
    y = x.reshape(n, h, w, b, b, ch // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * b, w * b, ch // (b * b))


def _space_to_depth(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    b = int(a["block_size"])
    n, h, w, ch = x.shape
    y = x.reshape(n, h // b, b, w // b, b, ch).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h // b, w // b, b * b * ch)


def _nearest(size_in: int, size_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TensorFlow's resize_nearest_neighbor source index per output index (float32 arithmetic, as TF)."""
    out = np.arange(size_out, dtype=np.float32)
    if align_corners and size_out > 1:
        scale = np.float32(size_in - 1) / np.float32(size_out - 1)
    else:
        scale = np.float32(size_in) / np.float32(size_out)
    if half_pixel:
        src = np.floor((out + np.float32(0.5)) * scale)
    elif align_corners:
        src = np.round(out * scale)
    else:
        src = np.floor(out * scale)
    return np.minimum(src.astype(np.int64), size_in - 1)


def _resize_nearest(x: np.ndarray, a: dict[str, Any], c: dict[str, np.ndarray]) -> np.ndarray:
    oh, ow = _ints(c["size"])
    align, half = bool(a.get("align_corners", False)), bool(a.get("half_pixel_centers", False))
    rows = _nearest(x.shape[1], oh, align, half)
    cols = _nearest(x.shape[2], ow, align, half)
    return x[:, rows][:, :, cols]


OPS: dict[str, Op] = {
    "Identity": lambda x, a, c: x,
    "Reshape": _reshape,
    "Transpose": lambda x, a, c: np.transpose(x, _ints(c["perm"])),
    "Squeeze": _squeeze,
    "ExpandDims": lambda x, a, c: np.expand_dims(x, int(np.asarray(c["axis"]).reshape(-1)[0])),
    "Pad": _pad,
    "Split": _split,
    "StridedSlice": _strided_slice,
    "Slice": _slice,
    "Tile": lambda x, a, c: np.tile(x, _ints(c["multiples"])),
    "GatherV2": _gather,
    "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _space_to_depth,
    "ResizeNearestNeighbor": _resize_nearest,
}


def gather_map(op: str, attrs: dict[str, Any], consts: dict[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """For each output element, the flat input index it copies (``FILL`` for padding)."""
    if op not in OPS:
        raise CompilationError(f"layout op {op!r} is not supported by the compiler")
    index = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    return np.ascontiguousarray(OPS[op](index, attrs, consts))
