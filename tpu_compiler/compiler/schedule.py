"""The instruction list a lowering produces, and the passes that order it.

Lowering appends instructions in one program order (``Emitter``), each tagged with its layer; no
dependencies yet.  ``resolve`` then adds them, following ``DependencyResolutionAlgorithm``:

* true dependencies, both modes: for every cache word (and every DDR word of the activation region) an
  instruction reads, the last writer on every queue; for every word it writes, the last readers on other
  units and the last writers on other queues.  Queues that complete in order before the next instruction
  starts (the EWP, each ME queue) need no dependency on themselves; DMA lanes do (their transfers land
  after the next one starts).
* SEQUENTIAL also makes the first instruction of each layer (of each run of steps with one layer tag) and
  every one after it wait for everything emitted before that layer, on every queue: layers run one after
  the other, never overlapping (nothing of the next layer, not even its weight loads, starts before the
  layer is done), while within a layer its units overlap where the buffers allow (a weight tile's GEMMs
  while the next tile loads).

PARALLEL keeps only the true dependencies, so units overlap wherever the buffers allow, across layers too
(the next layers' weights load while the array computes this one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pytpu.isa import (
    UNITS,
    Instruction,
    LayerSpan,
    Load,
    Program,
    ProgramBuilder,
    Ref,
    Store,
    Unit,
    limits_of,
    queue_of,
)
from pytpu.params import ModelParameters
from pytpu.sim.hazards import ACCESS
from pytpu.sim.timing import QUEUES
from tpu_compiler.compiler.parameters import DependencyResolutionAlgorithm

_Q = {name: i for i, name in enumerate(QUEUES)}
_QUEUE_UNIT = [Unit.ME if name.startswith("ME.") else Unit[name] for name in QUEUES]
_SELF_ORDERED = {_Q["EWP"], _Q["ME.load"], _Q["ME.array"], _Q["ME.drain"]}


@dataclass(frozen=True)
class Step:
    unit: Unit
    ins: Instruction
    layer: str
    wait: int = -1
    """Index (in the steps) of an earlier instruction of another unit this one also waits for: a bound the
    lowering sets (how far ahead the weight stream may load), not a data hazard; -1: none."""


class Emitter:
    """Instructions in program order, tagged with the layer being lowered."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.layer = ""

    def emit(self, unit: Unit, ins: Instruction, layer: str | None = None, wait: int = -1) -> None:
        """Append ``ins`` for ``unit``, tagged with ``layer`` (default: the layer being lowered), also waiting
        for step ``wait`` (-1: none)."""
        self.steps.append(Step(unit, ins, self.layer if layer is None else layer, wait))


class _DdrTable:
    """Last reader/writer per queue of the DDR words of the activation regions (constants are read-only)."""

    def __init__(self, regions: tuple[tuple[int, int, int], ...]):
        self.regions: dict[int, tuple[int, int, int]] = {}  # channel -> (first word, words, offset in the table)
        offset = 0
        for channel, base, words in regions:
            self.regions[channel] = (base, words, offset)
            offset += words
        self.writer = np.full((len(QUEUES), max(offset, 1)), -1, dtype=np.int64)
        self.reader = np.full((len(QUEUES), max(offset, 1)), -1, dtype=np.int64)

    def words(self, ins: Load | Store) -> np.ndarray:
        if ins.ch not in self.regions:
            return np.empty(0, dtype=np.int64)
        base, count, offset = self.regions[ins.ch]
        words = ins.ddr.addresses() - base
        return words[(words >= 0) & (words < count)] + offset


REORDERABLE = (Unit.EWP, Unit.DTL0, Unit.DTL1)
"""Units whose streams a later pass may reorder (``reorder``): each completes its instructions in order."""


