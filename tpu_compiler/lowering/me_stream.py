"""The matrix engine's instruction stream as conv and matmul lowerings emit it."""

from __future__ import annotations

from pytpu.isa import Drain, LoadWeights, Unit
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.network import Layer


def drain_stage(layer: Layer, y: Buffer) -> tuple[int, int, int]:
    """What a DRAIN of ``layer``'s output ``y`` adds after requantising: its zero point, and the clamp
    (``lo``, ``hi``: a fused ReLU or ReLU6, else the int8 range)."""
    return y.tensor.zero_point, int(layer.get("lo", -128)), int(layer.get("hi", 127))


class MeStream:
    """Alternates weight buffers and accumulator halves; each DRAIN is emitted after the next LOADW, so the
    weight loader and the output stage overlap the array.

    The ME issues in stream order and a DRAIN starts only once the array is free, so a LOADW behind a DRAIN
    cannot overlap the last GEMM: the array then waits for the tile and restarts its burst.  At the end of a
    step (a band), ``preload`` emits the next step's first LOADW before the step's last DRAIN.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.buf = 0
        self.half = 0
        self.pending: Drain | None = None
        self.preloaded: tuple[int, int, int] | None = None

    def next_block(self) -> int:
        """First accumulator row of the next output tile: the halves alternate so a drain overlaps the next GEMMs."""
        row = self.half * (self.ctx.lim.acc_rows // 2)
        self.half ^= 1
        return row

    def loadw(self, addr: int, k: int, m: int) -> int:
        """Load a K x M weight tile into the other buffer; returns that buffer."""
        if self.preloaded is not None:
            preloaded, self.preloaded = self.preloaded, None
            if preloaded == (addr, k, m):
                self.flush()
                return self.buf
        self.buf ^= 1
        self.ctx.emit(Unit.ME, LoadWeights(buf=self.buf, addr=addr, k=k, m=m))
        self.flush()
        return self.buf

    def preload(self, addr: int, k: int, m: int) -> None:
        """Load the tile the next ``loadw`` will ask for now, ahead of the pending DRAIN."""
        self.buf ^= 1
        self.ctx.emit(Unit.ME, LoadWeights(buf=self.buf, addr=addr, k=k, m=m))
        self.preloaded = (addr, k, m)

    def flush(self) -> None:
        """Emit the deferred DRAIN, if any."""
        if self.pending is not None:
            self.ctx.emit(Unit.ME, self.pending)
            self.pending = None
