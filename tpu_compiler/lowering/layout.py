"""Layout layers (reshape, transpose, pad, slices, tiles, depth-to-space, resize-nearest...) and concatenation.

The compiler replays the op on an index array (``tpu_compiler.layout_ops``) to get its gather map; a
map that leaves the words unchanged makes the output a view of the input (no instruction, decided before
memory is planned); any other map is lowered to MOVEs and FILLs, chunk by chunk of output pixels, with
the sources' pixel ranges each chunk reads loaded from DDR (or read where they are kept in the cache).  A
concatenation is the same with several sources, the lanes each source's moves write rescaled where its
quantization differs from the output's (by one RESCALE from the source where its lanes keep their offset).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Instruction, Move, Pattern, Rescale, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.layout_ops import gather_map
from tpu_compiler.lowering.gather import SOURCE_SHIFT, Side, gather_instructions
from tpu_compiler.network import Layer, concat_lanes

Rewrite = Callable[[int, Move], list[Instruction]]  # (source index, a MOVE from it) -> what runs instead


def layout_map(layer: Layer, shape: tuple[int, ...]) -> np.ndarray:
    consts = {k.removeprefix("consts."): v for k, v in layer.arrays.items()}
    return gather_map(layer.get("op", "Identity"), layer.get("attrs", {}), consts, shape)


def concat_map(layer: Layer, shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    axis = int(layer.get("axis", -1)) % len(shapes[0])
    parts = []
    for i, (shape, lanes) in enumerate(zip(shapes, concat_lanes(layer), strict=True)):
        part = (np.int64(i) << SOURCE_SHIFT) | np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
        parts.append(part if lanes is None else part[..., lanes[0] : lanes[0] + lanes[1]])  # channels only
    return np.concatenate(parts, axis=axis)


def lower_layout(ctx: Context, layer: Layer) -> None:
    x = ctx.buffers[layer.inputs[0]]
    fill = int(layer.get("attrs", {}).get("fill", x.tensor.zero_point))
    gather_layer(ctx, layer.name, [x], layout_map(layer, x.tensor.shape), fill)


def lower_concat(ctx: Context, layer: Layer) -> None:
    sources = [ctx.buffers[name] for name in layer.inputs]
    y = ctx.buffers[layer.name]
    mults, shifts, zps = layer.get("mults"), layer.get("shifts"), layer.get("zero_points")

    def rescaled(i: int, move: Move) -> list[Instruction]:
        """A MOVE from source ``i``, its lanes rescaled where that source's scale differs: read from the source
        at once where its lanes stay where they are (the first source), else rescaled in place after it."""
        if int(mults[i]) == 0:
            in_place = move.src == move.dst and move.src_off == move.dst_off  # the output took this source's words
            return [] if in_place else [move]
        same_lanes = move.src_off == move.dst_off
        rescale = Rescale(
            dst=move.dst,
            a=move.src if same_lanes else move.dst,
            za=int(zps[i]),
            mult=int(mults[i]),
            shift=int(shifts[i]),
            zo=y.tensor.zero_point,
            lo=-128,
            hi=127,
            off=move.dst_off,
            len=move.len,
        )
        return [rescale] if same_lanes else [move, rescale]

    gather_layer(
        ctx, layer.name, sources, concat_map(layer, [s.tensor.shape for s in sources]), y.tensor.zero_point, rescaled
    )


def gather_layer(
    ctx: Context, name: str, sources: list[Buffer], mapping: np.ndarray, fill: int, rewrite: Rewrite | None = None
) -> None:
    """Every sample: load what each chunk of output pixels reads, move it into place, store the chunk.

    Sources kept in the cache are read where they are and a kept output is written where it is (no copies:
    a concatenation of kept maps is one MOVE per source and lane run).  ``rewrite(i, move)`` gives what runs
    for each MOVE from source ``i`` (a concatenation rescales the lanes they write)."""
    y = ctx.buffers[name]
    c = y.tensor.channels
    flat = mapping.reshape(y.tensor.positions, c)
    arena = ctx.arena(name)
    held = [ctx.kept_block(s) for s in sources]
    out_held = ctx.kept_block(y)

    def spans(p0: int, p1: int) -> list[tuple[int, int]]:
        block = flat[p0:p1].reshape(-1)
        out = []
        for i, s in enumerate(sources):
            sel = block[(block >= 0) & ((block >> SOURCE_SHIFT) == i)] & ((1 << SOURCE_SHIFT) - 1)
            if sel.size == 0:
                out.append((0, 0))
                continue
            pixels = sel // s.tensor.channels
            out.append((int(pixels.min()), int(pixels.max()) + 1))
        return out

    def words(p0: int, p1: int) -> int:
        loads = sum((b - a) * s.wpp for (a, b), s, h in zip(spans(p0, p1), sources, held, strict=True) if not h)
        return loads + (0 if out_held else (p1 - p0) * y.wpp)

    pixels = y.tensor.positions
    chunk = pixels
    while chunk > 1 and max(words(p, min(pixels, p + chunk)) for p in range(0, pixels, chunk)) > arena.free:
        chunk = -(-chunk // 2)
    need = max(words(p, min(pixels, p + chunk)) for p in range(0, pixels, chunk))
    if need > arena.free:
        raise CompilationError(
            f"layer {name!r} cannot be placed: one output pixel reads {need} cache words, {arena.free} are free"
        )
    for sample in ctx.samples:
        for p0 in range(0, pixels, chunk):
            p1 = min(pixels, p0 + chunk)
            at = arena.top
            sides, regions = [], []
            for (a, b), s, h in zip(spans(p0, p1), sources, held, strict=True):
                count = (b - a) * s.wpp
                start = ctx.cached(s, s.at(sample, a * s.wpp)) if h and count else None
                if start is None:
                    start = at
                    if count:
                        ctx.load(s, s.at(sample, a * s.wpp), Pattern.contiguous(at, count))
                    at += count
                sides.append(Side(start - a * s.wpp, s.tensor.channels, s.wpp, s.lane))
                regions.append((start, start + count))
            out_at = ctx.cached(y, y.at(sample, p0 * y.wpp)) if out_held else None
            out = Side(at if out_at is None else out_at, c, y.wpp)
            # Samples, per-sample passes and cache-search attempts share a chunk's moves; an attempt with less
            # room cuts other chunks, so the key holds the chunk's end too.
            key = (name, p0, p1, tuple(sides), out)
            if key not in ctx.gathers:
                ctx.gathers[key] = gather_instructions(ctx.cwl, flat[p0:p1], sides, out, fill)
            for ins in ctx.gathers[key]:
                if rewrite is None or not isinstance(ins, Move):
                    ctx.emit(Unit.EWP, ins)
                    continue
                # Sources that are one kept map (channel slices of it) share a region; they are one tensor, so the
                # first's quantization is theirs too.
                source = next(i for i, (lo, hi) in enumerate(regions) if lo <= ins.src.base < hi)
                for rewritten in rewrite(source, ins):
                    ctx.emit(Unit.EWP, rewritten)
            ctx.store(y, y.at(sample, p0 * y.wpp), Pattern.contiguous(out.at, (p1 - p0) * y.wpp))
