"""Text assembler and disassembler: exact round trips and clear errors."""

from __future__ import annotations

import pytest

from pytpu.errors import AssemblyError
from pytpu.isa import Gemm, Pattern, Ref, Unit, assemble, disassemble, format_instruction, parse_instruction
from tests.isa_samples import sample_program

TEXT = """\
# a weight tile, then a GEMM waiting for the DMA that brought its rows
.unit ME
0: LOADW buf=0 addr=200 k=100 m=50
1: GEMM buf=0 x=0[8:16,8:1] off=0 k=100 m=50 acc=0 accumulate=0 after=DTL0:0
.unit EWP
.unit DTL0
0: LOAD ch=1 ddr=4096[128:1] cache=0[128:1]
.unit DTL1
"""


def test_program_round_trips_through_text():
    program = sample_program()
    text = disassemble(program)
    assert assemble(text) == program
    assert disassemble(assemble(text)) == text


def test_canonical_text_reads_as_written():
    program = assemble(TEXT)
    assert program.me[1] == Gemm(
        buf=0, x=Pattern(0, ((8, 16), (8, 1))), off=0, k=100, m=50, acc=0, accumulate=0, deps=(Ref(Unit.DTL0, 0),)
    )
    assert disassemble(program) == "\n".join(line for line in TEXT.splitlines() if not line.startswith("#")) + "\n"


def test_fields_in_any_order_and_without_index():
    ins = parse_instruction("gemm accumulate=1 acc=5 m=3 k=2 off=0 x=7 buf=1")
    assert format_instruction(ins) == "GEMM buf=1 x=7 off=0 k=2 m=3 acc=5 accumulate=1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (".unit ME\nFROB x=1\n", r"line 2: unknown mnemonic 'FROB'"),
        (".unit ME\nLOADW buf=0 addr=1 k=1\n", r"line 2: LOADW: unknown fields \[\], missing fields \['m'\]"),
        (".unit ME\nLOADW buf=0 addr=1 k=1 m=1 z=3\n", r"unknown fields \['z'\]"),
        (".unit ME\nLOADW buf=0 addr=x k=1 m=1\n", r"line 2: invalid literal"),
        (".unit XPU\n", r"line 1: unknown unit 'XPU'"),
        ("LOADW buf=0 addr=1 k=1 m=1\n", r"before the first '.unit' line"),
        (".unit ME\n3: LOADW buf=0 addr=1 k=1 m=1\n", r"index prefix 3: but this is instruction 0"),
        (".unit ME\nLOADW buf=0 addr=1 k=1 m=1 after=ME\n", r"line 2"),
        (".unit EWP\nFILL dst=1[2x1] value=0 off=0 len=1\n", r"line 2: pattern dimension '2x1'"),
    ],
)
def test_errors_name_the_line(text, message):
    with pytest.raises(AssemblyError, match=message):
        assemble(text)
