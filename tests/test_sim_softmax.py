"""SOFTMAX on the simulated device against a numpy reference of docs/integer_arithmetic.md."""

from __future__ import annotations

import numpy as np
import pytest

from pytpu.errors import ProgramError
from pytpu.isa import Pattern, ProgramBuilder, Softmax, Unit, assemble, decode, disassemble, encode
from pytpu.isa.layouts import pack_table32, table32_words
from pytpu.sim import Simulator

CWL = 128
SRC, DST, TABLE = 0, 1000, 2000


def reference(codes: np.ndarray, table: np.ndarray, mult: int, shift: int, zo: int) -> np.ndarray:
    """One group per row, written from the formula, with Python integers."""
    out = np.empty_like(codes)
    for g, row in enumerate(codes.astype(int)):
        e = [int(table[v - row.max() + 255]) for v in row]
        denominator = sum(e) * 2**shift
        out[g] = [min(127, max(-128, (2 * x * mult + denominator) // (2 * denominator) + zo)) for x in e]
    return out


def _table(scale: float) -> np.ndarray:
    return np.rint(2.0**15 * np.exp(scale * (np.arange(256) - 255.0))).astype(np.int32)


@pytest.mark.parametrize("group, groups", [(10, 7), (128, 3), (1000, 2), (300, 1)])
def test_softmax_matches_reference(group: int, groups: int) -> None:
    rng = np.random.default_rng(group)
    words = -(-group // CWL)
    codes = rng.integers(-128, 128, (groups, group), dtype=np.int8)
    table, mult, shift, zo = _table(0.07), 16_000_000, 16, -128
    sim = Simulator()
    image = np.full((groups, words * CWL), 55, dtype=np.int8)  # padding lanes hold junk
    image[:, :group] = codes
    sim.write_cache(SRC, image.reshape(-1))
    sim.write_cache(DST, np.full(groups * words * CWL, 99, dtype=np.int8))
    sim.write_cache(TABLE, pack_table32(table, CWL))
    b = ProgramBuilder()
    n = groups * words
    b.emit(
        Unit.EWP,
        Softmax(
            dst=Pattern.contiguous(DST, n),
            src=Pattern.contiguous(SRC, n),
            words=words,
            last=group - (words - 1) * CWL,
            table=TABLE,
            mult=mult,
            shift=shift,
            zo=zo,
        ),
    )
    timeline = sim.run(b.build())
    out = sim.read_cache(DST, n).reshape(groups, words * CWL)
    assert np.array_equal(out[:, :group], reference(codes, table, mult, shift, zo))
    assert (out[:, group:] == 99).all()  # bytes beyond the group's codes are kept
    assert timeline.cycles == 16 + 2 * n + table32_words(CWL)


def test_softmax_encodes_and_round_trips() -> None:
    ins = Softmax(
        dst=Pattern(10, ((4, 2),)), src=Pattern(20, ((4, 2),)), words=2, last=5, table=7, mult=3, shift=16, zo=-1
    )
    assert decode(encode([ins])) == (ins,)
    b = ProgramBuilder()
    b.emit(Unit.EWP, ins)
    program = b.build()
    assert assemble(disassemble(program)) == program


def test_softmax_groups_must_divide_the_words() -> None:
    b = ProgramBuilder()
    b.emit(
        Unit.EWP,
        Softmax(
            dst=Pattern.contiguous(0, 5),
            src=Pattern.contiguous(10, 5),
            words=2,
            last=1,
            table=100,
            mult=1,
            shift=0,
            zo=0,
        ),
    )
    with pytest.raises(ProgramError, match="groups"):
        Simulator().run(b.build())
