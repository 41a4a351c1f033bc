"""Element-wise layers on the EWP: lookup tables, add/subtract and multiply with broadcasting.

Operands are loaded in chunks of output pixels; a broadcast operand (a squeeze-and-excitation gate
``[1, 1, 1, C]``) is walked with stride-0 patterns, which ``compress`` finds from the index maps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Add, Instruction, Lut, Mul, Pattern, Unit
from pytpu.isa.layouts import pack_lut
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.memory import Arena
from tpu_compiler.compiler.patterns import compress
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import copies_for
from tpu_compiler.lowering.streaming import pipeline
from tpu_compiler.network import Layer

Make = Callable[[Pattern, list[Pattern], int, int], Instruction]


def position_map(source: Buffer, out: Buffer, layer: str) -> np.ndarray:
    """For each output pixel, the operand pixel it reads (broadcasting aligned on the right)."""
    if source.tensor.channels != out.tensor.channels:
        raise CompilationError(
            f"layer {layer!r}: broadcasting along channels ({source.tensor.channels} -> {out.tensor.channels}) "
            "is not supported"
        )
    positions = np.arange(source.tensor.positions, dtype=np.int64).reshape(source.tensor.shape[:-1])
    return np.broadcast_to(positions, out.tensor.shape[:-1]).reshape(-1)


def lower_lanewise(ctx: Context, layer: Layer, make: Make, arena: Arena) -> None:
    y = ctx.buffers[layer.name]
    sources = [ctx.buffers[name] for name in layer.inputs]
    if y.group > 1:  # a lookup of a map in pixel groups (``Buffer.group``): its words are the "pixels"
        if any(s.group != y.group for s in sources):
            raise CompilationError(f"layer {layer.name!r}: operands in pixel groups of different sizes")
        pixels, lanes = y.sample_words, min(ctx.cwl, y.group * y.tensor.channels)
        maps = [np.arange(pixels, dtype=np.int64) for _ in sources]
    else:
        pixels, lanes = y.tensor.positions, y.tensor.channels if y.wpp == 1 else ctx.cwl
        maps = [position_map(s, y, layer.name) for s in sources]

    # Tensors kept in the cache (every sample) are read and written in place: they take no chunk buffer.
    held = [all(ctx.cached(b, b.at(s)) is not None for s in ctx.samples) for b in (y, *sources)]
    same = all(s.wpp == y.wpp for s in sources)  # every operand has the output's words per pixel

    def chunk_words(p0: int, p1: int) -> int:
        spans = sum(
            (int(m[p0:p1].max()) - int(m[p0:p1].min()) + 1) * s.wpp
            for m, s, kept in zip(maps, sources, held[1:], strict=True)
            if not kept
        )
        return spans + (0 if held[0] else (p1 - p0) * y.wpp)

    if same and all(held) and _by_words(ctx, y):
        _lower_by_words(ctx, y, sources, maps, make)
        return
    chunk = pixels
    while chunk > 1 and ctx.ewp_copies * chunk_words(0, chunk) > arena.free:
        chunk = -(-chunk // 2)
    if chunk_words(0, chunk) > arena.free:
        raise CompilationError(
            f"layer {layer.name!r} cannot be placed: one pixel needs {chunk_words(0, 1)} cache words, "
            f"{arena.free} are free"
        )
    copies = copies_for(chunk_words(0, chunk), arena.free, ctx.ewp_copies)
    if copies > 1:  # pieces the next layer can start on
        chunk = min(chunk, -(-pixels // ctx.spatial_limit))
    sizes = [
        max((int(m[p : p + chunk].max()) - int(m[p : p + chunk].min()) + 1) for p in range(0, pixels, chunk))
        for m in maps
    ]
    slots = [
        (
            [
                arena.alloc(0 if kept else size * s.wpp, f"operand {i}")
                for i, (size, s, kept) in enumerate(zip(sizes, sources, held[1:], strict=True))
            ],
            arena.alloc(0 if held[0] else chunk * y.wpp, "output"),
        )
        for _ in range(copies)
    ]
    steps = [(sample, p0, min(pixels, p0 + chunk)) for sample in ctx.samples for p0 in range(0, pixels, chunk)]

    def load(index: int) -> list[np.ndarray]:
        """The operands' words of step ``index``: where they are kept in the cache, else loaded."""
        sample, p0, p1 = steps[index]
        columns = []
        for s, m, at in zip(sources, maps, slots[index % copies][0], strict=True):
            first, last = int(m[p0:p1].min()), int(m[p0:p1].max())
            held = ctx.cached(s, s.at(sample, first * s.wpp))
            if held is None:
                ctx.load(s, s.at(sample, first * s.wpp), Pattern.contiguous(at, (last - first + 1) * s.wpp))
            else:
                at = held
            columns.append(_words(at, m[p0:p1] - first, s.wpp))
        return columns

    def work(index: int, operands: list[np.ndarray]) -> None:
        sample, p0, p1 = steps[index]
        # Tensors kept in the cache are read and written where they are.
        kept = ctx.cached(y, y.at(sample, p0 * y.wpp))
        out_at = slots[index % copies][1] if kept is None else kept
        columns = [_words(out_at, np.arange(p1 - p0), y.wpp), *operands]
        # Word by word within the chunk when every operand has the output's words per pixel: the next
        # convolution reads a K tile (a word) at a time, so its GEMMs on this chunk start on the first word.
        parts = [[c[w :: y.wpp] for c in columns] for w in range(y.wpp)] if same else [columns]
        for part in parts:
            for patterns in compress(part):
                ctx.emit(Unit.EWP, make(patterns[0], list(patterns[1:]), 0, lanes))
        ctx.store(y, y.at(sample, p0 * y.wpp), Pattern.contiguous(out_at, (p1 - p0) * y.wpp))

    pipeline(len(steps), copies, load, work)


