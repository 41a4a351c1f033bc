"""Bilinear resize on the EWP's INTERP instruction: one rounding of the weighted sum of every tap.

Along each resized axis, output position ``o`` reads input positions ``indices[o, :]`` with weights
``weights[o, :]`` (summing to ``2^10``); taps reading one position are merged and taps of weight 0 dropped.
Output positions with the same weights whose input positions advance evenly form a *run*
(``o = o0 + k * step`` reads ``first[t] + k * istep``): a run of each resized axis (and every position of
the other axes) is one INTERP, whose patterns walk the output and tap 0 and whose tap offsets are the
other taps' distances.  With two axes the taps are the products of both axes' taps (at most four), the
weights the products of the weights, and the shift 20, exactly the golden sum.

INTERP mixes words, never lanes, so the resized axes must not be the last (channel) axis of the layout.
When they are not, the layer works on the tensors as they are stored, in bands of the first axis; when
the last axis is resized (a resize of an NCHW tensor), each sample is first gathered (MOVEs) into a layout
whose last axis is one the layer does not resize (or a unit axis), resized there, and gathered back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Interp, Pattern, Unit
from pytpu.isa.ewp_arith import MAX_TAPS
from tpu_compiler.compiler.context import Context
from tpu_compiler.lowering.bands import even_bands, fit_rows
from tpu_compiler.lowering.gather import Side, emit_gather
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.network import Layer

WEIGHT_BITS = 10


@dataclass(frozen=True)
class Run:
    """Output positions ``o0 + k * step`` (``k < count``) of one axis; tap ``t`` reads ``first[t] + k * istep``."""

    o0: int
    step: int
    count: int
    first: tuple[int, ...]
    istep: int
    weights: tuple[int, ...]


def merged_taps(indices: np.ndarray, weights: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per output position, its (input position, weight) pairs: one per position read, none of weight 0."""
    out = []
    for row_indices, row_weights in zip(indices.tolist(), weights.tolist(), strict=True):
        summed: dict[int, int] = {}
        for index, weight in zip(row_indices, row_weights, strict=True):
            summed[int(index)] = summed.get(int(index), 0) + int(weight)
        taps = [(i, w) for i, w in sorted(summed.items()) if w]
        out.append(taps or [(min(summed), 0)])
    return out


def axis_runs(taps: list[list[tuple[int, int]]], outputs: Sequence[int]) -> list[Run]:
    """``outputs`` (increasing) cut into runs: equal weights and tap distances, evenly advancing positions."""
    classes: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for o in outputs:
        first = taps[o][0][0]
        key = (tuple(w for _, w in taps[o]), tuple(i - first for i, _ in taps[o]))
        classes.setdefault(key, []).append(o)
    runs = []
    for members in classes.values():
        i = 0
        while i < len(members):
            o0, j = members[i], i + 1
            step = istep = 0
            if j < len(members):
                step, istep = members[j] - o0, taps[members[j]][0][0] - taps[o0][0][0]
                while j < len(members) and (
                    members[j] - members[j - 1] == step and taps[members[j]][0][0] - taps[members[j - 1]][0][0] == istep
                ):
                    j += 1
            tap_list = taps[o0]
            runs.append(Run(o0, step, j - i, tuple(t for t, _ in tap_list), istep, tuple(w for _, w in tap_list)))
            i = j
    return sorted(runs, key=lambda r: r.o0)


def _strides(shape: Sequence[int], wpp: int) -> list[int]:
    """Words from one index to the next along each axis of a stored tensor (the last axis: lanes, 0)."""
    strides = [0] * len(shape)
    step = wpp
    for axis in range(len(shape) - 2, -1, -1):
        strides[axis] = step
        step *= shape[axis]
    return strides


