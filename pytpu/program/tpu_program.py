"""``TpuProgram``: an Executable and its TensorDescriptions as a ``.tpu`` file (docs/tpu_format.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pytpu.errors import EncodingError, ProgramError, ProgramFileError
from pytpu.executable import DdrSegment, Executable, TensorDescription
from pytpu.isa.base import Instruction
from pytpu.isa.encoding import ISA_VERSION, decode, encode
from pytpu.isa.program import LayerSpan, Program
from pytpu.isa.units import UNITS, Unit
from pytpu.params import ModelParameters
from pytpu.program.codec import RawCodec, raw_description
from pytpu.program.container import Section, SectionType, atomic_write, parse, serialize

TOOL_NAME = "tpu_framework"
CONSTANT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32")
"""Element types a constant segment may have (stored little-endian)."""


@cache
def installed_version() -> str:
    """The installed toolchain's version (written into every program)."""
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class TensorSpec:
    """What a program takes or gives, as the user sees it."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    """``float32`` for a regular program's tensors (int8 codes are accepted too), ``uint8`` for raw ones."""
    scale: float
    zero_point: int
    packed_nbytes: int
    """Bytes of its packed (raw) form."""

    @classmethod
    def of(cls, d: TensorDescription) -> TensorSpec:
        return cls(d.name, tuple(d.shape), d.dtype, d.scale, d.zero_point, d.nbytes)


