"""Stems on a planar network input: a small-channel convolution read straight from NCHW rows.

An ONNX image input is NCHW.  Kept planar in DDR (the host packs each channel row as ``ceil(W/cwl)``
words), a 224x224x3 image is 172 KB where one pixel per word would be 6.4 MB.  The convolution after it
(the stem: few input channels, ``C * window <= array_rows``) reads those rows directly:

* ``q`` neighbouring output pixels share an accumulator row (``q * M <= array_columns``): row ``p`` (a
  *group*) holds pixels ``q*p .. q*p + q - 1``, whose windows span ``S = (q-1)*sx + (kw-1)*dx + 1`` columns;
* a *window word* holds, for ``R`` input rows ``y + r*dy`` and every channel ``c``, a segment of ``L``
  consecutive input columns at byte ``(r*C + c) * L``.  A GEMM reading it at byte offset ``o`` sees the
  ``S`` columns of the group whose window starts ``o`` columns into the segments, so one word serves ``g``
  groups (offsets ``0, q*sx, .., (g-1)*q*sx``; ``L = S + (g-1)*q*sx``);
* per stack of ``R`` kernel rows one banded (Toeplitz) tile of ``(R*C - 1)*L + S`` rows and ``q*M``
  columns: row ``(r*C + c)*L + s``, column ``j*M + m`` holds ``w[ky, kx, c, m]`` where ``s = j*sx + kx*dx``;
* window words are built by MOVEs from the planar rows loaded into the cache: one MOVE per stacked row,
  channel and source byte offset (two where a segment crosses a word), walking the band's rows and the
  words with that offset.  Padding columns and rows come from FILLed borders of the loaded rows;
* a DRAIN writes an accumulator row's ``q*M`` outputs into the word of the group's first pixel (the other
  pixels land in its padding lanes, which no instruction reads as data: each names the lanes it uses) and
  ``q - 1`` MOVEs copy them to their own pixels' words.

``q``, ``R`` and ``g`` minimise a cost model (array cycles plus EWP cycles).  Output rows go in bands whose
accumulator rows fit half the accumulators; bands are double-buffered and the next band's rows are loaded
and its window words built while the array works on the current one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa import Drain, Fill, Gemm, LoadWeights, Move, Pattern, Unit, limits_of
from pytpu.isa.fields import Limits
from pytpu.isa.layouts import pack_output_stage, pack_weight_tile, weight_tile_words
from pytpu.params import ModelParameters
from tpu_compiler.compiler.context import Buffer, Context
from tpu_compiler.compiler.memory import Arena
from tpu_compiler.compiler.patterns import walk
from tpu_compiler.compiler.slicing import Segment, TensorAxis, row_bands
from tpu_compiler.lowering import epilogue
from tpu_compiler.lowering.bands import copies_for, even_bands, fit_rows
from tpu_compiler.lowering.me_stream import drain_stage
from tpu_compiler.lowering.window import ConvWindow, window_fields
from tpu_compiler.network import Layer

PLANAR_INPUT = "planar_input"
"""Config key of a convolution whose input the host packs planar (NCHW rows); set by the network rewrites."""


def reads_planar_input(layer: Layer) -> bool:
    return layer.kind == "conv" and bool(layer.get(PLANAR_INPUT))


@dataclass(frozen=True)
class StemGeometry(ConvWindow):
    """A convolution's windows with its input channels ``c`` and output channels ``m``."""

    c: int
    m: int


def stem_geometry(layer: Layer, in_shape: Sequence[int], out_shape: Sequence[int]) -> StemGeometry | None:
    """The geometry of a plain (ungrouped, not dense) 2-D convolution over NHWC shapes, else None."""
    if layer.kind != "conv" or layer.get("dense") or int(layer.get("groups", 1)) != 1:
        return None
    if len(in_shape) != 4 or len(out_shape) != 4:
        return None
    m = int(np.shape(layer.arrays["weights"])[3])
    return StemGeometry(**window_fields(layer, in_shape, out_shape), c=int(in_shape[3]), m=m)


@dataclass(frozen=True)
class Phase:
    """Window words ``first, first + period, ..`` (``count``) whose segments start at byte ``off`` of ``word``."""

    first: int
    count: int
    word: int
    off: int