@dataclass
class _Plan:
    """A resize of a tensor laid out as stored: ``in_shape``/``out_shape`` (one sample, last axis in lanes)."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    wpp: int
    lanes: int
    taps: dict[int, list[list[tuple[int, int]]]]  # per resized axis (not 0, not the last)

    def in_span(self, o0: int, o1: int) -> tuple[int, int]:
        """Input positions along axis 1 that output positions ``o0 .. o1-1`` read."""
        if 1 not in self.taps:
            return o0, o1
        read = [i for o in range(o0, o1) for i, _ in self.taps[1][o]]
        return min(read), max(read) + 1

    def emit(self, ctx: Context, in_at: int, out_at: int, o0: int, o1: int, lo: int) -> None:
        """INTERPs computing output positions ``o0 .. o1-1`` of axis 1 into ``out_at`` (position ``o0``) from the
        input held at ``in_at`` (position ``lo`` of axis 1)."""
        rank = len(self.in_shape)
        s_in, s_out = _strides(self.in_shape, self.wpp), _strides(self.out_shape, self.wpp)
        choices: list[list[Run | None]] = []
        for axis in range(1, rank - 1):
            if axis in self.taps:
                outputs = range(o0, o1) if axis == 1 else range(self.out_shape[axis])
                choices.append(list(axis_runs(self.taps[axis], outputs)))
            else:
                choices.append([None])
        shift = WEIGHT_BITS * len(self.taps)
        for runs in product(*choices):
            dst, src = out_at, in_at
            dims: list[tuple[int, int, int]] = []  # (count, dst stride, src stride)
            taps: list[tuple[int, int]] = [(0, 1)]  # (word offset from tap 0, weight)
            for axis, run in zip(range(1, rank - 1), runs, strict=True):
                base_out = o0 if axis == 1 else 0
                base_in = lo if axis == 1 else 0
                if run is None:
                    count = (o1 - o0) if axis == 1 else self.out_shape[axis]
                    dims.append((count, s_out[axis], s_in[axis]))
                    continue
                dst += (run.o0 - base_out) * s_out[axis]
                src += (run.first[0] - base_in) * s_in[axis]
                dims.append((run.count, run.step * s_out[axis], run.istep * s_in[axis]))
                axis_taps = [((i - run.first[0]) * s_in[axis], w) for i, w in zip(run.first, run.weights, strict=True)]
                taps = [(d + e, w * v) for (d, w), (e, v) in product(taps, axis_taps)]
            dims.append((self.wpp, 1, 1))
            if len(taps) > MAX_TAPS:
                raise CompilationError(f"a bilinear resize with {len(taps)} taps per output (INTERP sums {MAX_TAPS})")
            _emit_interp(ctx, dst, src, _merge(dims), taps, shift, self.lanes)


def _merge(dims: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Dimensions of count 1 dropped, neighbours that walk evenly in both patterns joined."""
    out: list[tuple[int, int, int]] = []
    for count, sd, ss in dims:
        if count == 1:
            continue
        if out:
            c0, d0, s0 = out[-1]
            if d0 == count * sd and s0 == count * ss:
                out[-1] = (c0 * count, sd, ss)
                continue
        out.append((count, sd, ss))
    return out or [(1, 1, 1)]


def _emit_interp(
    ctx: Context,
    dst: int,
    src: int,
    dims: list[tuple[int, int, int]],
    taps: list[tuple[int, int]],
    shift: int,
    lanes: int,
) -> None:
    """One INTERP per element of the dimensions beyond the four a pattern has."""
    outer, inner = dims[:-4], dims[-4:]
    offsets, weights = [d for d, _ in taps], [w for _, w in taps]
    offsets += [0] * (MAX_TAPS - len(taps))
    weights += [0] * (MAX_TAPS - len(taps))
    for index in np.ndindex(*[c for c, _, _ in outer]):
        d0 = dst + sum(i * sd for i, (_, sd, _) in zip(index, outer, strict=True))
        s0 = src + sum(i * ss for i, (_, _, ss) in zip(index, outer, strict=True))
        ctx.emit(
            Unit.EWP,
            Interp(
                dst=Pattern(d0, tuple((c, sd) for c, sd, _ in inner)),
                src=Pattern(s0, tuple((c, ss) for c, _, ss in inner)),
                taps=len(taps),
                d1=offsets[1],
                d2=offsets[2],
                d3=offsets[3],
                w0=weights[0],
                w1=weights[1],
                w2=weights[2],
                w3=weights[3],
                shift=shift,
                zo=0,
                lo=-128,
                hi=127,
                off=0,
                len=lanes,
            ),
        )


def lower_resize_bilinear(ctx: Context, layer: Layer) -> None:
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    shape, out_shape = x.tensor.shape, y.tensor.shape
    rank = len(shape)
    axes = [int(a) % rank for a in layer.get("axes")]
    if 0 in axes:
        raise CompilationError(f"layer {layer.name!r}: a resize along the batch axis is not supported")
    taps = {a: merged_taps(layer.arrays[f"indices.{i}"], layer.arrays[f"weights.{i}"]) for i, a in enumerate(axes)}
    if rank - 1 not in axes:
        lanes = x.tensor.channels if x.wpp == 1 else ctx.cwl
        _lower_stored(ctx, layer, _Plan(shape, out_shape, x.wpp, lanes, taps))
    else:
        _lower_gathered(ctx, layer, taps)


