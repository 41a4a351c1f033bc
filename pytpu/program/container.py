"""The byte layout of a ``.tpu`` file (docs/tpu_format.md): header, section table, sections, SHA-256.

This module knows sections as typed byte strings; :mod:`pytpu.program.tpu_program` knows what they hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from pytpu.errors import ProgramFileError, ProgramVersionError

MAGIC = b"TPUPROG\0"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQ")
"""magic, format version, section count, file length (checksum included)"""
ENTRY = struct.Struct("<IIQQ")
"""section type, index, offset from the start of the file, length"""
DIGEST_SIZE = hashlib.sha256().digest_size
ALIGNMENT = 16
"""Every section starts at a multiple of this offset; the gaps are zero bytes."""


class SectionType(IntEnum):
    METADATA = 1
    """UTF-8 JSON, index 0."""
    INSTRUCTIONS = 2
    """One unit's encoded instruction stream; index = the unit (ME=0, EWP=1, DTL0=2, DTL1=3)."""
    CONSTANTS = 3
    """The DDR constant segments back to back, index 0."""


@dataclass(frozen=True)
class Section:
    type: int
    index: int
    data: bytes


def serialize(sections: Sequence[Section]) -> list[bytes]:
    """The file as chunks: header and table, each section (padded to the alignment), the checksum."""
    table_end = HEADER.size + ENTRY.size * len(sections)
    offset = _align(table_end)
    entries, payloads = [], []
    for section in sections:
        entries.append(ENTRY.pack(section.type, section.index, offset, len(section.data)))
        padded = _align(len(section.data))
        payloads.append(section.data + bytes(padded - len(section.data)))
        offset += padded
    total = offset + DIGEST_SIZE
    head = HEADER.pack(MAGIC, FORMAT_VERSION, len(sections), total) + b"".join(entries)
    chunks = [head + bytes(_align(table_end) - table_end), *payloads]
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return [*chunks, digest.digest()]


def parse(data: bytes, source: str) -> list[Section]:
    """Inverse of :func:`serialize`: checks magic, version, length and checksum, in that order."""
    if len(data) < HEADER.size + DIGEST_SIZE:
        if not MAGIC.startswith(data[: len(MAGIC)]):
            raise ProgramFileError(f"{source}: not a TPU program (it does not start with {MAGIC!r})")
        raise ProgramFileError(f"{source}: truncated: {len(data)} bytes, shorter than a header and a checksum")
    magic, version, count, total = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProgramFileError(f"{source}: not a TPU program (it starts with {magic!r}, not {MAGIC!r})")
    if version > FORMAT_VERSION:
        raise ProgramVersionError(
            f"{source}: written in .tpu format version {version}; this reader reads versions up to "
            f"{FORMAT_VERSION}: update pytpu to load it"
        )
    if version < 1:
        raise ProgramFileError(f"{source}: format version {version} does not exist")
    if total != len(data):
        state = "truncated" if len(data) < total else "has trailing bytes"
        raise ProgramFileError(f"{source}: {state}: the header gives {total} bytes, the file has {len(data)}")
    body = memoryview(data)[: total - DIGEST_SIZE]
    if hashlib.sha256(body).digest() != data[total - DIGEST_SIZE :]:
        raise ProgramFileError(f"{source}: checksum mismatch: the file is corrupt")
    return [_section(data, source, i, total - DIGEST_SIZE) for i in range(count)]


def _section(data: bytes, source: str, i: int, end: int) -> Section:
    at = HEADER.size + i * ENTRY.size
    if at + ENTRY.size > end:
        raise ProgramFileError(f"{source}: the section table runs past the end of the file")
    kind, index, offset, length = ENTRY.unpack_from(data, at)
    if offset < at or offset + length > end:
        raise ProgramFileError(f"{source}: section {i} ({offset}+{length} bytes) lies outside the file body")
    return Section(kind, index, bytes(data[offset : offset + length]))


def atomic_write(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a temporary file beside ``path``, sync it and rename it over ``path``.

    Readers see the old file or the whole new one, never a part; if anything fails (or the process is
    interrupted) before the rename, ``path`` is untouched and the temporary file is removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o644 (mkstemp's are 0o600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT
