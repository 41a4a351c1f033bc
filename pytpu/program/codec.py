"""Packing and unpacking at the program's edge, regular or raw (the manual's 9.2 terms).

Packing (scaling, casting, padding, Tensor2Words) and unpacking are :meth:`TensorDescription.pack` and
:meth:`TensorDescription.unpack`, the one implementation that ``model_execute`` uses too; this module
checks what the user hands over and converts between stored words and the raw form.

The raw form of a tensor is what lies in DDR: a ``(words, word_length)`` uint8 array (the manual's "flat
2d uint8 arrays"); raw inputs may also be given as bytes-like objects of the same size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pytpu.errors import InputDataError
from pytpu.executable import TensorDescription, check_tensor_names

RAW_DTYPE = "uint8"


def raw_description(d: TensorDescription) -> TensorDescription:
    """The description a raw program keeps: where the words lie and how many, nothing about packing."""
    return TensorDescription(
        d.name, (d.words, d.word_length), 1.0, 0, d.ddr_channel, d.ddr_address, d.word_length, (), RAW_DTYPE
    )


def pack_input(d: TensorDescription, data: Any) -> np.ndarray:
    """Float data (or int8 codes) in the user's shape -> stored words, after checking dtype and shape."""
    x = np.asarray(data)
    if x.dtype != np.int8 and x.dtype.kind != "f":
        raise InputDataError(f"tensor {d.name!r} takes {d.dtype} data (or int8 codes), got {x.dtype}")
    return d.pack(x)


def raw_words(d: TensorDescription, data: Any) -> np.ndarray:
    """Raw data (bytes-like, or a uint8/int8 array of the stored size) -> stored words."""
    if isinstance(data, bytes | bytearray | memoryview):
        flat = np.frombuffer(data, dtype=np.uint8)
    else:
        array = np.asarray(data)
        if array.dtype not in (np.uint8, np.int8):
            raise InputDataError(f"raw tensor {d.name!r} takes uint8 words or bytes, got {array.dtype}")
        flat = np.ascontiguousarray(array).reshape(-1)
    if flat.nbytes != d.nbytes:
        raise InputDataError(
            f"raw tensor {d.name!r} is {d.nbytes} bytes ({d.words} words of {d.word_length}), got {flat.nbytes}"
        )
    return flat.view(np.int8).reshape(d.words, d.word_length)


def words_to_raw(words: np.ndarray) -> np.ndarray:
    """Stored words -> the raw form, ``(words, word_length)`` uint8."""
    return np.ascontiguousarray(words).view(np.uint8)


def pack_inputs(
    descriptions: Mapping[str, TensorDescription], names: Sequence[str], data: Mapping[str, Any], *, raw: bool
) -> dict[str, np.ndarray]:
    """Every input of a program as stored words; missing, extra or misnamed tensors are an InputDataError."""
    if not isinstance(data, Mapping):
        raise InputDataError(f"inputs must be a mapping of tensor name to data, got {type(data).__name__}")
    check_tensor_names(names, data)
    pack = raw_words if raw else pack_input
    return {name: pack(descriptions[name], data[name]) for name in names}


def unpack_outputs(
    descriptions: Mapping[str, TensorDescription], words: Mapping[str, np.ndarray], *, raw: bool
) -> dict[str, np.ndarray]:
    """Stored words -> raw arrays, or float32 data in the user's shape."""
    if raw:
        return {name: words_to_raw(w) for name, w in words.items()}
    return {name: descriptions[name].unpack(w) for name, w in words.items()}


class RawCodec:
    """Packing and unpacking for a raw program, done on the host (``convert_to_raw`` returns one).

    ``encode`` turns float inputs into raw arrays (scaling, casting, padding, Tensor2Words); ``decode``
    turns raw outputs back into float32 tensors (Words2Tensor, unmasking, scaling).
    """

    def __init__(self, descriptions: Mapping[str, TensorDescription], inputs: Sequence[str], outputs: Sequence[str]):
        self.descriptions = {name: descriptions[name] for name in (*inputs, *outputs)}
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)

    def encode(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        words = pack_inputs(self.descriptions, self.inputs, inputs, raw=False)
        return {name: words_to_raw(w) for name, w in words.items()}

    def decode(self, outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(outputs, Mapping):
            raise InputDataError(f"outputs must be a mapping of tensor name to data, got {type(outputs).__name__}")
        check_tensor_names(self.outputs, outputs, "outputs")
        return {
            name: self.descriptions[name].unpack(raw_words(self.descriptions[name], outputs[name]))
            for name in self.outputs
        }