def _by_words(ctx: Context, y: Buffer) -> bool:
    """Whether a layer whose output and operands (of the output's words per pixel) are all kept in the cache
    goes word by word: several words per pixel.  The convolution before usually drains its output tile by
    tile (a tile is a word) and the one after reads its input word by word (a K tile per word): pixel
    chunks would wait for the last tile and hold up the next layer until the last chunk, word steps overlap
    both.  Only for maps of fewer
    than ``2 * array_rows`` pixels, which convolutions take in one band (``bands.pipelined_rows``): one in
    bands finishes word 0 of every pixel only with its last band, and the next one's first band needs
    every word of its pixels."""
    return y.wpp > 1 and y.tensor.positions < 2 * ctx.lim.array_rows


def _lower_by_words(ctx: Context, y: Buffer, sources: list[Buffer], maps: list[np.ndarray], make: Make) -> None:
    """Each sample's output word ``w`` of every pixel in one step, from the operands' words ``w``, in place."""
    pixels = np.arange(y.tensor.positions, dtype=np.int64)
    for sample in ctx.samples:
        out_at, *held = (ctx.cached(b, b.at(sample)) or 0 for b in (y, *sources))  # all kept (_by_words)
        for word in range(y.wpp):
            columns = [out_at + pixels * y.wpp + word]
            columns += [at + m * s.wpp + word for at, m, s in zip(held, maps, sources, strict=True)]
            for patterns in compress(columns):
                ctx.emit(Unit.EWP, make(patterns[0], list(patterns[1:]), 0, ctx.cwl))


def _words(base: int, pixels: np.ndarray, wpp: int) -> np.ndarray:
    """Every word of the given pixels, pixel-major."""
    return (base + pixels[:, None] * wpp + np.arange(wpp)[None, :]).reshape(-1)


def lower_lut(ctx: Context, layer: Layer) -> None:
    if epilogue.is_fused(ctx, layer.name):  # applied by the layer before to its output bands
        return
    arena = ctx.arena(layer.name)
    table = ctx.load_ahead(arena, pack_lut(layer.arrays["table"], ctx.cwl), "lookup table")

    def make(dst: Pattern, srcs: list[Pattern], off: int, length: int) -> Instruction:
        return Lut(dst=dst, a=srcs[0], table=table, off=off, len=length)

    lower_lanewise(ctx, layer, make, arena)


def lower_add(ctx: Context, layer: Layer) -> None:
    (za, zb), (ma, mb) = layer.get("zero_points"), layer.get("mults")
    zo, lo, hi, shift = (
        ctx.buffers[layer.name].tensor.zero_point,
        layer.get("lo", -128),
        layer.get("hi", 127),
        layer.get("shift"),
    )

    def make(dst: Pattern, srcs: list[Pattern], off: int, length: int) -> Instruction:
        return Add(
            dst=dst,
            a=srcs[0],
            b=srcs[1],
            za=int(za),
            zb=int(zb),
            ma=int(ma),
            mb=int(mb),
            shift=int(shift),
            zo=zo,
            lo=int(lo),
            hi=int(hi),
            off=off,
            len=length,
        )

    lower_lanewise(ctx, layer, make, ctx.arena(layer.name))


def lower_mul(ctx: Context, layer: Layer) -> None:
    za, zb = layer.get("zero_points")
    zo, lo, hi = ctx.buffers[layer.name].tensor.zero_point, layer.get("lo", -128), layer.get("hi", 127)

    def make(dst: Pattern, srcs: list[Pattern], off: int, length: int) -> Instruction:
        return Mul(
            dst=dst,
            a=srcs[0],
            b=srcs[1],
            za=int(za),
            zb=int(zb),
            mult=int(layer.get("mult")),
            shift=int(layer.get("shift")),
            zo=zo,
            lo=int(lo),
            hi=int(hi),
            off=off,
            len=length,
        )

    lower_lanewise(ctx, layer, make, ctx.arena(layer.name))
