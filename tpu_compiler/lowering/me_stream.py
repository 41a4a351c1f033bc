"""The matrix engine's instruction stream as conv and matmul lowerings emit it."""

from __future__ import annotations

from pytpu.isa import Drain, LoadWeights, Unit
from tpu_compiler.compiler.context import Context


class MeStream:
    """Alternates weight buffers and accumulator halves; each DRAIN is emitted after the next LOADW, so the
    weight loader and the output stage overlap the array."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.buf = 0
        self.half = 0
        self.pending: Drain | None = None

    def next_block(self) -> int:
        """First accumulator row of the next output tile: the halves alternate so a drain overlaps the next GEMMs."""
        row = self.half * (self.ctx.lim.acc_rows // 2)
        self.half ^= 1
        return row

    def loadw(self, addr: int, k: int, m: int) -> int:
        """Load a K x M weight tile into the other buffer; returns that buffer."""
        self.buf ^= 1
        self.ctx.emit(Unit.ME, LoadWeights(buf=self.buf, addr=addr, k=k, m=m))
        self.flush()
        return self.buf

    def flush(self) -> None:
        """Emit the deferred DRAIN, if any."""
        if self.pending is not None:
            self.ctx.emit(Unit.ME, self.pending)
            self.pending = None
