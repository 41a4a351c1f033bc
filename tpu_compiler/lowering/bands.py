"""Choosing row bands that fit the cache."""

from __future__ import annotations

from collections.abc import Callable

from pytpu.errors import CompilationError
from tpu_compiler.compiler.context import Context
from tpu_compiler.compiler.slicing import Segment
from tpu_compiler.lowering.window import Geometry


def fit_rows(
    rows: int,
    words_of: Callable[[int], int],
    free: int,
    row_limit: int,
    layer: str,
    what: str,
    max_copies: int = 2,
) -> tuple[int, int]:
    """The most rows (<= row_limit) whose buffers fit ``free`` words, and how many copies of the buffers
    (``max_copies`` when that fits, else 1: the band buffers are used in turn, see ``Context.band_copies``)."""
    for copies in sorted({max_copies, 1}, reverse=True):
        best = 0
        lo, hi = 1, max(1, min(rows, row_limit))
        while lo <= hi:
            mid = (lo + hi) // 2
            if copies * words_of(mid) <= free:
                best, lo = mid, mid + 1
            else:
                hi = mid - 1
        if best:
            return best, copies
    raise CompilationError(
        f"layer {layer!r} cannot be placed: one row of {what} needs {words_of(1)} cache words "
        f"but {free} are free after its constants"
    )


def copies_for(words: int, free: int, max_copies: int) -> int:
    """Copies of a band's buffers of ``words`` words: ``max_copies`` when they fit ``free``, else 1."""
    return max_copies if max_copies * words <= free else 1


def even_bands(rows: int, per_band: int) -> list[Segment]:
    count = -(-rows // per_band)
    base, extra = divmod(rows, count)
    out, at = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        out.append(Segment(at, at + size))
        at += size
    return out


def pipelined_rows(ctx: Context, g: Geometry, copies: int) -> int:
    """Rows per band that cut the output into ``ctx.spatial_limit`` bands when the buffers are doubled (else
    all rows): a first load and a last store through DDR then overlap the array's work on the other bands,
    and in the cache the next layer starts on the first band. Bands keep at least ``array_rows`` GEMM rows,
    so each weight tile's load still hides behind a GEMM (maps of fewer than ``2 * array_rows`` pixels stay
    whole)."""
    pieces = min(ctx.spatial_limit, g.oh * g.ow // ctx.lim.array_rows, g.oh)
    return g.oh if copies < 2 or pieces < 2 else -(-g.oh // pieces)
