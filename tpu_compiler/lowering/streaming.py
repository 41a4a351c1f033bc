"""Emitting a layer's steps so the DMA runs ahead: each step's load before the previous step's work."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pytpu.isa import Pattern
from tpu_compiler.compiler.context import Buffer, Context

T = TypeVar("T")


def pipeline(count: int, copies: int, load: Callable[[int], T], work: Callable[[int, T], None]) -> None:
    """Emit ``count`` steps, each its ``load`` (into slot ``i % copies``) then its ``work`` (computation and
    store). With two copies the next step's load is emitted before this step's work: a DMA lane runs its
    instructions in order, so a load queued behind this step's store would wait for this step's computation."""
    loaded: dict[int, T] = {}
    for i in range(count):
        if i not in loaded:
            loaded[i] = load(i)
        if copies > 1 and i + 1 < count:
            loaded[i + 1] = load(i + 1)
        work(i, loaded.pop(i))


def stream_pixels(
    ctx: Context,
    x: Buffer,
    y: Buffer,
    per: int,
    slots: list[tuple[int, int]],
    emit: Callable[[int, int, int, int], None],
) -> None:
    """Every sample's pixels in chunks of ``per``: a chunk's input loaded into its slot's input buffer (or read
    where it is kept in the cache), ``emit(in_at, out_at, first, pixels)`` computing pixels ``first ..
    first + pixels - 1`` of a sample into the slot's output buffer (or the kept output), then stored; under
    ``pipeline``."""
    pixels = y.tensor.positions
    steps = [(sample, p0, min(per, pixels - p0)) for sample in ctx.samples for p0 in range(0, pixels, per)]

    def load(index: int) -> int:
        sample, p0, n = steps[index]
        held = ctx.cached(x, x.at(sample, p0 * x.wpp))
        if held is not None:
            return held
        at = slots[index % len(slots)][0]
        ctx.load(x, x.at(sample, p0 * x.wpp), Pattern.contiguous(at, n * x.wpp))
        return at

    def work(index: int, in_at: int) -> None:
        sample, p0, n = steps[index]
        kept = ctx.cached(y, y.at(sample, p0 * y.wpp))
        out_at = slots[index % len(slots)][1] if kept is None else kept
        emit(in_at, out_at, p0, n)
        ctx.store(y, y.at(sample, p0 * y.wpp), Pattern.contiguous(out_at, n * y.wpp))

    pipeline(len(steps), len(slots), load, work)
