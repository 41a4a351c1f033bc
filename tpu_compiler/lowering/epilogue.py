"""Layer fusion of a lookup table into the convolution before it: applied to each output band before its store.

A convolution followed by its activation as a lookup (YOLOv8n's and EfficientNet's SiLU) whose output map
does not stay in the cache stores the map, and the lookup loads it, looks it up and stores it again: two
DDR round trips of the map where one does.  Fused (``layer_fusion``, the manual's "B1 computed from A1"),
the convolution looks up each output band where it drained it and stores the band as the lookup's
output; the lookup layer then emits nothing.  Lowerings that store their output band by band
(``conv._emit_group``, ``stem``) call :func:`fuse` once they know they do, and :func:`store_band` for each
band.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pytpu.isa import Lut, Pattern, Unit
from pytpu.isa.layouts import pack_lut
from tpu_compiler.compiler.context import Buffer, Context, ddr_walk
from tpu_compiler.compiler.memory import Arena
from tpu_compiler.network import Layer

PRODUCERS = frozenset({"conv"})
"""Layer kinds whose lowerings may take a lookup as their epilogue."""


@dataclass(frozen=True)
class Epilogue:
    """The lookup a layer applies to its output bands: the lookup layer, its output buffer, its table's cache
    word and the lanes of each word it looks up."""

    lut: str
    out: Buffer
    table: int
    lanes: int


def fusible(
    order: list[Layer], readers: Mapping[str, list[Layer]], outputs: Collection[str], split: int, fusion: int
) -> dict[str, Layer]:
    """Producer -> the lookup that may be fused into it: the lookup comes right after it, is its output's only
    reader, that output is no network output, and both run in the same pass (``split``: the per-sample
    prefix).  None when ``fusion`` (``layer_fusion``) is 0."""
    if fusion == 0:
        return {}
    out: dict[str, Layer] = {}
    for i, (producer, layer) in enumerate(itertools.pairwise(order)):
        if (
            layer.kind == "lut"
            and producer.kind in PRODUCERS
            and list(layer.inputs) == [producer.name]
            and [r.name for r in readers.get(producer.name, [])] == [layer.name]
            and producer.name not in outputs
            and (i + 1 < split) == (i < split)
        ):
            out[producer.name] = layer
    return out


def fuse(ctx: Context, producer: Layer, arena: Arena, kept: bool = False) -> None:
    """Take on the lookup fusible into ``producer`` (if any, and unless a map stays in the cache and ``kept`` is
    False): its table goes into ``arena``, and the lookup layer will emit nothing.

    Where a map stays in the cache there is no round trip to save, and a lookup of the output bands would only
    wait for them; a lowering that looks up fewer words than the map has (``kept``: pixel groups, several
    pixels per word) saves lookups there too.  It then writes the lookup's output a layer before the lookup's
    place in the order, so only where that output is not kept or takes the convolution's own output's words
    (the memory plan puts a lookup's output in place of its operand read for the last time): a kept output
    elsewhere may share words with what the convolution still reads."""
    lut = ctx.fusible.get(producer.name)
    if lut is None:
        return
    y, out = ctx.buffers[producer.name], ctx.buffers[lut.name]
    places = [(ctx.cached(y, y.at(s)), ctx.cached(out, out.at(s))) for s in ctx.samples]
    in_cache = any(p is not None or z is not None for p, z in places)
    elsewhere = any(z is not None and z != p for p, z in places)  # the lookup's output kept apart from y's words
    if in_cache and (not kept or elsewhere):
        return
    table = ctx.load_constant(arena, pack_lut(lut.arrays["table"], ctx.cwl), "lookup table")
    lanes = out.tensor.channels if out.wpp == 1 else ctx.cwl
    ctx.epilogues[producer.name] = Epilogue(lut.name, out, table, lanes)


def output(ctx: Context, producer: str) -> Buffer:
    """Where ``producer``'s output goes: the fused lookup's output (same shape), or its own."""
    epilogue = ctx.epilogues.get(producer)
    return ctx.buffers[producer] if epilogue is None else epilogue.out


def is_fused(ctx: Context, layer: str) -> bool:
    """Whether the lookup ``layer`` runs as the epilogue of the layer before it (it then emits nothing)."""
    return any(e.lut == layer for e in ctx.epilogues.values())


def look_up(ctx: Context, producer: str, words: Pattern, lanes: int) -> bool:
    """Apply the lookup fused into ``producer`` (if any) to ``lanes`` of each of ``words`` in place; whether it
    did.  A lowering that drains several pixels per word applies it there, before spreading them: fewer
    words to look up than the output has pixels."""
    epilogue = ctx.epilogues.get(producer)
    if epilogue is None:
        return False
    ctx.emit(Unit.EWP, Lut(dst=words, a=words, table=epilogue.table, off=0, len=lanes))
    return True


def store_band(
    ctx: Context, producer: str, y: Buffer, ddr: int | Pattern, cache: Pattern, looked_up: bool = False
) -> None:
    """Store words of ``producer``'s output ``y``: as they are, or looked up in place first (unless
    ``looked_up``) and stored as the fused lookup's output (same shape, so the same words of its buffer)."""
    epilogue = ctx.epilogues.get(producer)
    if epilogue is None:
        ctx.store(y, ddr, cache)
        return
    if not looked_up:
        look_up(ctx, producer, cache, epilogue.lanes)
    walk = ddr_walk(ddr, cache.count)
    ctx.store(epilogue.out, Pattern(epilogue.out.address + walk.base - y.address, walk.dims), cache)