@dataclass(frozen=True)
class StemPlan:
    """How a stem is computed: ``q`` pixels per accumulator row, ``stack`` (R) rows and ``offsets`` (g) groups
    per window word."""

    geo: StemGeometry
    cwl: int
    q: int
    stack: int
    offsets: int

    @property
    def span(self) -> int:
        """S: input columns one group's windows cover."""
        g = self.geo
        return (self.q - 1) * g.sx + (g.kw - 1) * g.dx + 1

    @property
    def segment(self) -> int:
        """L: input columns per channel and row in a window word."""
        return self.span + (self.offsets - 1) * self.q * self.geo.sx

    @property
    def advance(self) -> int:
        """Input columns from one window word to the next."""
        return self.offsets * self.q * self.geo.sx

    @property
    def groups(self) -> int:
        """Accumulator rows per output row."""
        return -(-self.geo.ow // self.q)

    @property
    def words(self) -> int:
        """Window words per start row."""
        return -(-self.groups // self.offsets)

    @property
    def stacks(self) -> int:
        """Tiles (stacks of ``stack`` kernel rows)."""
        return -(-self.geo.kh // self.stack)

    @property
    def step(self) -> int:
        """Input rows between consecutive start rows of window words."""
        return math.gcd(self.geo.sy, self.stack * self.geo.dy)

    def stack_rows(self, i: int) -> int:
        return min(self.stack, self.geo.kh - i * self.stack)

    def depth(self, i: int) -> int:
        """K of tile ``i``."""
        return (self.stack_rows(i) * self.geo.c - 1) * self.segment + self.span

    def group_words(self, j: int) -> int:
        """Window words holding a group at offset ``j`` (the last word may hold fewer groups)."""
        return -(-(self.groups - j) // self.offsets)

    def starts(self, out_rows: int) -> int:
        """Start rows of the window words a band of ``out_rows`` output rows reads."""
        g = self.geo
        return ((out_rows - 1) * g.sy + (self.stacks - 1) * self.stack * g.dy) // self.step + 1

    def in_rows(self, out_rows: int) -> int:
        """Input rows (padding included) those window words hold."""
        return (self.starts(out_rows) - 1) * self.step + (self.stack - 1) * self.geo.dy + 1

    @property
    def lead(self) -> int:
        """Words of left padding before each loaded row (column 0 is byte ``lead * cwl`` of the row)."""
        return -(-self.geo.left // self.cwl)

    @property
    def data_words(self) -> int:
        """Words of one planar row in DDR."""
        return -(-self.geo.w // self.cwl)

    def byte(self, word: int) -> int:
        """Byte of a cached row where window word ``word``'s segments start."""
        return self.lead * self.cwl - self.geo.left + word * self.advance

    @property
    def row_words(self) -> int:
        """Words of a cached row: left padding, the planar row, right padding up to the last byte read."""
        end = self.byte(self.words - 1) + self.segment
        return max(self.lead + self.data_words, -(-end // self.cwl))

    @property
    def period(self) -> int:
        """Window words until the byte offset repeats."""
        return self.cwl // math.gcd(self.cwl, self.advance)

    @cached_property
    def phases(self) -> tuple[Phase, ...]:
        out = []
        for first in range(min(self.period, self.words)):
            at = self.byte(first)
            out.append(Phase(first, len(range(first, self.words, self.period)), at // self.cwl, at % self.cwl))
        return tuple(out)

    def straddles(self, phase: Phase) -> bool:
        return phase.off + self.segment > self.cwl

    def band_words(self, out_rows: int, grouped: bool = False) -> int:
        """Cache words of one band: loaded rows, window words, output pixels (``grouped``: output groups)."""
        g = self.geo
        out = out_rows * (self.groups if grouped else g.ow)
        return g.c * self.in_rows(out_rows) * self.row_words + self.starts(out_rows) * self.words + out

    def feasible(self, lim: Limits) -> bool:
        g = self.geo
        return (
            self.q * g.m <= min(lim.array_columns, self.cwl)
            and self.stack * g.c * self.segment <= self.cwl
            and self.depth(0) <= lim.array_rows
            and self.groups <= lim.acc_rows // 2
            and max(g.kw, g.sx, g.dx) <= 255
        )

    def cost(self, lim: Limits, issue: int, grouped: bool = False) -> int:
        """Array cycles plus EWP cycles (window words and unpacking; ``issue``: an EWP instruction's cycles
        besides its words) of one sample; ``grouped``: the output stays in the drained groups (no unpacking)."""
        g = self.geo
        rows = min(g.oh, lim.acc_rows // 2 // self.groups)
        bands = -(-g.oh // rows)
        starts = self.starts(-(-g.oh // bands))
        moves = sum(2 if self.straddles(p) else 1 for p in self.phases)
        words = sum(p.count * (2 if self.straddles(p) else 1) for p in self.phases)
        build = bands * g.c * self.stack * (issue * moves + starts * words)
        unpack = 0 if grouped else (self.q - 1) * (g.oh * self.groups + bands * issue)
        return self.stacks * g.oh * self.groups + build + unpack


def plan_stem(
    geo: StemGeometry, hw: ModelParameters, pixels: Collection[int] | None = None, grouped: bool = False
) -> StemPlan | None:
    """The cheapest feasible plan on ``hw``, or None when the convolution is no stem (too many channels or
    outputs); ``pixels``: only those ``q``; ``grouped``: for an output left in the drained groups."""
    lim = limits_of(hw)
    cwl = lim.cwl
    best: tuple[int, StemPlan] | None = None
    for q in range(1, max(1, min(lim.array_columns, cwl) // max(1, geo.m)) + 1):
        if pixels is not None and q not in pixels:
            continue
        for stack in range(1, geo.kh + 1):
            for offsets in range(1, cwl + 1):
                plan = StemPlan(geo, cwl, q, stack, offsets)
                if not plan.feasible(lim) or (offsets > 1 and offsets > plan.groups):
                    break  # more offsets only lengthen the segments
                cost = plan.cost(lim, hw.ewp.overhead_cycles, grouped)
                if best is None or cost < best[0]:
                    best = (cost, plan)
    return best[1] if best is not None else None


def stem_tiles(plan: StemPlan, weights: np.ndarray) -> list[np.ndarray]:
    """The Toeplitz tile of every stack of kernel rows."""
    g = plan.geo
    tiles = []
    for i in range(plan.stacks):
        tile = np.zeros((plan.depth(i), plan.q * g.m), dtype=np.int8)
        for r in range(plan.stack_rows(i)):
            for c in range(g.c):
                for j in range(plan.q):
                    for kx in range(g.kw):
                        row = (r * g.c + c) * plan.segment + j * g.sx + kx * g.dx
                        tile[row, j * g.m : (j + 1) * g.m] = weights[i * plan.stack + r, kx, c]
        tiles.append(tile)
    return tiles


@dataclass(frozen=True)
class _Slot:
    rows: int  # cached planar rows: C x in_rows x row_words
    windows: int
    out: int


@dataclass(frozen=True)
class _Step:
    sample: int
    band: Segment
    slot: _Slot
    first_use: bool


class _StemEmitter:
    """Emits a stem band by band: load rows, build window words, GEMMs, then drain, unpack and store."""

    def __init__(
        self,
        ctx: Context,
        layer: Layer,
        plan: StemPlan,
        x: Buffer,
        y: Buffer,
        in_rows: int,
        tile_addrs: list[int],
        params_addr: int,
    ):
        self.ctx, self.plan, self.x, self.y = ctx, plan, x, y
        self.name = layer.name
        self.in_rows = in_rows  # rows each slot holds per channel
        self.tile_addrs, self.params_addr = tile_addrs, params_addr
        self.pad_code = int(layer.get("pad_code", 0))
        _, self.lo, self.hi = drain_stage(layer, y)
        self.buf = 0
        self.half = 0
        self.pending: list[Drain] = []
        self.pending_step: _Step | None = None
        self.grouped = y.group > 1
        """Whether the output stays in the drained groups (``Buffer.group``): no spreading MOVEs."""
        self.row_out = plan.groups if self.grouped else plan.geo.ow
        """Output words per row."""

    # Addresses.

    def _sample_base(self, sample: int) -> int:
        g = self.plan.geo
        return self.x.address + sample * g.c * g.h * self.plan.data_words

    def _row(self, slot: _Slot, c: int, index: int) -> int:
        """Cache word of cached row ``index`` (0 = the band's first input row) of channel ``c``."""
        return slot.rows + (c * self.in_rows + index) * self.plan.row_words

    @property
    def _channels(self) -> tuple[int, int]:
        """The pattern dimension that repeats a run of cached rows in every channel."""
        return self.plan.geo.c, self.in_rows * self.plan.row_words

    # Phases of a band.

    def load(self, step: _Step) -> None:
        """DMA the band's rows inside the image, one transfer per channel."""
        plan, g = self.plan, self.plan.geo
        y0, y1 = self._input_rows(step.band)
        for c in range(g.c):
            dst = self._row(step.slot, c, y0 - self._first_row(step.band)) + plan.lead
            ddr = self._sample_base(step.sample) + (c * g.h + y0) * plan.data_words
            if plan.row_words == plan.data_words:
                cache = Pattern.contiguous(dst, (y1 - y0) * plan.data_words)
            else:
                cache = walk(dst, (y1 - y0, plan.row_words), (plan.data_words, 1))
            self.ctx.load(self.x, ddr, cache)

    def prepare(self, step: _Step) -> None:
        """Padding (borders once per slot, rows outside the image and the last word's tail per band), then
        the window words."""
        self._pad(step)
        self._windows(step)

    def compute(self, step: _Step) -> None:
        plan, g = self.plan, self.plan.geo
        rows = len(step.band)
        acc = self.half * (self.ctx.lim.acc_rows // 2)
        self.half ^= 1
        starts_per_row = g.sy // plan.step
        for i in range(plan.stacks):
            self.buf ^= 1
            k = plan.depth(i)
            self.ctx.emit(Unit.ME, LoadWeights(buf=self.buf, addr=self.tile_addrs[i], k=k, m=plan.q * g.m))
            first = step.slot.windows + (i * plan.stack * g.dy // plan.step) * plan.words
            at = acc
            for j in range(plan.offsets):
                count = plan.group_words(j)
                x = walk(first, (rows, starts_per_row * plan.words), (count, 1))
                off = j * plan.q * g.sx
                gemm = Gemm(buf=self.buf, x=x, off=off, k=k, m=plan.q * g.m, acc=at, accumulate=int(i > 0))
                self.ctx.emit(Unit.ME, gemm)
                if i == 0 and self.pending:
                    # The previous band's drains one by one between this band's first GEMMs (the other half of
                    # the accumulators): the ME starts its instructions in order, a DRAIN once the array is
                    # free, so drains emitted together would hold the array for all but the last of them.
                    self.ctx.emit(Unit.ME, self.pending.pop(0))
                at += rows * count
            if i == 0:
                self.flush()  # the previous band's remaining drains, its MOVEs and its store
        out = self._out(step)
        at = acc
        for j in range(plan.offsets):
            count = plan.group_words(j)
            if self.grouped:
                dst = walk(out + j, (rows, plan.groups), (count, plan.offsets))
            else:
                dst = walk(out + plan.q * j, (rows, g.ow), (count, plan.q * plan.offsets))
            self.pending.append(
                Drain(
                    acc=at,
                    m=plan.q * g.m,
                    params=self.params_addr,
                    zo=self.y.tensor.zero_point,
                    lo=self.lo,
                    hi=self.hi,
                    dst=dst,
                    off=0,
                )
            )
            at += rows * count
        self.pending_step = step

    def flush(self) -> None:
        """The pending band's drains, the MOVEs that give each pixel its outputs, and its store."""
        for drain in self.pending:
            self.ctx.emit(Unit.ME, drain)
        self.pending = []
        step, self.pending_step = self.pending_step, None
        if step is None:
            return
        g = self.plan.geo
        rows, out = len(step.band), self._out(step)
        ddr = self.y.at(step.sample, step.band.start * self.row_out)
        if self.grouped:  # the groups are the output
            band = Pattern.contiguous(out, rows * self.row_out)
            looked_up = epilogue.look_up(self.ctx, self.name, band, self.plan.q * g.m)
            epilogue.store_band(self.ctx, self.name, self.y, ddr, band, looked_up)
            return
        q = 1 if self.y.tensor.name in self.ctx.packed else self.plan.q  # a packed output is not unpacked
        groups = walk(out, (rows, g.ow), (-(-g.ow // q), q))  # each group's word: its q pixels' outputs
        looked_up = epilogue.look_up(self.ctx, self.name, groups, q * g.m)
        for j in range(1, q):
            count = -(-(g.ow - j) // q)
            if count:
                move = Move(
                    dst=walk(out + j, (rows, g.ow), (count, q)),
                    src=walk(out, (rows, g.ow), (count, q)),
                    src_off=j * g.m,
                    dst_off=0,
                    len=g.m,
                )
                self.ctx.emit(Unit.EWP, move)
        band = Pattern.contiguous(out, rows * g.ow * self.y.wpp)
        epilogue.store_band(self.ctx, self.name, self.y, ddr, band, looked_up)

    # Helpers.

    def _first_row(self, band: Segment) -> int:
        return band.start * self.plan.geo.sy - self.plan.geo.top

    def _input_rows(self, band: Segment) -> tuple[int, int]:
        """The band's input rows inside the image (may be empty)."""
        y0 = self._first_row(band)
        y1 = y0 + self.plan.in_rows(len(band))
        lo, hi = max(y0, 0), min(y1, self.plan.geo.h)
        return lo, max(lo, hi)

    def _out(self, step: _Step) -> int:
        kept = self.ctx.cached(self.y, self.y.at(step.sample, step.band.start * self.row_out))
        return step.slot.out if kept is None else kept  # drained straight into a tensor kept in the cache

    def _pad(self, step: _Step) -> None:
        plan, g, ctx = self.plan, self.plan.geo, self.ctx
        rw = plan.row_words
        if step.first_use:  # left and right borders: no load ever writes them
            everything = (g.c * self.in_rows, rw)
            if plan.lead:
                ctx.fill(walk(step.slot.rows, everything, (plan.lead, 1)), self.pad_code)
            trail = rw - plan.lead - plan.data_words
            if trail:
                ctx.fill(walk(step.slot.rows + plan.lead + plan.data_words, everything, (trail, 1)), self.pad_code)
        first, total = self._first_row(step.band), plan.in_rows(len(step.band))
        y0, y1 = self._input_rows(step.band)
        above = min(total, max(0, -first))
        below_from = max(y1, first + above) - first
        for index, count in ((0, above), (below_from, total - below_from)):
            if count > 0:
                ctx.fill(walk(self._row(step.slot, 0, index), self._channels, (count * rw, 1)), self.pad_code)
        tail = g.w % self.ctx.cwl
        if tail and y1 > y0:  # bytes of the last word past the row (the DMA brought the host's padding)
            last = self._row(step.slot, 0, y0 - first) + plan.lead + plan.data_words - 1
            words = walk(last, self._channels, (y1 - y0, rw))
            ctx.emit(Unit.EWP, Fill(dst=words, value=self.pad_code, off=tail, len=self.ctx.cwl - tail))

    def _windows(self, step: _Step) -> None:
        plan, g, cwl = self.plan, self.plan.geo, self.ctx.cwl
        starts = plan.starts(len(step.band))
        rw, seg = plan.row_words, plan.segment
        word_step = plan.advance * plan.period // cwl
        for r in range(plan.stack):
            for c in range(g.c):
                row = self._row(step.slot, c, r * g.dy)
                for phase in plan.phases:
                    dst = walk(step.slot.windows + phase.first, (starts, plan.words), (phase.count, plan.period))
                    first = min(seg, cwl - phase.off)
                    parts = [(0, phase.off, first)] + ([(1, 0, seg - first)] if first < seg else [])
                    for extra, src_off, length in parts:
                        src = walk(row + phase.word + extra, (starts, plan.step * rw), (phase.count, word_step))
                        dst_off = (r * g.c + c) * seg + (first if extra else 0)
                        move = Move(dst=dst, src=src, src_off=src_off, dst_off=dst_off, len=length)
                        self.ctx.emit(Unit.EWP, move)


def lower_stem(ctx: Context, layer: Layer) -> None:
    """A convolution whose input is a planar network input (see the module docstring)."""
    x, y = ctx.buffers[layer.inputs[0]], ctx.buffers[layer.name]
    geo = stem_geometry(layer, x.tensor.shape, y.tensor.shape)
    grouped = y.group > 1
    plan = plan_stem(geo, ctx.hw, (y.group,) if grouped else None, grouped) if geo is not None else None
    if plan is None or y.wpp != 1:
        raise CompilationError(f"layer {layer.name!r} reads a planar input but is no stem this compiler can lower")
    if _pooled_packed(ctx, layer.name, y, plan):
        ctx.packed[layer.name] = plan.q
    arena = ctx.arena(layer.name)
    tile_addrs, params_addr = _load_constants(ctx, layer, plan, arena)
    epilogue.fuse(ctx, layer, arena, kept=grouped)  # grouped: looked up q pixels per word, kept or not
    per_band, copies, bands = _bands(ctx, layer, plan, arena.free, grouped)
    emitter = _StemEmitter(ctx, layer, plan, x, y, plan.in_rows(per_band), tile_addrs, params_addr)
    slots = [
        _Slot(
            arena.alloc(plan.geo.c * emitter.in_rows * plan.row_words, "planar rows"),
            arena.alloc(plan.starts(per_band) * plan.words, "window words"),
            arena.alloc(per_band * emitter.row_out, "output band"),
        )
        for _ in range(copies)
    ]
    steps = [
        _Step(sample, band, slots[i % copies], i < copies)
        for i, (sample, band) in enumerate((s, b) for s in ctx.samples for b in bands)
    ]
    emitter.load(steps[0])
    for i, step in enumerate(steps):
        emitter.prepare(step)
        if i + 1 < len(steps):
            emitter.load(steps[i + 1])  # ahead of this band's store on the lane, so the next band is not held up
        emitter.compute(step)
    emitter.flush()


def _pooled_packed(ctx: Context, name: str, y: Buffer, plan: StemPlan) -> bool:
    """Whether to leave the output packed (``q`` pixels in each group's first word, no unpacking MOVEs): it is
    kept in the cache and read only by a max pool, which takes the vertical maximum of the packed words
    first and unpacks ``1/sy`` of the rows (ResNet-50: 12,544 fewer MOVE words and half the pool's taps)."""
    readers = ctx.readers.get(name, [])
    return (
        plan.q > 1
        and len(readers) == 1
        and readers[0].kind == "max_pool"
        and readers[0].inputs[0] == name
        and ctx.kept_block(y)
    )


def _bands(ctx: Context, layer: Layer, plan: StemPlan, free: int, grouped: bool) -> tuple[int, int, list[Segment]]:
    """Rows per band, buffer copies (2: double buffering) and the bands: the user's, or the most rows that fit."""
    oh = plan.geo.oh
    band_words = functools.partial(plan.band_words, grouped=grouped)
    row_limit = min(ctx.lim.max_rows, ctx.lim.acc_rows // 2) // plan.groups
    bands = row_bands(ctx.scheme, layer.name, oh, (TensorAxis.HEIGHT,))
    if bands is None:
        per_band, copies = fit_rows(oh, band_words, free, row_limit, layer.name, "rows and window words", ctx.me_copies)
        return per_band, copies, even_bands(oh, per_band)
    per_band = max(len(b) for b in bands)
    if per_band > row_limit or band_words(per_band) > free:
        raise CompilationError(
            f"slicing scheme of layer {layer.name!r}: a band of {per_band} rows needs "
            f"{band_words(per_band)} cache words and {per_band * plan.groups} accumulator rows; "
            f"{free} words and {row_limit * plan.groups} rows are available"
        )
    return per_band, copies_for(band_words(per_band), free, ctx.me_copies), bands


def _load_constants(ctx: Context, layer: Layer, plan: StemPlan, arena: Arena) -> tuple[list[int], int]:
    """Every tile and the output-stage block (each channel's parameters repeated for the ``q`` pixels):
    the tiles' cache addresses and the block's."""
    tiles = stem_tiles(plan, np.asarray(layer.arrays["weights"], dtype=np.int8))
    q = plan.q
    params = pack_output_stage(
        np.tile(layer.arrays["bias"], q), np.tile(layer.arrays["mult"], q), np.tile(layer.arrays["shift"], q), ctx.cwl
    )
    words = np.concatenate([pack_weight_tile(t, ctx.cwl) for t in tiles] + [params])
    at = ctx.load_ahead(arena, words, "stem tiles")  # through the weight stream, as every convolution's weights
    addrs = []
    for tile in tiles:
        addrs.append(at)
        at += weight_tile_words(tile.shape[0], tile.shape[1], ctx.cwl)
    return addrs, at
