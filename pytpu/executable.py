"""What the compiler hands the device: the Executable and the TensorDescriptions of its inputs and outputs.

Both are plain frozen dataclasses of ints, floats, strings, tuples and numpy arrays, so a container can
store them field by field without pickle (instruction streams through :func:`pytpu.isa.encode`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from pytpu.errors import AlignmentError, DdrCapacityError, InputDataError
from pytpu.isa.program import LayerSpan, Program
from pytpu.params import ModelParameters


@dataclass(frozen=True)
class TensorDescription:
    """A model input or output: how the user sees it and how it lies in DDR as int8 words.

    The tensor is stored as ``np.transpose(codes, axes)`` (``axes`` empty: as given), its last stored
    axis ("channels") packed into words: each position of the other axes (a "pixel") takes
    ``ceil(channels / word_length)`` consecutive words, channel ``c`` at byte ``c`` of them, the tail of
    the last word padded with the zero point.  Pixels follow each other in row-major order from
    ``ddr_address`` in channel ``ddr_channel``.
    """

    name: str
    """The user's tensor name (e.g. the ONNX tensor id)."""
    shape: tuple[int, ...]
    """Shape the user passes and receives, batch included."""
    scale: float
    zero_point: int
    ddr_channel: int
    ddr_address: int
    """Byte address of the first word, word aligned."""
    word_length: int
    """Cache word length of the platform the program runs on."""
    axes: tuple[int, ...] = ()
    dtype: str = "float32"
    """The user-side data type (data are int8 codes on the device)."""

    @property
    def stored_shape(self) -> tuple[int, ...]:
        shape = tuple(self.shape[a] for a in self.axes) if self.axes else tuple(self.shape)
        return shape or (1,)

    @property
    def pixels(self) -> int:
        return int(np.prod(self.stored_shape[:-1], dtype=np.int64))

    @property
    def channels(self) -> int:
        return self.stored_shape[-1]

    @property
    def words_per_pixel(self) -> int:
        return -(-self.channels // self.word_length)

    @property
    def words(self) -> int:
        return self.pixels * self.words_per_pixel

    @property
    def nbytes(self) -> int:
        """Bytes the tensor occupies in DDR."""
        return self.words * self.word_length

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float values -> int8 codes: ``clip(rint(x / scale) + zero_point, -128, 127)``."""
        q = np.rint(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """int8 codes -> float32 values: ``(q - zero_point) * scale``."""
        return ((np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale).astype(np.float32)

    def to_words(self, codes: np.ndarray) -> np.ndarray:
        """Tensor2Words: codes in the user's shape -> ``(words, word_length)`` int8 as stored in DDR."""
        codes = np.asarray(codes, dtype=np.int8).reshape(self.shape)
        stored = np.transpose(codes, self.axes) if self.axes else codes
        rows = stored.reshape(self.pixels, self.channels)
        padded = np.full((self.pixels, self.words_per_pixel * self.word_length), self.zero_point, dtype=np.int8)
        padded[:, : self.channels] = rows
        return padded.reshape(self.words, self.word_length)

    def from_words(self, words: np.ndarray) -> np.ndarray:
        """Words2Tensor: stored words -> codes in the user's shape."""
        rows = np.asarray(words, dtype=np.int8).reshape(self.pixels, -1)[:, : self.channels]
        stored = rows.reshape(self.stored_shape)
        if not self.axes:
            return stored.reshape(self.shape)
        return np.transpose(stored, np.argsort(self.axes))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (tuples as lists)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: list(v) if isinstance(v, tuple) else v for name, v in values.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorDescription:
        """Inverse of :meth:`to_dict`."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def pack(self, x: np.ndarray) -> np.ndarray:
        """Packing: float (or already int8) data in the user's shape -> stored words."""
        x = np.asarray(x)
        if tuple(x.shape) != tuple(self.shape):
            raise InputDataError(f"tensor {self.name!r} has shape {tuple(self.shape)}, got {tuple(x.shape)}")
        codes = x if x.dtype == np.int8 else self.quantize(x)
        return self.to_words(codes)

    def unpack(self, words: np.ndarray) -> np.ndarray:
        """Unpacking: stored words -> float32 data in the user's shape."""
        return self.dequantize(self.from_words(words))


@dataclass(frozen=True)
class DdrSegment:
    """Bytes the program expects in DDR before it runs (weights, biases, tables), from a word-aligned address."""

    channel: int
    address: int
    data: np.ndarray
    """int8 or uint8, one dimension."""


@dataclass(frozen=True)
class Executable:
    """A compiled program: instruction streams, DDR constants, and which tensors it reads and writes.

    ``inputs``/``outputs`` name TensorDescriptions (given alongside, as ``compile_`` returns them) that
    say where each tensor lies in DDR.  ``layers`` maps instruction index ranges to layer names for
    per-layer times only; no instruction names a layer.
    """

    hw: ModelParameters
    program: Program
    constants: tuple[DdrSegment, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    layers: tuple[LayerSpan, ...] = ()

    def check_memory_map(self, descriptions: Mapping[str, TensorDescription]) -> None:
        """Constants and tensors must be whole words, word aligned, inside their channel."""
        cwl = self.hw.tpu_parameters.cache_word_length
        for segment in self.constants:
            size = -(-np.asarray(segment.data).nbytes // cwl) * cwl  # the last word's tail reads as zeros
            _check_region(
                self.hw, f"constant segment at {segment.address:#x}", segment.channel, segment.address, size, cwl
            )
        for name in (*self.inputs, *self.outputs):
            if name not in descriptions:
                raise InputDataError(f"the program reads or writes tensor {name!r}, which has no TensorDescription")
            d = descriptions[name]
            if d.word_length != cwl:
                raise AlignmentError(f"tensor {name!r} is packed in {d.word_length}-byte words, not {cwl}-byte ones")
            _check_region(self.hw, f"tensor {name!r}", d.ddr_channel, d.ddr_address, d.nbytes, cwl)


def _check_region(hw: ModelParameters, what: str, channel: int, address: int, nbytes: int, cwl: int) -> None:
    if not 0 <= channel < hw.ddr.channels:
        raise DdrCapacityError(f"{what}: DDR channel {channel} does not exist ({hw.ddr.channels} channels)")
    if address % cwl or nbytes % cwl:
        raise AlignmentError(f"{what}: {nbytes} bytes at {address:#x} are not whole {cwl}-byte words, word aligned")
    if address < 0 or address + nbytes > hw.ddr.channel_size:
        raise DdrCapacityError(f"{what}: {nbytes} bytes at {address:#x} leave DDR{channel}")


def check_tensor_names(expected: Sequence[str], given: Iterable[str], what: str = "inputs") -> None:
    """``given`` must name exactly the tensors ``expected``; otherwise an InputDataError says what differs."""
    given = list(given)
    missing = [n for n in expected if n not in given]
    unknown = [n for n in given if n not in expected]
    if not (missing or unknown):
        return
    verb = "takes" if what == "inputs" else "gives"
    folded = {n.casefold(): n for n in missing}
    hints = [
        f"{name!r} looks like {folded[close[0]]!r}"
        for name in unknown
        if (close := difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6))
    ]
    raise InputDataError(
        f"{what} missing: {missing}, not {what} of the program: {unknown}; it {verb} {list(expected)}"
        + (f" ({'; '.join(hints)})" if hints else "")
    )