def resolve(
    steps: list[Step],
    hw: ModelParameters,
    algorithm: DependencyResolutionAlgorithm,
    activations: tuple[tuple[int, int, int], ...],
    positions: Mapping[Unit, list[int]] | None = None,
) -> tuple[Program, tuple[LayerSpan, ...], dict[Unit, list[tuple[int, ...]]]]:
    """The program with dependencies; ``activations``: (channel, first word, words) of each activation region.

    Also, per instruction of each ``REORDERABLE`` unit, the earlier instructions of that unit it must stay
    after (by index in the unit's emission order): for every cache or activation DDR word it touches, the
    last earlier one that touched it.  The unit runs them in order, so that needs no dependency, but a pass
    that reorders the stream must keep it; counting two reads of a word as a conflict chains every word's
    accesses, so keeping these pairs keeps every conflicting pair's order.

    ``positions``: for some ``REORDERABLE`` units, where each of their instructions (in emission order) goes
    in the unit's stream, an order that keeps those pairs' order (see ``reorder``).  The program's meaning is
    still the emission order: an instruction waits for the furthest position of the instructions of such a
    unit it conflicts with, since the unit, completing in order, has then run every one of them.
    """
    lim = limits_of(hw)
    writer = np.full((len(QUEUES), lim.cache_words), -1, dtype=np.int64)
    reader = np.full((len(QUEUES), lim.cache_words), -1, dtype=np.int64)
    ddr = _DdrTable(activations)
    latest = np.full(len(QUEUES), -1, dtype=np.int64)
    builder = ProgramBuilder()
    spans: dict[tuple[str, Unit], list[int]] = {}
    sequential = algorithm is DependencyResolutionAlgorithm.SEQUENTIAL
    after: dict[Unit, list[tuple[int, ...]]] = {unit: [] for unit in REORDERABLE}
    collect = positions is None and not sequential  # what ``reorder`` needs: once, and only under PARALLEL
    # per reorderable unit and word (cache, then activation DDR), the last instruction that touched it
    touched = {
        unit: (np.full(lim.cache_words, -1, dtype=np.int64), np.full(len(ddr.writer[0]), -1, dtype=np.int64))
        for unit in (REORDERABLE if collect else ())
    }
    orders = dict(positions or {})
    seen = dict.fromkeys(orders, 0)  # instructions of each reordered unit so far
    placed: dict[Unit, list[Instruction | None]] = {unit: [None] * len(p) for unit, p in orders.items()}
    none = np.full(len(QUEUES), -1, dtype=np.int64)
    where: list[tuple[int, int]] = []  # per step: its queue and its position in its unit's stream
    barrier = none.copy()  # SEQUENTIAL: per queue, the last instruction of the layers before this one
    layer = None
    for step in steps:
        if sequential and step.layer != layer:
            layer, barrier = step.layer, latest.copy()
        ins = step.ins
        q = _Q[queue_of(step.unit, ins)]
        order = orders.get(step.unit)
        own = builder.next_ref(step.unit).index if order is None else seen[step.unit]
        index = order[own] if order is not None else own
        need = none.copy()
        reads, writes = ACCESS[type(ins)](ins, lim)
        _conflicts(need, reads, writes, writer, reader, step.unit)
        if step.wait >= 0:
            waited, at = where[step.wait]
            need[waited] = max(need[waited], at)
        where.append((q, index))
        transfer = isinstance(ins, Load | Store)
        words = ddr.words(ins) if isinstance(ins, Load | Store) else reads[:0]
        if transfer:
            d_reads, d_writes = (words, words[:0]) if isinstance(ins, Load) else (words[:0], words)
            _conflicts(need, d_reads, d_writes, ddr.writer, ddr.reader, step.unit)
        if sequential:
            need = np.maximum(need, barrier)
        if step.unit in touched:
            after[step.unit].append(_after(own, touched[step.unit], (np.concatenate((reads, writes)), words)))
        if order is not None:
            seen[step.unit] += 1
        deps = [
            Ref(_QUEUE_UNIT[other], at)
            for other, at in enumerate(need.tolist())
            if at >= 0 and not (other == q and q in _SELF_ORDERED)
        ]
        if order is not None:
            placed[step.unit][index] = ins.with_deps(tuple(dict.fromkeys((*ins.deps, *deps))))
            writer[q, writes] = np.maximum(writer[q, writes], index)  # the furthest position, not the last
            reader[q, reads] = np.maximum(reader[q, reads], index)
        else:
            builder.emit(step.unit, ins, after=deps)
            writer[q, writes] = index
            reader[q, reads] = index
        if transfer:
            table = (ddr.reader if isinstance(ins, Load) else ddr.writer)[q]
            table[words] = np.maximum(table[words], index) if order is not None else index
        latest[q] = index
        spans.setdefault((step.layer, step.unit), []).append(index)
    layers = tuple(
        LayerSpan(name, unit.name, min(indices), max(indices) + 1) for (name, unit), indices in spans.items()
    )
    program = builder.build()
    if placed:
        streams = {unit: list(program.stream(unit)) for unit in UNITS}
        for unit, stream in placed.items():
            if any(ins is None for ins in stream) or len(stream) != seen[unit]:
                raise ValueError(f"positions must place every {unit.name} instruction once")
            streams[unit] = [ins for ins in stream if ins is not None]
        program = Program.from_streams(streams)
    return program, layers, after


def _after(index: int, tables: tuple[np.ndarray, np.ndarray], words: tuple[np.ndarray, np.ndarray]) -> tuple[int, ...]:
    """The earlier instructions of a unit that last touched the cache and DDR words this one (``index`` in the
    unit's emission order) touches; ``tables`` hold, per word, that instruction's index, and get this one's."""
    last: list[int] = []
    for table, touched in zip(tables, words, strict=True):
        if touched.size:
            last.extend(np.unique(table[touched]).tolist())
            table[touched] = index
    return tuple(sorted({i for i in last if i >= 0}))


_OTHER_UNITS = {unit: np.array([u != unit for u in _QUEUE_UNIT]) for unit in Unit}
"""Per unit, the queues of the other units (a unit's own queues run in order: no write-after-read waits)."""


def _conflicts(
    need: np.ndarray, reads: np.ndarray, writes: np.ndarray, writer: np.ndarray, reader: np.ndarray, unit: Unit
) -> None:
    if reads.size:
        np.maximum(need, writer[:, reads].max(axis=1), out=need)
    if writes.size:
        np.maximum(need, writer[:, writes].max(axis=1), out=need)
        war = reader[:, writes].max(axis=1)
        np.maximum(need, war, out=need, where=_OTHER_UNITS[unit])
