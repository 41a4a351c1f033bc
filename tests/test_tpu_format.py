""".tpu container: exact round trip, identical bytes for identical inputs, atomic writes, typed errors."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest

from pytpu import (
    DdrSegment,
    Executable,
    ProgramError,
    ProgramFileError,
    ProgramVersionError,
    TPU_64x64_FPGA_PARAMS,
    TPU_128x128_PARAMS,
    TpuProgram,
)
from pytpu.program import container
from pytpu.program.container import FORMAT_VERSION, MAGIC, Section, SectionType
from tests.isa_samples import sample_program
from tests.runtime_programs import classifier, three_outputs
from tests.tpu_programs import dense_executable


def assert_same_program(a: TpuProgram, b: TpuProgram) -> None:
    ea, eb = a.executable, b.executable
    assert ea.hw == eb.hw
    assert ea.program == eb.program
    assert (ea.inputs, ea.outputs, ea.layers) == (eb.inputs, eb.outputs, eb.layers)
    assert len(ea.constants) == len(eb.constants)
    for sa, sb in zip(ea.constants, eb.constants, strict=True):
        assert (sa.channel, sa.address, sa.data.dtype) == (sb.channel, sb.address, sb.data.dtype)
        assert np.array_equal(sa.data, sb.data)
    assert a.tensor_descriptions == b.tensor_descriptions
    assert (a.raw, a.compile_parameters, a.tool_version) == (b.raw, b.compile_parameters, b.tool_version)


def test_round_trip(tmp_path):
    executable, descriptions = three_outputs()
    program = TpuProgram.from_executable(executable, descriptions, compile_parameters={"preset": "O5", "batch": 2})
    path = tmp_path / "model.tpu"
    program.to_file(path)
    loaded = TpuProgram.from_file(path)
    assert_same_program(program, loaded)
    assert loaded.executable.program == executable.program
    assert loaded.tensor_descriptions == descriptions
    assert loaded.to_bytes() == path.read_bytes()
    assert list(loaded.inputs) == ["x"] and list(loaded.outputs) == ["y0", "y1", "y2"]
    assert loaded.inputs["x"].shape == (2, 50) and loaded.inputs["x"].dtype == "float32"


def test_every_instruction_and_constant_types_round_trip():
    segments = (
        DdrSegment(0, 0, np.arange(-128, 128, dtype=np.int8)),
        DdrSegment(1, 256, np.arange(64, dtype=np.uint8)),
        DdrSegment(1, 512, np.array([-(2**31), 2**31 - 1, 7], dtype=np.int32)),
    )
    executable = Executable(hw=TPU_64x64_FPGA_PARAMS, program=sample_program(), constants=segments)
    program = TpuProgram.from_executable(executable, {})
    assert_same_program(program, TpuProgram.from_bytes(program.to_bytes()))


def test_identical_inputs_give_identical_bytes(tmp_path):
    first = TpuProgram.from_executable(*dense_executable())
    executable, descriptions = dense_executable()
    reordered = dict(reversed(list(descriptions.items())))
    second = TpuProgram.from_executable(executable, reordered)
    first.to_file(tmp_path / "a.tpu")
    second.to_file(tmp_path / "b.tpu")
    assert (tmp_path / "a.tpu").read_bytes() == (tmp_path / "b.tpu").read_bytes() == first.to_bytes()
    params = {"a": 1, "b": [1, 2]}
    one = TpuProgram.from_executable(executable, descriptions, compile_parameters=params)
    two = TpuProgram.from_executable(executable, descriptions, compile_parameters=dict(reversed(params.items())))
    assert one.to_bytes() == two.to_bytes() != first.to_bytes()


def test_layout_as_documented():
    program = TpuProgram.from_executable(*classifier(), compile_parameters={"preset": "O1"})
    data = program.to_bytes()
    magic, version, count, total = struct.unpack_from("<8sIIQ", data)
    assert (magic, version, count, total) == (b"TPUPROG\0", 1, 6, len(data))
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    entries = [struct.unpack_from("<IIQQ", data, 24 + 24 * i) for i in range(count)]
    assert [(kind, index) for kind, index, _, _ in entries] == [(1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (3, 0)]
    assert all(offset % 16 == 0 for _, _, offset, _ in entries)
    _, _, offset, length = entries[0]
    meta = json.loads(data[offset : offset + length])
    assert meta["platform"] == TPU_128x128_PARAMS.to_dict()
    assert meta["mode"] == "regular" and meta["inputs"] == ["Placeholder:0"] and meta["outputs"] == ["logits:0"]
    x = meta["tensors"]["Placeholder:0"]
    assert (x["shape"], x["dtype"], x["scale"], x["zero_point"], x["axes"]) == ([2, 50], "float32", 0.05, 3, [])
    assert meta["compile_parameters"] == {"preset": "O1"}
    assert meta["tool"]["name"] == "tpu_framework" and meta["tool"]["version"]
    assert meta["constants"] == [
        {"address": 0, "channel": 0, "dtype": "int8", "length": 1920, "offset": 0, "shape": [1920]}
    ]
    assert meta["layers"][0] == {"name": "fc", "unit": "ME", "start": 0, "stop": 3}


def test_metadata_must_be_json_data():
    with pytest.raises(ProgramError, match="compile parameters: ndarray"):
        TpuProgram.from_executable(*dense_executable(), compile_parameters={"w": np.zeros(3)})
    with pytest.raises(ProgramError, match="compile parameters: float nan"):
        TpuProgram.from_executable(*dense_executable(), compile_parameters={"t": float("nan")})


class Interrupted(BaseException):
    """Stands for a signal or a crash in the middle of writing."""


def interrupt_after_first_chunk(monkeypatch):
    real = TpuProgram._chunks

    def chunks(self):
        parts = real(self)
        yield parts[0]
        raise Interrupted

    monkeypatch.setattr(TpuProgram, "_chunks", chunks)


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.tpu"
    old = TpuProgram.from_executable(*dense_executable(seed=0))
    old.to_file(path)
    before = path.read_bytes()
    interrupt_after_first_chunk(monkeypatch)
    with pytest.raises(Interrupted):
        TpuProgram.from_executable(*dense_executable(seed=1)).to_file(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tpu"]  # no partial file left behind


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    interrupt_after_first_chunk(monkeypatch)
    with pytest.raises(Interrupted):
        TpuProgram.from_executable(*dense_executable()).to_file(tmp_path / "model.tpu")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.tpu"
    path.write_bytes(b"old")

    def fail(*args):
        raise OSError("disk went away")

    monkeypatch.setattr(container.os, "replace", fail)
    with pytest.raises(OSError, match="disk went away"):
        TpuProgram.from_executable(*dense_executable()).to_file(path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tpu"]


def test_new_file_is_readable_by_others(tmp_path):
    path = tmp_path / "model.tpu"
    TpuProgram.from_executable(*dense_executable()).to_file(path)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.fixture(scope="module")
def good_bytes():
    return TpuProgram.from_executable(*dense_executable()).to_bytes()


@pytest.mark.parametrize("keep", [0, 7, 30, 56, 200, -33, -1])
def test_truncated_file(tmp_path, good_bytes, keep):
    path = tmp_path / "cut.tpu"
    path.write_bytes(good_bytes[:keep])
    with pytest.raises(ProgramFileError, match=r"cut\.tpu: truncated"):
        TpuProgram.from_file(path)


def test_every_single_bit_flip_is_caught(good_bytes):
    data = bytearray(good_bytes)
    for at in range(len(data)):
        bit = 1 << (at % 8)
        data[at] ^= bit
        with pytest.raises(ProgramFileError):
            TpuProgram.from_bytes(bytes(data))
        data[at] ^= bit


def test_bit_flip_in_the_body_is_a_checksum_error(good_bytes):
    data = bytearray(good_bytes)
    data[len(data) // 2] ^= 0x10
    with pytest.raises(ProgramFileError, match="checksum mismatch: the file is corrupt"):
        TpuProgram.from_bytes(bytes(data), "model.tpu")


@pytest.mark.parametrize("start", [b"\x89PNG\r\n\x1a\n", b"TPUPROG1", b"PK\x03\x04\x14\x00\x00\x00"])
def test_wrong_magic(good_bytes, start):
    with pytest.raises(ProgramFileError, match=r"x\.tpu: not a TPU program"):
        TpuProgram.from_bytes(start + good_bytes[8:], "x.tpu")
    with pytest.raises(ProgramFileError, match="not a TPU program"):
        TpuProgram.from_bytes(b"\x89PNG", "x.tpu")  # shorter than a header, but not the start of one


def test_future_version(good_bytes):
    data = bytearray(good_bytes)
    struct.pack_into("<I", data, 8, FORMAT_VERSION + 1)
    data[-32:] = hashlib.sha256(data[:-32]).digest()  # a well-formed file of a newer writer
    with pytest.raises(ProgramVersionError, match=r"format version 2; this reader reads versions up to 1"):
        TpuProgram.from_bytes(bytes(data), "new.tpu")


def test_trailing_bytes(good_bytes):
    with pytest.raises(ProgramFileError, match="trailing bytes"):
        TpuProgram.from_bytes(good_bytes + b"\0")


def test_missing_file(tmp_path):
    with pytest.raises(ProgramFileError, match="no such TPU program file"):
        TpuProgram.from_file(tmp_path / "absent.tpu")


def rebuilt(sections):
    return b"".join(container.serialize(sections))


def test_well_formed_container_with_bad_contents():
    with pytest.raises(ProgramFileError, match="malformed metadata: JSONDecodeError"):
        TpuProgram.from_bytes(rebuilt([Section(SectionType.METADATA, 0, b"{not json")]))
    with pytest.raises(ProgramFileError, match="no metadata section"):
        TpuProgram.from_bytes(rebuilt([Section(SectionType.CONSTANTS, 0, b"")]))
    parts = container.parse(TpuProgram.from_executable(*dense_executable()).to_bytes(), "x")
    meta = json.loads(parts[0].data)
    del meta["platform"]
    broken = [Section(SectionType.METADATA, 0, json.dumps(meta).encode()), *parts[1:]]
    with pytest.raises(ProgramFileError, match="malformed metadata: KeyError: 'platform'"):
        TpuProgram.from_bytes(rebuilt(broken))
    garbage = [parts[0], Section(SectionType.INSTRUCTIONS, 0, b"\x01\x05\xff"), *parts[2:]]
    with pytest.raises(ProgramFileError, match="ME instructions: instruction 0: unknown opcode 0xff"):
        TpuProgram.from_bytes(rebuilt(garbage))


def test_sections_of_unknown_types_are_skipped():
    parts = container.parse(TpuProgram.from_executable(*dense_executable()).to_bytes(), "x")
    extended = rebuilt([*parts, Section(99, 0, b"a later writer's notes")])
    assert TpuProgram.from_bytes(extended).to_bytes() == rebuilt(parts)


def test_magic_constant():
    assert MAGIC == b"TPUPROG\0" and FORMAT_VERSION == 1
