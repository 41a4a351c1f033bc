"""The instruction set: patterns, the field table, validation of single instructions, binary encoding."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytpu import TPU_128x128_PARAMS, get_hw_params
from pytpu.errors import AlignmentError, CacheCapacityError, EncodingError, FieldRangeError
from pytpu.isa import INSTRUCTIONS, Gemm, Kind, Pattern, decode, decode_program, encode, encode_program, limits_of
from pytpu.isa.doc import field_table, instruction_heading
from pytpu.isa.validate import instruction_problems
from tests.isa_samples import sample_program

LIM = limits_of(TPU_128x128_PARAMS)


def test_pattern_addresses_walk_row_major():
    p = Pattern(100, ((2, 10), (3, 1)))
    assert p.count == 6
    assert p.addresses().tolist() == [100, 101, 102, 110, 111, 112]
    assert p.span() == (100, 112)
    assert Pattern(50, ((4, -2),)).span() == (44, 50)
    assert Pattern(7).addresses().tolist() == [7]
    assert Pattern(7, ((3, 0),)).addresses().tolist() == [7, 7, 7]


def test_pattern_text_round_trip():
    for p in (Pattern(0), Pattern(12, ((4, -3),)), Pattern(5, ((2, 100), (3, 0), (4, 1), (5, 2)))):
        assert Pattern.parse(str(p)) == p
    assert str(Pattern(100, ((8, 24), (8, 1)))) == "100[8:24,8:1]"
    with pytest.raises(ValueError):
        Pattern.parse("3[4x1]")


def test_every_instruction_has_a_documented_field_table():
    opcodes = {cls.OPCODE for cls in INSTRUCTIONS}
    assert len(opcodes) == len(INSTRUCTIONS) == 18
    for cls in INSTRUCTIONS:
        assert cls.MNEMONIC and cls.UNITS and cls.__doc__
        for field in cls.FIELDS:
            assert field.doc, (cls.MNEMONIC, field.name)
            if field.kind in (Kind.UINT, Kind.INT):
                lo, hi = field.bounds(LIM)
                assert lo <= hi


def test_samples_cover_every_instruction_and_are_valid():
    program = sample_program()
    assert {type(ins) for _, ins in program.refs()} == set(INSTRUCTIONS)
    for _, ins in program.refs():
        assert instruction_problems(ins, LIM) == [], ins


def test_encoding_round_trips_every_stream():
    program = sample_program()
    for stream in program.streams:
        data = encode(stream)
        assert decode(data) == stream
        assert encode(decode(data)) == data  # deterministic


def test_program_encodes_per_unit():
    program = sample_program()
    streams = encode_program(program)
    assert sorted(streams) == ["DTL0", "DTL1", "EWP", "ME"]
    assert decode_program(streams) == program
    with pytest.raises(EncodingError, match="unknown units"):
        decode_program({"GPU": b""})


def test_encoding_is_compact():
    gemm = Gemm(buf=0, x=Pattern(100, ((64, 1),)), off=0, k=128, m=128, acc=0, accumulate=0)
    assert len(encode([gemm] * 100)) < 100 * 16


def test_decoding_rejects_bad_bytes():
    data = encode(sample_program().ewp)
    with pytest.raises(EncodingError, match="ends early"):
        decode(data[:-3])
    with pytest.raises(EncodingError, match="version"):
        decode(b"\x07" + data[1:])
    with pytest.raises(EncodingError, match="unknown opcode"):
        decode(bytes([1, 1, 0xEE]))
    with pytest.raises(EncodingError, match="left after"):
        decode(data + b"\x00")


def gemm(**changes):
    fields = dict(buf=0, x=Pattern(0, ((16, 1),)), off=0, k=64, m=64, acc=0, accumulate=0) | changes
    return Gemm(**fields)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (dict(k=129), FieldRangeError, r"k=129 outside \[1, array_rows\]"),
        (dict(buf=2), FieldRangeError, r"buf=2 outside \[0, weight_buffers-1\] = \[0, 1\]"),
        (dict(accumulate=2), FieldRangeError, "accumulate=2"),
        (dict(x=Pattern(0, ((4097, 1),))), FieldRangeError, r"x walks 4097 words, outside count \[1, max_rows\]"),
        (dict(x=Pattern(0, ((2, 1),) * 5)), FieldRangeError, "5 dimensions, at most 4"),
        (dict(x=Pattern(32760, ((16, 1),))), CacheCapacityError, "x: cache words 32760..32775 outside 0..32767"),
        (dict(off=100, k=64), AlignmentError, "cross the end of a 128-byte word"),
    ],
)
def test_single_instruction_problems(changes, error, message):
    problems = instruction_problems(gemm(**changes), LIM)
    assert problems and problems[0][0] is error
    assert re.search(message, problems[0][1]), problems


def test_ranges_follow_the_platform():
    fpga = limits_of(get_hw_params("64x64_fpga"))
    assert instruction_problems(gemm(k=64, m=64), fpga) == []
    assert instruction_problems(gemm(k=65), fpga)[0][0] is FieldRangeError


def test_docs_show_every_field_table():
    text = (Path(__file__).resolve().parents[1] / "docs" / "isa.md").read_text()
    for cls in INSTRUCTIONS:
        assert instruction_heading(cls) in text, cls.MNEMONIC
        assert field_table(cls) in text, f"docs/isa.md: regenerate the field table of {cls.MNEMONIC}"
