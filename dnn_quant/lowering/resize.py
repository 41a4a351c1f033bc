"""Bilinear resize: TF's ``ResizeBilinear`` (align_corners, half_pixel_centers or neither), and the form converters
emit on any layout, one ``GatherV2`` of the taps -> ``Mul`` by the weights -> ``Sum`` over the taps per axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnn_quant.graph import Node
from dnn_quant.layers.resize import FloatResizeBilinear
from dnn_quant.lowering.context import Lowering


@dataclass
class _Taps:
    """One axis of the converter's form: where each output reads, with which weights, and the ops doing it."""

    axis: int
    indices: np.ndarray  # [out, taps]
    weights: np.ndarray  # [out, taps], float
    ops: list[str]
    out: str


def resize_bilinear_rule(ctx: Lowering, node: Node) -> bool:
    if node.op == "ResizeBilinear":
        return _tf_op(ctx, node)
    first = _taps(ctx, node) if node.op == "GatherV2" else None
    if first is None:
        return False
    chain = [first]
    consumer = ctx.single_consumer(first.out)
    second = _taps(ctx, consumer) if consumer is not None and consumer.op == "GatherV2" else None
    if second is not None and second.axis != first.axis:
        chain.append(second)  # the second axis reads the first's result: one layer, one rounding
    covers = [op for taps in chain for op in taps.ops]
    layer = FloatResizeBilinear(
        chain[-1].out,
        [node.inputs[0]],
        covers,
        [t.axis for t in chain],
        [t.indices for t in chain],
        [t.weights for t in chain],
    )
    ctx.emit(layer, covers)
    return True


def _tf_op(ctx: Lowering, node: Node) -> bool:
    x, size = node.inputs
    out_size, shape = ctx.const(size), ctx.graph.shapes.get(x)
    if out_size is None or shape is None or len(shape) != 4:
        return False
    align, half = bool(node.attr("align_corners")), bool(node.attr("half_pixel_centers"))
    taps = [tf_taps(int(shape[1 + a]), int(out_size[a]), align, half) for a in range(2)]
    layer = FloatResizeBilinear(node.out, [x], [node.name], [1, 2], [t[0] for t in taps], [t[1] for t in taps])
    ctx.emit(layer, [node.name])
    return True


def tf_taps(size: int, out: int, align_corners: bool, half_pixel: bool) -> tuple[np.ndarray, np.ndarray]:
    """TF's ResizeBilinear along one axis, its float32 arithmetic replayed: input positions and weights
    ``[out, 2]``."""
    f32 = np.float32
    scale = f32(size - 1) / f32(out - 1) if align_corners and out > 1 else f32(size) / f32(out)
    position = np.arange(out, dtype=f32)
    source = (position + f32(0.5)) * scale - f32(0.5) if half_pixel else position * scale
    floor = np.floor(source)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(source), size - 1).astype(np.int64)
    lerp = (source - floor).astype(np.float64)
    return np.stack([lower, upper], axis=1), np.stack([1.0 - lerp, lerp], axis=1)


def _taps(ctx: Lowering, gather: Node) -> _Taps | None:
    """``Sum(Gather(x, indices [out, taps], axis) * weights, axis + 1)`` with weights >= 0 summing to 1 per row."""
    if len(gather.inputs) != 3 or int(gather.attr("batch_dims") or 0) != 0:
        return None
    indices, axis_value = ctx.const(gather.inputs[1]), ctx.const(gather.inputs[2])
    shape = ctx.graph.shapes.get(gather.inputs[0])
    if indices is None or axis_value is None or shape is None or indices.ndim != 2:
        return None
    axis = int(axis_value) % len(shape)
    multiply = ctx.single_consumer(gather.out)
    if multiply is None or multiply.op != "Mul" or len(ctx.activations(multiply)) != 1:
        return None
    weights = ctx.const(next(t for t in multiply.inputs if t != gather.out))
    if weights is None or weights.size != indices.size or weights.ndim > len(shape) + 1:
        return None
    aligned = weights.reshape((1,) * (len(shape) + 1 - weights.ndim) + weights.shape)
    if aligned.shape != (1,) * axis + indices.shape + (1,) * (len(shape) - axis - 1):
        return None
    total = ctx.single_consumer(multiply.out)
    reduced = ctx.const(total.inputs[1]) if total is not None and total.op == "Sum" else None
    if total is None or reduced is None or total.attr("keep_dims") or reduced.size != 1:
        return None
    if int(reduced.reshape(-1)[0]) % (len(shape) + 1) != axis + 1:
        return None
    table = aligned.reshape(indices.shape).astype(np.float64)
    if (table < 0).any() or not np.allclose(table.sum(axis=1), 1.0, rtol=0.0, atol=1e-5):
        return None  # not an interpolation (cubic, extrapolation): no weighted mean of codes
    if (indices < 0).any() or (indices >= shape[axis]).any():
        return None
    return _Taps(axis, indices.astype(np.int64), table, [gather.name, multiply.name, total.name], total.out)
