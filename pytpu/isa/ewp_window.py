"""Windowed EWP instructions: max pool, average pool, and PACK (im2col).

They share one addressing mode, a 2-D window walk with bounds.  The source is a region of ``h x w``
pixels; pixel ``(y, x)`` is the word ``src + y*row + x*pix``.  Output ``(oy, ox)`` of an ``oh x ow`` grid
(walked row-major, its words given by ``dst``) sees taps ``(ky, kx)`` of a ``kh x kw`` window at

    y = oy*sy + ky*dy - py,    x = ox*sx + kx*dx - px

A tap outside ``0 <= y < h, 0 <= x < w`` is padding: it reads nothing (pools leave it out of the window,
PACK writes the fill code).  A compiler takes a sub-window of taps by shifting ``py``/``px`` and a channel
slice by moving ``src`` (word) and ``src_off`` (byte).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pytpu.isa.base import (
    Instruction,
    Problem,
    Space,
    Span,
    clamp_problems,
    counts_problems,
    lanes_problems,
    register,
)
from pytpu.isa.fields import Bound, Field, Limits, addr, cache, int8, lane_fields, requant_fields, sint, uint
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit

_EXTENT = 65535
_STEP = 255

WINDOW_FIELDS: tuple[Field, ...] = (
    addr("src", "word of source pixel (0, 0)"),
    uint("h", 1, _EXTENT, "source rows (taps at y outside 0..h-1 are padding)"),
    uint("w", 1, _EXTENT, "source columns (taps at x outside 0..w-1 are padding)"),
    sint(
        "row", Bound("cache_words", 1, negate=True), Bound("cache_words", -1), "words from one source row to the next"
    ),
    sint(
        "pix", Bound("cache_words", 1, negate=True), Bound("cache_words", -1), "words from one source pixel to the next"
    ),
    uint("oh", 1, _EXTENT, "output rows"),
    uint("ow", 1, _EXTENT, "output columns (dst walks oh*ow words)"),
    uint("sy", 1, _STEP, "vertical stride"),
    uint("sx", 1, _STEP, "horizontal stride"),
    sint("py", -_EXTENT, _EXTENT, "rows of padding above (source row of output 0, tap 0 is -py)"),
    sint("px", -_EXTENT, _EXTENT, "columns of padding on the left"),
    uint("kh", 1, _STEP, "window rows"),
    uint("kw", 1, _STEP, "window columns"),
    uint("dy", 1, _STEP, "vertical dilation"),
    uint("dx", 1, _STEP, "horizontal dilation"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Windowed(Instruction):
    """The window addressing mode shared by MAXPOOL, AVGPOOL and PACK."""

    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)

    dst: Pattern
    src: int
    h: int
    w: int
    row: int
    pix: int
    oh: int
    ow: int
    sy: int
    sx: int
    py: int
    px: int
    kh: int
    kw: int
    dy: int
    dx: int

    def region(self) -> Pattern:
        """The source region: every word a tap inside the bounds may read."""
        return Pattern(self.src, ((self.h, self.row), (self.w, self.pix)))

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        dlo, dhi = self.dst.span()
        slo, shi = self.region().span()
        return (Span(Space.CACHE, dlo, dhi, "dst"), Span(Space.CACHE, slo, shi, "source region"))

    def window_problems(self) -> list[Problem]:
        return counts_problems(self.oh * self.ow, dst=self.dst.count)

    def inside_taps(self) -> int:
        """How many (output, tap) pairs fall inside the source region: the words the instruction reads."""
        _, y_ok = _axis(self.oh, self.sy, self.kh, self.dy, self.py, self.h)
        _, x_ok = _axis(self.ow, self.sx, self.kw, self.dx, self.px, self.w)
        return int(y_ok.sum()) * int(x_ok.sum())

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """Source word of every (output, tap) pair, shape ``(oh*ow, kh*kw)``, and which of them are inside.

        Padding taps get the address ``src`` so that gathering them is harmless; callers mask them.
        """
        y, y_ok = _axis(self.oh, self.sy, self.kh, self.dy, self.py, self.h)
        x, x_ok = _axis(self.ow, self.sx, self.kw, self.dx, self.px, self.w)
        # (oh, 1, kh, 1) and (1, ow, 1, kw) broadcast to (oh, ow, kh, kw): outputs row-major, then taps.
        inside = y_ok[:, None, :, None] & x_ok[None, :, None, :]
        words = self.src + y[:, None, :, None] * self.row + x[None, :, None, :] * self.pix
        words = np.where(inside, words, self.src)
        n_out, n_taps = self.oh * self.ow, self.kh * self.kw
        return words.reshape(n_out, n_taps), inside.reshape(n_out, n_taps)


def _axis(n_out: int, stride: int, n_taps: int, dilation: int, pad: int, extent: int) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinate of every (output, tap) pair along one axis, and whether it lies inside."""
    coord = np.arange(n_out, dtype=np.int64)[:, None] * stride + np.arange(n_taps, dtype=np.int64) * dilation - pad
    return coord, (coord >= 0) & (coord < extent)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MaxPool(Windowed):
    """``dst[o] = max over the window's inside taps`` per lane (an all-padding window gives -128)."""

    MNEMONIC: ClassVar[str] = "MAXPOOL"
    OPCODE: ClassVar[int] = 0x14
    FIELDS: ClassVar[tuple[Field, ...]] = (cache("dst", "output words"), *WINDOW_FIELDS, *lane_fields())

    off: int
    len: int

    def constraints(self, lim: Limits) -> list[Problem]:
        return self.window_problems() + lanes_problems(self.off, self.len, lim)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class AvgPool(Windowed):
    """``dst[o] = requantize(sum over inside taps of (a - za), mult, shift, zo, lo, hi)`` per lane.

    Padding contributes nothing (as a tap holding ``za`` would); the divisor is folded into ``mult``/``shift``.
    """

    MNEMONIC: ClassVar[str] = "AVGPOOL"
    OPCODE: ClassVar[int] = 0x15
    FIELDS: ClassVar[tuple[Field, ...]] = (
        cache("dst", "output words"),
        *WINDOW_FIELDS,
        int8("za", "zero point of the source"),
        *requant_fields(),
        *lane_fields(),
    )

    za: int
    mult: int
    shift: int
    zo: int
    lo: int
    hi: int
    off: int
    len: int

    def constraints(self, lim: Limits) -> list[Problem]:
        return self.window_problems() + lanes_problems(self.off, self.len, lim) + clamp_problems(self.lo, self.hi)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Pack(Windowed):
    """im2col: tap ``t`` (row-major over the window) copies bytes ``src_off..src_off+len-1`` of its source word
    to bytes ``dst_off + t*len ..`` of the output word; padding taps write ``fill`` there.

    Bytes of the output word outside ``dst_off .. dst_off + kh*kw*len - 1`` are kept, so several PACKs can
    build one word (taps that do not form a rectangle, or channel groups).
    """

    MNEMONIC: ClassVar[str] = "PACK"
    OPCODE: ClassVar[int] = 0x16
    FIELDS: ClassVar[tuple[Field, ...]] = (
        cache("dst", "output words, one per output position"),
        uint("dst_off", 0, Bound("cwl", -1), "byte of the output word where tap 0 goes"),
        *WINDOW_FIELDS,
        uint("src_off", 0, Bound("cwl", -1), "first byte of each source word copied"),
        uint("len", 1, Bound("cwl"), "bytes copied per tap"),
        int8("fill", "code written for padding taps (the source's zero point)"),
    )

    dst_off: int
    src_off: int
    len: int
    fill: int

    def constraints(self, lim: Limits) -> list[Problem]:
        taps = self.kh * self.kw
        return (
            self.window_problems()
            + lanes_problems(self.src_off, self.len, lim, "source bytes")
            + lanes_problems(self.dst_off, taps * self.len, lim, f"{taps} taps x {self.len} bytes")
        )