def _lower_stored(ctx: Context, layer: Layer, plan: _Plan) -> None:
    """The tensors as stored, in bands of output positions along axis 1."""
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    in_row, out_row = _strides(plan.in_shape, x.wpp)[1], _strides(plan.out_shape, y.wpp)[1]
    rows = plan.out_shape[1]
    arena = ctx.arena(layer.name)

    first, last = np.arange(rows), np.arange(rows)  # input positions of axis 1 each output position reads
    if 1 in plan.taps:
        first = np.array([taps[0][0] for taps in plan.taps[1]])
        last = np.array([taps[-1][0] for taps in plan.taps[1]])

    def words_of(n: int) -> int:
        highest = np.lib.stride_tricks.sliding_window_view(last, min(n, rows)).max(axis=1)
        lowest = np.lib.stride_tricks.sliding_window_view(first, min(n, rows)).min(axis=1)
        return int((highest - lowest).max() + 1) * in_row + n * out_row

    per_band, copies = fit_rows(rows, words_of, arena.free, rows, layer.name, "input and output", ctx.ewp_copies)
    bands = even_bands(rows, per_band)
    in_words = max(b - a for a, b in (plan.in_span(band.start, band.stop) for band in bands)) * in_row
    slots = [
        (arena.alloc(in_words, "input band"), arena.alloc(per_band * out_row, "output band")) for _ in range(copies)
    ]
    steps = [(sample, band) for sample in ctx.samples for band in bands]

    def load(index: int) -> tuple[int, int]:
        """Where step ``index``'s input band is (loaded into its slot, or kept in the cache) and its first row."""
        sample, band = steps[index]
        lo, hi = plan.in_span(band.start, band.stop)
        held = ctx.cached(x, x.at(sample, lo * in_row))  # a tensor kept in the cache is read in place
        if held is not None:
            return held, lo
        at = slots[index % copies][0]
        ctx.load(x, x.at(sample, lo * in_row), Pattern.contiguous(at, (hi - lo) * in_row))
        return at, lo

    def work(index: int, loaded: tuple[int, int]) -> None:
        sample, band = steps[index]
        in_at, lo = loaded
        kept = ctx.cached(y, y.at(sample, band.start * out_row))
        out_at = slots[index % copies][1] if kept is None else kept
        plan.emit(ctx, in_at, out_at, band.start, band.stop, lo)
        ctx.store(y, y.at(sample, band.start * out_row), Pattern.contiguous(out_at, len(band) * out_row))

    pipeline(len(steps), copies, load, work)


def _lower_gathered(ctx: Context, layer: Layer, taps: dict[int, list[list[tuple[int, int]]]]) -> None:
    """Per sample: gather into a layout whose last axis is not resized, resize there, gather back."""
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    shape, out_shape = x.tensor.shape, y.tensor.shape
    rank = len(shape)
    kept_axes = [a for a in range(1, rank) if a not in taps]
    lane = kept_axes[-1] if kept_axes else None
    order = [0, *(a for a in range(1, rank) if a != lane), *([lane] if lane is not None else [])]
    unit = [] if lane is not None else [1]  # a unit lane axis when every axis is resized
    work_in = (*(shape[a] for a in order), *unit)
    work_out = (*(out_shape[a] for a in order), *unit)
    lanes_count = work_in[-1]
    wpp = ctx.wpp(lanes_count)
    moved = {order.index(a): t for a, t in taps.items()}
    plan = _Plan(work_in, work_out, wpp, lanes_count if wpp == 1 else ctx.cwl, moved)
    in_words = int(np.prod(work_in[:-1])) * wpp
    out_words = int(np.prod(work_out[:-1])) * wpp
    arena = ctx.arena(layer.name)
    need = x.sample_words + in_words + out_words + y.sample_words
    if need > arena.free:
        raise CompilationError(
            f"layer {layer.name!r} cannot be placed: a sample needs {need} cache words, {arena.free} are free"
        )
    src, work_src = arena.alloc(x.sample_words, "input"), arena.alloc(in_words, "input, resized axes outside lanes")
    work_dst, dst = arena.alloc(out_words, "output, resized axes outside lanes"), arena.alloc(y.sample_words, "output")
    forward = np.transpose(np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape), order).reshape(-1)
    work_index = np.arange(int(np.prod(work_out)), dtype=np.int64).reshape([out_shape[a] for a in order])
    backward = np.transpose(work_index, np.argsort(order)).reshape(-1)
    for sample in ctx.samples:
        ctx.load(x, x.at(sample), Pattern.contiguous(src, x.sample_words))
        emit_gather(ctx, forward, [Side(src, x.tensor.channels, x.wpp)], Side(work_src, lanes_count, wpp), 0)
        plan.emit(ctx, work_src, work_dst, 0, work_out[1], 0)
        emit_gather(ctx, backward, [Side(work_dst, lanes_count, wpp)], Side(dst, y.tensor.channels, y.wpp), 0)
        ctx.store(y, y.at(sample), Pattern.contiguous(dst, y.sample_words))
