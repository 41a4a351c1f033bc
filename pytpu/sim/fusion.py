"""Sums a replay forms at their DRAIN: GEMMs and LOADWs whose reads can wait.

A convolution's GEMMs each read activation rows and the tile a LOADW put in a weight buffer; the DRAIN
reads their sum.  A replay (:func:`pytpu.sim.engine.replay`) runs the recorded steps in their order, and
the recorded run saw every cache write land.  Where none of the words a sum's GEMMs read was overwritten
between the read and the DRAIN, reading them at the DRAIN gives the same values: the replay then skips
those GEMMs, and each LOADW whose every GEMM is skipped, and the DRAIN forms the sum from the cache at
once (no copies and no bookkeeping per K tile).  A tile whose words a write lands on after its LOADW (the
weight stream reusing them while the array still multiplies by the buffer) is taken from the copy its
LOADW made instead: that LOADW runs and keeps its copy until the sums using it are formed
(:class:`KeptLoad`).  Where a write lands on the rows a sum read only after its last GEMM (a FILL of
padding the next band reuses), the sum is formed at that GEMM instead and the DRAIN drains as usual.
Consecutive DRAINs whose sums read the same rows (a convolution's output tiles) form their products at
the first, as one (:class:`SharedRows`).  Sums that do not qualify run step by step.

Qualifying: the sum starts with a GEMM that does not accumulate, every further GEMM accumulates into the
same rows and columns, no other ME instruction touches those rows meanwhile, and a DRAIN reads exactly
them.  A write is compared with the words each GEMM read (by range, then address by address where the
range overlaps a pattern that skips words) and with each tile's words (whether the tile is read from the
cache or from its LOADW's copy).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pytpu.isa.base import Instruction
from pytpu.isa.layouts import weight_tile_words
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.isa.pattern import Pattern, Strided
from pytpu.sim.accumulators import EXACT_FLOAT32_TERMS

Range = tuple[int, int]
"""Lowest and highest cache word (inclusive)."""

Words = slice | np.ndarray
"""Cache words a write covered: a slice of consecutive words or their addresses (``Write.words``)."""


@dataclass(frozen=True, slots=True)
class Term:
    """One GEMM (or several merged) of a formed sum: rows ``x`` (bytes ``off..off+k``) times the K x M tile at
    word ``tile``.

    ``rows`` walks ``x``'s words as a view of the cache (:meth:`DeviceState.strided_view` of bytes ``off..off+k``;
    a merged term's ``k`` bytes run on into the next words).
    """

    x: Pattern
    off: int
    k: int
    tile: int
    m: int
    rows: Strided
    kept: int = -1
    """The step of the LOADW whose copy holds the tile (-1: the tile is read from the cache at ``tile``)."""


@dataclass(frozen=True, slots=True)
class FormedSum:
    """What a DRAIN forms before it drains: accumulator rows ``start..start+n``, columns ``:m``.

    ``step`` is where it is formed: the DRAIN's step, or with ``early`` its last GEMM's (a write lands on
    something the sum read before the DRAIN; the DRAIN then drains as it would).  ``ahead``: the product was
    formed by an earlier DRAIN (see :class:`SharedRows`) and waits under ``step``.
    """

    drain: Drain
    start: int
    n: int
    m: int
    terms: tuple[Term, ...]
    step: int
    early: bool = False
    ahead: bool = False


@dataclass(frozen=True, slots=True)
class SharedRows:
    """DRAINs in a row whose sums read the same rows (a convolution's output tiles): the first forms every
    product at once, the rows times all their tiles side by side, so the rows are assembled once and BLAS
    multiplies one wide matrix."""

    members: tuple[FormedSum, ...]


@dataclass(frozen=True, slots=True)
class KeptLoad:
    """A LOADW whose copy of the tile formed sums read (a write lands on the tile's words before they are
    formed): it keeps the copy for ``uses`` reads."""

    ins: LoadWeights
    step: int
    uses: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Steps a replay skips, the sums DRAIN steps form (by step: alone, or for a :class:`SharedRows` its first
    DRAIN), and the LOADWs that keep their copies (by step)."""

    skipped: frozenset[int]
    formed: dict[int, FormedSum | SharedRows]
    kept: dict[int, KeptLoad] = field(default_factory=dict)


@dataclass(slots=True)
class _Load:
    step: int
    ins: LoadWeights
    words: Range
    dirty: bool = False  # a write landed on its words after it read them
    gemms: list[int] = field(default_factory=list)  # every GEMM that read the tile
    uses: int = 0  # formed sums' terms that read its copy


@dataclass(slots=True)
class _Sum:
    start: int
    n: int
    m: int
    gemms: list[int] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    loads: list[_Load] = field(default_factory=list)  # each term's LOADW
    reads: list[tuple[Range, Pattern | None]] = field(default_factory=list)  # the rows (pattern if not every word)
    valid: bool = True
    touched: bool = False  # a write landed on a word it read: no further GEMM may join, and it forms early

    def overlaps(self, start: int, n: int) -> bool:
        return start < self.start + self.n and self.start < start + n


def plan(steps: list[Instruction], actions: tuple[int, ...], writes: dict[int, list[Words]], cwl: int) -> Plan:
    """The plan for a recorded run: ``steps[i]`` is the i-th instruction executed, ``actions`` the recorded
    order (``~i``: step i's writes land) and ``writes[i]`` the cache words step i's writes covered."""
    buffers: dict[int, _Load] = {}
    loads: list[_Load] = []
    sums: list[_Sum] = []
    formed: dict[int, FormedSum] = {}
    fused: set[int] = set()
    for action in actions:
        if action < 0:
            for words in writes.get(~action, ()):
                lo, hi = _range(words)
                for load in _watched(buffers, sums):
                    if load.words[0] <= hi and lo <= load.words[1]:
                        load.dirty = True
                for rows in sums:
                    if rows.valid and not rows.touched and any(_touches(read, words, lo, hi) for read in rows.reads):
                        rows.touched = True
            continue
        ins = steps[action]
        if isinstance(ins, LoadWeights):
            buffers[ins.buf] = _Load(action, ins, _tile_range(ins.addr, ins.k, ins.m, cwl))
            loads.append(buffers[ins.buf])
        elif isinstance(ins, Gemm):
            _gemm(action, ins, buffers.get(ins.buf), sums)
        elif isinstance(ins, Drain):
            n = ins.dst.count
            for rows in [r for r in sums if r.overlaps(ins.acc, n)]:
                if rows.valid and (rows.start, rows.n, rows.m) == (ins.acc, n, ins.m):
                    terms = _merged(_sources(rows), cwl)
                    at = rows.gemms[-1] if rows.touched else action
                    formed[at] = FormedSum(ins, rows.start, rows.n, rows.m, terms, at, early=rows.touched)
                    fused.update(rows.gemms)
                sums.remove(rows)
    kept = {load.step: KeptLoad(load.ins, load.step, load.uses) for load in loads if load.uses}
    skipped = fused | {load.step for load in loads if load.gemms and all(g in fused for g in load.gemms)}
    skipped -= {step for step, formed_sum in formed.items() if formed_sum.early}  # the last GEMMs that form their sums
    skipped -= kept.keys()
    return Plan(frozenset(skipped), _shared(formed, actions, writes, cwl), kept)


def _watched(buffers: dict[int, _Load], sums: list[_Sum]) -> list[_Load]:
    """The tiles a write can still matter to: those in the buffers and those of the sums being built."""
    watched = {id(load): load for load in buffers.values() if not load.dirty}
    for rows in sums:
        watched.update((id(load), load) for load in rows.loads if not load.dirty)
    return list(watched.values())


def _sources(rows: _Sum) -> list[Term]:
    """The sum's terms, each tile a write landed on after its LOADW taken from that LOADW's copy."""
    terms = []
    for term, load in zip(rows.terms, rows.loads, strict=True):
        if load.dirty:
            load.uses += 1
            term = replace(term, kept=load.step)
        terms.append(term)
    return terms


def _shared(
    formed: dict[int, FormedSum], actions: tuple[int, ...], writes: dict[int, list[Words]], cwl: int
) -> dict[int, FormedSum | SharedRows]:
    """``formed`` with each run of consecutive sums over the same rows formed at its first DRAIN.

    A later member's product read at the first DRAIN is the same as read at its own when no write lands on the
    rows or its tiles between the two DRAINs (its sum being formed, none landed between its reads and its
    DRAIN either): a write that does cuts the run before the first member whose DRAIN comes after it.
    """
    order = [a for a in actions if a >= 0 and a in formed and not formed[a].early]
    runs: list[list[int]] = []
    for step in order:
        if runs and _same_rows(formed[runs[-1][0]], formed[step]):
            runs[-1].append(step)
        else:
            runs.append([step])
    run_of = {step: run for run in runs for step in run}
    tiles = {step: [_tile_range(t.tile, t.k, t.m, cwl) for t in formed[step].terms if t.kept < 0] for step in run_of}
    groups: list[list[int]] = []
    open_run: list[int] | None = None  # the run of the group being formed
    first = limit = 0  # the group's first position in the run, and the position it can take members up to
    reads: list[tuple[Range, Pattern | None]] = []
    for action in actions:
        if action >= 0:
            if action not in run_of:
                continue
            run = run_of[action]
            position = run.index(action)
            if run is open_run and position < limit and _loaded_by(formed[action], groups[-1][0]):
                groups[-1].append(action)
            else:
                open_run, first, limit = run, position, len(run)
                groups.append([action])
                reads = [_read(term.x) for term in formed[action].terms]
            continue
        if open_run is None:
            continue
        following = first + len(groups[-1])  # the next member's position
        for words in writes.get(~action, ()):
            lo, hi = _range(words)
            if any(_touches(read, words, lo, hi) for read in reads):
                limit = min(limit, following)
            for later in range(following, limit):
                if any(a <= hi and lo <= b for a, b in tiles[open_run[later]]):
                    limit = later
                    break
    out: dict[int, FormedSum | SharedRows] = dict(formed)
    for group in groups:
        if len(group) > 1:
            members = [formed[group[0]], *(replace(formed[step], ahead=True) for step in group[1:])]
            out[group[0]] = SharedRows(tuple(members))
            out.update((member.step, member) for member in members[1:])
    return out


def _loaded_by(formed: FormedSum, step: int) -> bool:
    """Whether every copy the sum's tiles come from was made before ``step`` (steps are in execution order)."""
    return all(term.kept < step for term in formed.terms)


def _same_rows(a: FormedSum, b: FormedSum) -> bool:
    """Whether the two sums multiply the same rows, term by term."""
    return (
        a.n == b.n
        and len(a.terms) == len(b.terms)
        and all((s.x, s.off, s.k, s.rows) == (t.x, t.off, t.k, t.rows) for s, t in zip(a.terms, b.terms, strict=True))
    )


def _tile_range(addr: int, k: int, m: int, cwl: int) -> Range:
    """The words of the K x M tile stored from word ``addr``."""
    return addr, addr + weight_tile_words(k, m, cwl) - 1


def _read(pattern: Pattern) -> tuple[Range, Pattern | None]:
    """The words a pattern reads: their range, and the pattern itself if it skips words in it."""
    return pattern.span(), None if pattern.is_run() else pattern


def _gemm(step: int, ins: Gemm, load: _Load | None, sums: list[_Sum]) -> None:
    """Add the GEMM to the sum it continues or starts (refusing the sums it cannot be part of)."""
    n = ins.x.count
    if load is not None:
        load.gemms.append(step)
    rows: _Sum | None = None
    for other in [r for r in sums if r.overlaps(ins.acc, n)]:
        if ins.accumulate and (other.start, other.n, other.m) == (ins.acc, n, ins.m):
            rows = other
        else:
            sums.remove(other)  # overwritten or summed onto in part: runs step by step
    if rows is not None and rows.touched:
        rows.valid = False  # it would read a word a write changed after an earlier GEMM read it
    if rows is None:
        if ins.accumulate:
            return  # accumulates onto rows a DRAIN already read: runs step by step
        rows = _Sum(ins.acc, n, ins.m)
        sums.append(rows)
    if load is None or (load.ins.k, load.ins.m) != (ins.k, ins.m):
        rows.valid = False
        return
    rows.gemms.append(step)
    rows.terms.append(Term(ins.x, ins.off, ins.k, load.ins.addr, ins.m, Strided.of(ins.x)))
    rows.loads.append(load)
    rows.reads.append(_read(ins.x))


def _merged(terms: list[Term], cwl: int) -> tuple[Term, ...]:
    """``terms`` with each run of neighbours merged into one term: the next K tile of the same rows in the next
    bytes of each row (a convolution's channel words of a pixel) times the next tile in the next words
    (whole words, so its bytes follow on), up to what one float32 sum holds.  One view and one cast then
    replace several."""
    out: list[Term] = []
    for term in terms:
        last = out[-1] if out else None
        if (
            last is not None
            and last.kept < 0
            and term.kept < 0
            and (last.rows.counts, last.rows.strides) == (term.rows.counts, term.rows.strides)
            and term.rows.base * cwl + term.off == last.rows.base * cwl + last.off + last.k
            and term.m == last.m
            and (last.k * last.m) % cwl == 0
            and term.tile == last.tile + last.k * last.m // cwl
            and last.k + term.k <= EXACT_FLOAT32_TERMS
        ):
            out[-1] = replace(last, k=last.k + term.k)
        else:
            out.append(term)
    return tuple(out)


def _range(words: Words) -> Range:
    if isinstance(words, slice):
        return words.start, words.stop - 1
    return int(words.min()), int(words.max())


def _touches(read: tuple[Range, Pattern | None], words: Words, lo: int, hi: int) -> bool:
    """Whether a write of ``words`` (from ``lo`` to ``hi``) lands on a word of the read: its range first, then,
    for a pattern that skips words (a convolution reading one word of each pixel), its addresses."""
    (a, b), pattern = read
    if b < lo or hi < a:
        return False
    if pattern is None:
        return True
    addresses = pattern.addresses()
    if isinstance(words, slice):
        return bool(np.any((addresses >= words.start) & (addresses < words.stop)))
    return bool(np.isin(addresses, words).any())
