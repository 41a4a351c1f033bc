"""Where a 2-D convolution's windows lie, as the convolution and the planar-stem lowerings both read it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tpu_compiler.network import Layer


@dataclass(frozen=True)
class ConvWindow:
    """Input ``h x w``, output ``oh x ow``, kernel ``kh x kw``, strides, dilations, top and left padding."""

    h: int
    w: int
    oh: int
    ow: int
    kh: int
    kw: int
    sy: int
    sx: int
    dy: int
    dx: int
    top: int
    left: int

    def in_rows(self, out_rows: int) -> int:
        """Input rows (padding included) that ``out_rows`` consecutive output rows read."""
        return (out_rows - 1) * self.sy + (self.kh - 1) * self.dy + 1


def window_fields(layer: Layer, in_shape: Sequence[int], out_shape: Sequence[int]) -> dict[str, Any]:
    """ConvWindow's fields of a convolution layer over NHWC shapes (keyword arguments)."""
    weights = layer.arrays["weights"]
    (sy, sx), (dy, dx) = layer.get("strides", [1, 1]), layer.get("dilations", [1, 1])
    top, _, left, _ = layer.get("pads", [0, 0, 0, 0])
    _, h, w, _ = (int(d) for d in in_shape)
    _, oh, ow, _ = (int(d) for d in out_shape)
    kh, kw = int(weights.shape[0]), int(weights.shape[1])
    return dict(
        h=h,
        w=w,
        oh=oh,
        ow=ow,
        kh=kh,
        kw=kw,
        sy=int(sy),
        sx=int(sx),
        dy=int(dy),
        dx=int(dx),
        top=int(top),
        left=int(left),
    )


def plain_1x1(layer: Layer) -> bool:
    """A 1x1 convolution of stride 1 without padding: each output pixel reads its own input pixel."""
    one = tuple(layer.arrays["weights"].shape[:2]) == (1, 1)
    return one and list(layer.get("strides", [1, 1])) == [1, 1] and not any(layer.get("pads", [0] * 4))


@dataclass(frozen=True)
class Geometry(ConvWindow):
    """A convolution's windows over the samples it computes, with its right padding (its rows are padded)."""

    samples: range
    right: int

    @property
    def padded_w(self) -> int:
        return self.w + self.left + self.right
