"""User slicing schemes: per layer, the pieces of its output computed one after the other.

``slicing_scheme = {"conv1": ({TensorAxis.HEIGHT: Segment(0, 56)}, {TensorAxis.HEIGHT: Segment(56, 112)})}``
computes layer ``conv1`` in two bands of output rows.  Each slice maps axes of the layer's output (one
sample) to half-open segments; the slices of a layer must cover every axis they name exactly once, in
order.  A scheme the compiler cannot honour (unknown layer, gaps or overlaps, an axis the layer cannot be
sliced along, a slice too large for the cache) is a CompilationError naming the layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pytpu.errors import CompilationError


class TensorAxis(Enum):
    """An axis of an NHWC activation (rank-2 tensors have BATCH and CHANNELS)."""

    BATCH = 0
    HEIGHT = 1
    WIDTH = 2
    CHANNELS = 3


@dataclass(frozen=True)
class Segment:
    """The half-open range ``start <= i < stop`` of one axis."""

    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


SlicingScheme = Mapping[str, tuple[Mapping[TensorAxis, Segment], ...]]


def row_bands(
    scheme: SlicingScheme | None, layer: str, rows: int, sliceable: tuple[TensorAxis, ...]
) -> list[Segment] | None:
    """The user's row bands of ``layer`` (None when the scheme does not name it)."""
    if scheme is None or layer not in scheme:
        return None
    slices = scheme[layer]
    if not slices:
        raise CompilationError(f"slicing scheme of layer {layer!r} has no slices")
    for piece in slices:
        wrong = [axis.name for axis in piece if axis not in sliceable]
        if wrong:
            raise CompilationError(
                f"slicing scheme of layer {layer!r}: axes {wrong} cannot be sliced here "
                f"(this layer slices along {[a.name for a in sliceable]})"
            )
    bands = [piece.get(TensorAxis.HEIGHT, Segment(0, rows)) for piece in slices]
    at = 0
    for band in bands:
        if band.start != at or band.stop <= band.start or band.stop > rows:
            raise CompilationError(
                f"slicing scheme of layer {layer!r}: HEIGHT segments {[(b.start, b.stop) for b in bands]} "
                f"do not cover rows 0..{rows} exactly once, in order"
            )
        at = band.stop
    if at != rows:
        raise CompilationError(f"slicing scheme of layer {layer!r}: HEIGHT segments end at {at}, not {rows}")
    return bands


def check_names(scheme: SlicingScheme | None, layers: set[str]) -> None:
    unknown = sorted(set(scheme or {}) - layers)
    if unknown:
        raise CompilationError(f"slicing scheme names layers the network does not compute: {unknown}")