class TpuProgram:
    """A compiled program as the runtime loads it: instructions, constants, tensor descriptions, metadata.

    ``raw`` programs (``convert_to_raw``) keep no packing metadata: their tensors are the stored words,
    ``(words, word_length)`` uint8.
    """

    def __init__(
        self,
        executable: Executable,
        tensor_descriptions: Mapping[str, TensorDescription],
        *,
        raw: bool = False,
        compile_parameters: Mapping[str, Any] | None = None,
        tool_version: str | None = None,
    ):
        executable.check_memory_map(tensor_descriptions)
        self.executable = executable
        self.tensor_descriptions = dict(sorted(tensor_descriptions.items()))
        self.raw = raw
        self.compile_parameters: dict[str, Any] = _json_ready(dict(compile_parameters or {}), "compile parameters")
        self.tool_version = tool_version if tool_version is not None else installed_version()

    @classmethod
    def from_executable(
        cls,
        executable: Executable,
        tensor_descriptions: Mapping[str, TensorDescription],
        *,
        compile_parameters: Mapping[str, Any] | None = None,
        tool_version: str | None = None,
    ) -> TpuProgram:
        """Wrap what ``compile_`` returned (``executable, tensor_descriptions = tlm_program``)."""
        return cls(executable, tensor_descriptions, compile_parameters=compile_parameters, tool_version=tool_version)

    @property
    def hw(self) -> ModelParameters:
        return self.executable.hw

    def __repr__(self) -> str:
        exe = self.executable
        return (
            f"TpuProgram({exe.hw.name}, {'raw' if self.raw else 'regular'}, inputs={list(exe.inputs)}, "
            f"outputs={list(exe.outputs)}, {len(exe.program)} instructions)"
        )

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return {name: TensorSpec.of(self.tensor_descriptions[name]) for name in self.executable.inputs}

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return {name: TensorSpec.of(self.tensor_descriptions[name]) for name in self.executable.outputs}

    def to_raw(self) -> tuple[TpuProgram, RawCodec]:
        """The raw version of this program (no packing metadata) and the codec that packs for it."""
        if self.raw:
            raise ProgramError("the program is raw already; convert the regular program it came from")
        names = (*self.executable.inputs, *self.executable.outputs)
        raw = TpuProgram(
            self.executable,
            {name: raw_description(self.tensor_descriptions[name]) for name in names},
            raw=True,
            compile_parameters=self.compile_parameters,
            tool_version=self.tool_version,
        )
        return raw, RawCodec(self.tensor_descriptions, self.executable.inputs, self.executable.outputs)

    # Serialization

    def to_bytes(self) -> bytes:
        return b"".join(self._chunks())

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the program atomically: ``path`` holds the old file or all of the new one, never a part."""
        atomic_write(path, self._chunks())

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> TpuProgram:
        return _read(parse(data, source), source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TpuProgram:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ProgramFileError(f"{os.fspath(path)}: no such TPU program file") from None
        return cls.from_bytes(data, os.fspath(path))

    def _chunks(self) -> list[bytes]:
        constants, table = _constants(self.executable.constants)
        meta = self._metadata(table)
        text = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        sections = [Section(SectionType.METADATA, 0, text.encode())]
        sections += [Section(SectionType.INSTRUCTIONS, u, encode(self.executable.program.stream(u))) for u in UNITS]
        sections.append(Section(SectionType.CONSTANTS, 0, constants))
        return serialize(sections)

    def _metadata(self, constants: list[dict[str, Any]]) -> dict[str, Any]:
        exe = self.executable
        return {
            "compile_parameters": self.compile_parameters,
            "constants": constants,
            "inputs": list(exe.inputs),
            "isa_version": ISA_VERSION,
            "layers": [{"name": s.name, "start": s.start, "stop": s.stop, "unit": s.unit} for s in exe.layers],
            "mode": "raw" if self.raw else "regular",
            "outputs": list(exe.outputs),
            "platform": exe.hw.to_dict(),
            "tensors": {name: _json_ready(d.to_dict(), name) for name, d in self.tensor_descriptions.items()},
            "tool": {"name": TOOL_NAME, "version": self.tool_version},
        }


def convert_to_raw(src: str | os.PathLike[str] | TpuProgram, dst: str | os.PathLike[str]) -> RawCodec:
    """Write the raw version of program ``src`` (a file or a TpuProgram) to ``dst``; the codec packs for it."""
    program = src if isinstance(src, TpuProgram) else TpuProgram.from_file(src)
    raw, codec = program.to_raw()
    raw.to_file(dst)
    return codec


def _constants(segments: tuple[DdrSegment, ...]) -> tuple[bytes, list[dict[str, Any]]]:
    blobs, table, offset = [], [], 0
    for segment in segments:
        data = np.asarray(segment.data)
        if data.dtype.name not in CONSTANT_DTYPES:
            raise ProgramError(
                f"constant segment at {segment.address:#x} holds {data.dtype}, not one of {CONSTANT_DTYPES}"
            )
        blob = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
        entry = {"address": int(segment.address), "channel": int(segment.channel), "dtype": data.dtype.name}
        table.append(entry | {"length": len(blob), "offset": offset, "shape": [int(n) for n in data.shape]})
        blobs.append(blob)
        offset += len(blob)
    return b"".join(blobs), table


def _read(sections: list[Section], source: str) -> TpuProgram:
    by_key: dict[tuple[int, int], bytes] = {}
    for s in sections:
        if (s.type, s.index) in by_key:
            raise ProgramFileError(f"{source}: two sections of type {s.type} index {s.index}")
        by_key[(s.type, s.index)] = s.data  # types this reader does not know are skipped below
    if (SectionType.METADATA, 0) not in by_key:
        raise ProgramFileError(f"{source}: no metadata section")
    try:
        meta = json.loads(by_key[(SectionType.METADATA, 0)].decode())
        return _program(meta, by_key, source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ProgramError):
            raise
        raise ProgramFileError(f"{source}: malformed metadata: {type(exc).__name__}: {exc}") from None


def _program(meta: dict[str, Any], sections: dict[tuple[int, int], bytes], source: str) -> TpuProgram:
    if meta["isa_version"] != ISA_VERSION:
        raise ProgramFileError(
            f"{source}: instruction set version {meta['isa_version']}, this pytpu runs {ISA_VERSION}"
        )
    streams = {u: _stream(sections.get((SectionType.INSTRUCTIONS, u), encode(())), u, source) for u in UNITS}
    constants = _segments(meta["constants"], sections.get((SectionType.CONSTANTS, 0), b""), source)
    executable = Executable(
        hw=ModelParameters.from_dict(meta["platform"]),
        program=Program.from_streams(streams),
        constants=constants,
        inputs=tuple(str(n) for n in meta["inputs"]),
        outputs=tuple(str(n) for n in meta["outputs"]),
        layers=tuple(
            LayerSpan(str(s["name"]), str(Unit[s["unit"]].name), int(s["start"]), int(s["stop"]))
            for s in meta["layers"]
        ),
    )
    descriptions = {name: TensorDescription.from_dict(d) for name, d in meta["tensors"].items()}
    if meta["mode"] not in ("raw", "regular"):
        raise ProgramFileError(f"{source}: unknown mode {meta['mode']!r}")
    return TpuProgram(
        executable,
        descriptions,
        raw=meta["mode"] == "raw",
        compile_parameters=meta["compile_parameters"],
        tool_version=str(meta["tool"]["version"]),
    )


def _stream(data: bytes, unit: Unit, source: str) -> tuple[Instruction, ...]:
    try:
        return decode(data)
    except EncodingError as exc:
        raise ProgramFileError(f"{source}: {unit.name} instructions: {exc}") from None


def _segments(table: list[dict[str, Any]], blob: bytes, source: str) -> tuple[DdrSegment, ...]:
    out = []
    for entry in table:
        if entry["dtype"] not in CONSTANT_DTYPES:
            raise ProgramFileError(f"{source}: constant segment of unknown type {entry['dtype']!r}")
        start, length = int(entry["offset"]), int(entry["length"])
        if start < 0 or start + length > len(blob):
            raise ProgramFileError(f"{source}: constant segment {start}+{length} leaves the constants section")
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        data = np.frombuffer(blob[start : start + length], dtype=dtype).astype(dtype.newbyteorder("="))
        out.append(DdrSegment(int(entry["channel"]), int(entry["address"]), data.reshape(entry["shape"])))
    return tuple(out)


def _json_ready(value: Any, what: str) -> Any:
    """Plain JSON data (tuples as lists, numpy scalars as numbers); anything else is an error."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ProgramError(f"{what}: keys must be strings, got {sorted(map(repr, value))}")
        return {k: _json_ready(v, what) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v, what) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and np.isfinite(value):
        return float(value)
    raise ProgramError(f"{what}: {type(value).__name__} {value!r} cannot be stored in a program's metadata")
