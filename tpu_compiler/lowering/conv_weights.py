"""A convolution's weights as array tiles: the per-tap matrices, output tiles of chunks, and their placement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.errors import CompilationError
from pytpu.isa.layouts import pack_weight_tile, weight_tile_words
from tpu_compiler.compiler.context import Context
from tpu_compiler.compiler.memory import Arena
from tpu_compiler.network import Layer


@dataclass(frozen=True)
class Chunk:
    ky: int
    kx: int
    word: int
    off: int
    tile: np.ndarray  # K x M int8
    packed: bool = False  # rows read from the packed taps of kernel row ky (see _packed_taps), not the band


@dataclass
class OutTile:
    o0: int
    o1: int
    chunks: list[Chunk]
    params: np.ndarray  # output-stage block words
    addr: list[int]  # cache address of each chunk's weight tile (set when loaded)
    params_addr: int = -1

    def const_words(self, cwl: int) -> int:
        return sum(weight_tile_words(c.tile.shape[0], c.tile.shape[1], cwl) for c in self.chunks) + len(self.params)


def full_weights(layer: Layer, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per tap, the dense [C_in, C_out] matrix (block-diagonal for groups) and its structural mask."""
    weights = np.asarray(layer.arrays["weights"], dtype=np.int8)
    groups = int(layer.get("groups", 1))
    if layer.get("dense"):
        weights = weights.reshape(1, 1, *weights.shape[-2:])
    per_in, m = weights.shape[2], weights.shape[3]
    if groups == 1:
        return weights, np.ones((channels, m), dtype=bool)
    per_out = m // groups
    rows, cols = np.arange(channels), np.arange(m)
    mask = (rows // per_in)[:, None] == (cols // per_out)[None, :]
    expanded = weights[:, :, rows % per_in, :]
    return np.where(mask, expanded, 0).astype(np.int8), mask


def weight_groups(tiles: list[OutTile], cwl: int, budget: int, layer: str) -> list[list[OutTile]]:
    """Consecutive tiles whose constants fit ``budget`` words together, split at output-word boundaries."""
    groups: list[list[OutTile]] = []
    current: list[OutTile] = []
    used = 0
    for tile in tiles:
        words = tile.const_words(cwl)
        if words > budget:
            raise CompilationError(
                f"layer {layer!r} cannot be placed: the constants of output channels {tile.o0}..{tile.o1 - 1} "
                f"need {words} cache words ({words * cwl} bytes), more than the {budget} words available"
            )
        new_word = tile.o0 % cwl == 0
        if current and used + words > budget and new_word:
            groups.append(current)
            current, used = [], 0
        current.append(tile)
        used += words
    if current:
        groups.append(current)
    return groups


STREAM_PIECE = 4096
"""Most words of one place in the weight stream: a group's tiles and output-stage blocks go in pieces of
consecutive blocks up to this size, each where the stream is oldest."""
LOAD_WORDS = 256
"""Most words of one constant load: the lanes share a piece and the first GEMMs wait only for its start."""


def load_constants(ctx: Context, arena: Arena, group: list[OutTile]) -> None:
    """Load a weight group's tiles and output-stage blocks (into the weight stream, else the layer's arena) and
    set their addresses.  The group's tiles are all live until its last band.

    In the stream the constants go in pieces (``STREAM_PIECE``), each placed where the stream's words were
    last used longest ago: one place for the whole group would need that many contiguous words free, and so
    wait for the most recent of the layers that used them.  Each piece loads in ``LOAD_WORDS`` steps that the
    constant lanes take in turns."""
    # (tile, chunk index) of every block in load order; index -1: the tile's output-stage block
    blocks = [(tile, k) for tile in group for k in [*range(len(tile.chunks)), -1]]
    words = [tile.params if k < 0 else pack_weight_tile(tile.chunks[k].tile, ctx.cwl) for tile, k in blocks]
    pieces: list[list[int]] = []  # block indices: a tile each in the arena, up to STREAM_PIECE words in the stream
    size = 0
    for b, ((tile, _), w) in enumerate(zip(blocks, words, strict=True)):
        if ctx.ring is None:
            new = not pieces or blocks[pieces[-1][0]][0] is not tile
        else:
            new = not pieces or size + len(w) > STREAM_PIECE
        if new:
            pieces.append([])
            size = 0
        pieces[-1].append(b)
        size += len(w)
    data = [np.concatenate([words[i] for i in piece]) for piece in pieces]
    if ctx.ring is None:
        places = [
            arena.alloc(len(d), f"weights of output channels {blocks[p[0]][0].o0}..{blocks[p[0]][0].o1 - 1}")
            for p, d in zip(pieces, data, strict=True)
        ]
    else:
        places = _stream_places(ctx, [len(d) for d in data])
    for at, d in zip(places, data, strict=True):
        for w0 in range(0, len(d), LOAD_WORDS):
            ctx.load_constant_at(at + w0, d[w0 : w0 + LOAD_WORDS])
    for tile in group:
        tile.addr = [0] * len(tile.chunks)
    for piece, at in zip(pieces, places, strict=True):
        for i in piece:
            tile, k = blocks[i]
            if k < 0:
                tile.params_addr = at
            else:
                tile.addr[k] = at
            at += len(words[i])


def _stream_places(ctx: Context, sizes: list[int]) -> list[int]:
    """Places in the weight stream for pieces of ``sizes`` words: each its own, else one for all, in order."""
    places = ctx.stream_slots(sizes, "weights")
    if places is not None:
        return places
    first = ctx.stream_slot(sum(sizes), "weights")
    return [first + sum(sizes[:k]) for k in range(len(sizes))]
