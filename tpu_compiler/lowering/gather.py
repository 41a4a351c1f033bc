"""Data movement from a gather map: which input byte every output byte copies, as MOVEs and FILLs.

A map gives, for each output element of one sample, ``(source << SOURCE_SHIFT) | element`` or ``-1``
(the fill code).  Consecutive output bytes of one word that copy consecutive bytes of one source word
form a run (sources at the same place, channel slices of one map, count as one); runs with the same byte
offsets and length are grouped and ``compress``ed into patterns, so a channel slice or a concatenation is a
handful of MOVEs and a spatial transpose one MOVE per run shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytpu.isa import Fill, Instruction, Move, Unit
from tpu_compiler.compiler.context import Context
from tpu_compiler.compiler.patterns import compress

SOURCE_SHIFT = 40


@dataclass(frozen=True)
class Side:
    """A tensor image in the cache: first word, channels per pixel, words per pixel."""

    at: int
    channels: int
    wpp: int
    lane: int = 0


def _element_words(index: np.ndarray, side: Side, cwl: int) -> tuple[np.ndarray, np.ndarray]:
    pixel, channel = np.divmod(index, side.channels)
    channel = channel + side.lane
    return side.at + pixel * side.wpp + channel // cwl, channel % cwl


def emit_gather(ctx: Context, mapping: np.ndarray, sources: Sequence[Side], out: Side, fill: int) -> None:
    """Emit the MOVEs and FILLs that build ``out`` from ``sources`` as ``mapping`` (one entry per output
    element) says."""
    for ins in gather_instructions(ctx.cwl, mapping, sources, out, fill):
        ctx.emit(Unit.EWP, ins)


def gather_instructions(
    cwl: int, mapping: np.ndarray, sources: Sequence[Side], out: Side, fill: int
) -> list[Instruction]:
    """The EWP's MOVEs and FILLs that build ``out`` from ``sources`` as ``mapping`` says."""
    instructions: list[Instruction] = []
    mapping = mapping.reshape(-1)
    is_fill = mapping < 0
    # Sources at the same place are one tensor (channel slices of one kept map): their runs may join.
    same = np.array([sources.index(side) for side in sources] or [0], dtype=np.int64)
    source = np.where(is_fill, -1, same[np.where(is_fill, 0, mapping >> SOURCE_SHIFT)])
    element = np.where(is_fill, 0, mapping & ((1 << SOURCE_SHIFT) - 1))
    dst_word, dst_byte = _element_words(np.arange(mapping.size, dtype=np.int64), out, cwl)
    src_word = np.full(mapping.size, -1, dtype=np.int64)
    src_byte = np.zeros(mapping.size, dtype=np.int64)
    for s, side in enumerate(sources):
        sel = source == s
        src_word[sel], src_byte[sel] = _element_words(element[sel], side, cwl)
    breaks = np.ones(mapping.size, dtype=bool)
    if mapping.size > 1:
        continues = (
            (dst_word[1:] == dst_word[:-1])
            & (source[1:] == source[:-1])
            & (is_fill[1:] | ((src_word[1:] == src_word[:-1]) & (src_byte[1:] == src_byte[:-1] + 1)))
        )
        breaks[1:] = ~continues
    starts = np.flatnonzero(breaks)
    lengths = np.diff(np.append(starts, mapping.size))
    keys = np.stack([source[starts], dst_byte[starts], src_byte[starts], lengths])
    order = np.lexsort(keys[::-1])
    keys, run_starts = keys[:, order], starts[order]
    cuts = np.flatnonzero(np.any(np.diff(keys, axis=1) != 0, axis=0)) + 1
    for group in np.split(np.arange(len(run_starts)), cuts):
        first = run_starts[group[0]]
        src_id, length = int(keys[0, group[0]]), int(keys[3, group[0]])
        dst = dst_word[run_starts[group]]
        if src_id < 0:
            for (pattern,) in compress([dst]):
                instructions.append(Fill(dst=pattern, value=fill, off=int(dst_byte[first]), len=length))
            continue
        src = src_word[run_starts[group]]
        for dst_pattern, src_pattern in compress([dst, src]):
            instructions.append(
                Move(
                    dst=dst_pattern,
                    src=src_pattern,
                    src_off=int(src_byte[first]),
                    dst_off=int(dst_byte[first]),
                    len=length,
                )
            )
    return instructions


def identity_words(mapping: np.ndarray, in_channels: int, out_channels: int, cwl: int) -> bool:
    """Whether the output's words are the input's words unchanged (a view: reshape, squeeze, identity)."""
    flat = mapping.reshape(-1)
    if flat.size == 0 or not np.array_equal(flat, np.arange(flat.size)):
        return False
    return in_channels == out_channels or (in_channels % cwl == 0 and out_channels % cwl == 0)
